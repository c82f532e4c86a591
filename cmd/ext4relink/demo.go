package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"

	"github.com/ext4relink/ext4relink/fixtures/demo"
)

// demo unpacks the bundled crash image and runs the main job on it.
func (a *app) demo(args []string) int {
	fl := a.flags("demo")
	dir := fl.String("dir", "", "directory for the demo image (default: a new temporary directory)")
	if code, ok := a.parse(fl, args, false); !ok {
		return code
	}
	if *dir == "" {
		d, err := os.MkdirTemp("", "ext4relink-demo-")
		if err != nil {
			return a.fail(err)
		}
		*dir = d
	}
	img := filepath.Join(*dir, "demo.img")
	if err := demo.WriteImage(img); err != nil {
		return a.fail(fmt.Errorf("unpacking the demo image: %w", err))
	}
	m, err := demo.Manifest()
	if err != nil {
		return a.fail(err)
	}
	fmt.Fprintf(a.stdout, "Demo image: %s\n%s.\n", img, m.Doc)
	for _, o := range m.Orphans {
		fmt.Fprintf(a.stdout, "  inode %d was %s (%d bytes, sha256 %.16s...)\n", o.Inode, o.Path, o.Size, o.SHA256)
	}
	fmt.Fprintf(a.stdout, "\n$ ext4relink list --dev %s\n", img)
	if code := a.list([]string{"--dev", img}); code != exitOK {
		return code
	}
	a.fsck(img)
	return exitOK
}

// fsck runs e2fsck -fn on a copy-free read-only basis when it is installed.
func (a *app) fsck(img string) {
	path, err := exec.LookPath("e2fsck")
	if err != nil {
		fmt.Fprintln(a.stdout, "\n(e2fsck is not installed; skipping the independent check)")
		return
	}
	out, err := exec.Command(path, "-fn", img).CombinedOutput()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	}
	fmt.Fprintf(a.stdout, "\n$ e2fsck -fn %s   (exit %d)\n%s", img, code, out)
}
