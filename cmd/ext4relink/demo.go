package main

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"

	"github.com/ext4relink/ext4relink/engine"
	"github.com/ext4relink/ext4relink/fixtures/demo"
	"github.com/ext4relink/ext4relink/fixtures/manifest"
)

// demo unpacks the bundled crash image and runs the main job on it.
func (a *app) demo(args []string) int {
	fl := a.flags("demo")
	dir := fl.String("dir", "", "directory for the demo image (default: a new temporary directory)")
	if code, ok := a.parse(fl, args, false); !ok {
		return code
	}
	if a.dev != "" || a.json {
		return a.usageErr("demo works on its own bundled image and prints text: it takes no --dev or --json (for your device: ext4relink list --dev DEV)")
	}
	if a.partition != "" || a.offset != "" {
		return a.usageErr("demo works on its own image; --partition and --offset do not apply")
	}
	if *dir == "" {
		d, err := os.MkdirTemp("", "ext4relink-demo-")
		if err != nil {
			return a.fail(err)
		}
		*dir = d
	}
	img := filepath.Join(*dir, "demo.img")
	if code := a.checkDemoDir(*dir, img); code != 0 {
		return code
	}
	if err := demo.WriteImage(img); err != nil {
		return a.fail(fmt.Errorf("%w: unpacking the demo image: %v", engine.ErrDevice, err))
	}
	m, err := demo.Manifest()
	if err != nil {
		return a.fail(err)
	}
	fmt.Fprintf(a.stdout, "Demo image: %s\n%s.\n", img, m.Doc)
	for _, o := range m.Orphans {
		fmt.Fprintf(a.stdout, "  inode %d was /%s (%d bytes, sha256 %.16s...)\n", o.Inode, o.Path, o.Size, o.SHA256)
	}
	fmt.Fprintf(a.stdout, "\n$ ext4relink list --dev %s\n", img)
	if code := a.list([]string{"--dev", img}); code != exitOK {
		return code
	}
	// The names come from the filesystem itself (older journal copies of
	// the directory blocks), not from the manifest: checkDemoFiles then
	// reads each file back at its manifest path.
	relinkArgs := []string{"--dev", img, "--all", "--original"}
	for _, dry := range []bool{true, false} {
		run := relinkArgs
		if dry {
			run = append(slices.Clone(relinkArgs), "--dry-run")
		}
		fmt.Fprintf(a.stdout, "\n$ ext4relink %s\n", strings.Join(run, " "))
		if code := a.relink(run); code != exitOK {
			return code
		}
	}
	ok := a.fsck(img)
	return a.checkDemoFiles(img, m, ok)
}

// checkDemoDir refuses a --dir that does not exist (exit 2: the command
// line names it) or that already holds a demo.img (exit 3: never
// overwritten).
func (a *app) checkDemoDir(dir, img string) int {
	st, err := os.Stat(dir)
	switch {
	case err != nil:
		return a.usageErr("--dir %s: %v; give an existing directory (or leave --dir out for a new temporary one)", dir, err)
	case !st.IsDir():
		return a.usageErr("--dir %s is not a directory", dir)
	}
	if _, err := os.Lstat(img); err == nil {
		return a.fail(fmt.Errorf("%w: %s already exists and is never overwritten; remove it or choose another --dir", engine.ErrDevice, img))
	}
	return 0
}

// checkDemoFiles reads each relinked file back through ext4relink's own
// reader and compares its sha256 with the manifest.
func (a *app) checkDemoFiles(img string, m *manifest.Manifest, fsckOK bool) int {
	fsOp, err := engine.OpenFS(img, engine.Options{Mode: engine.ReadOnly})
	if err != nil {
		return a.fail(err)
	}
	fs, dev := fsOp.FS, fsOp.Dev
	defer dev.Close()
	fmt.Fprintln(a.stdout)
	bad := !fsckOK
	for _, o := range m.Orphans {
		data, err := fs.ReadPath(o.Path)
		if err != nil {
			return a.fail(err)
		}
		sum := sha256.Sum256(data)
		got := hex.EncodeToString(sum[:])
		verdict := "intact"
		if got != o.SHA256 {
			verdict, bad = "DIFFERS from the original", true
		}
		fmt.Fprintf(a.stdout, "/%s: %d bytes, sha256 %.16s... %s\n", o.Path, len(data), got, verdict)
	}
	if bad {
		return exitVerify
	}
	fmt.Fprintf(a.stdout, "\nBoth files are back with their original content. Mount it to see: mount -o loop %s /mnt\n", img)
	return exitOK
}

// fsck runs e2fsck -fn (read-only) when it is installed and reports
// whether it found nothing to fix.
func (a *app) fsck(img string) bool {
	path, err := exec.LookPath("e2fsck")
	if err != nil {
		fmt.Fprintln(a.stdout, "\n(e2fsck is not installed; skipping the independent check)")
		return true
	}
	out, err := exec.Command(path, "-fn", img).CombinedOutput()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	}
	fmt.Fprintf(a.stdout, "\n$ e2fsck -fn %s   (exit %d)\n%s", img, code, out)
	return code == 0
}
