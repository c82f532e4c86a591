package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ext4relink/ext4relink/engine"
	"github.com/ext4relink/ext4relink/fixtures"
	"github.com/ext4relink/ext4relink/fixtures/demo"
	"github.com/ext4relink/ext4relink/internal/loopmnt"
	"github.com/ext4relink/ext4relink/internal/testfs"
	"github.com/spf13/pflag"
)

// demoCopy unpacks the bundled crash image (orphans 19 and 20, chain
// 20 -> 19) into a private file; it needs no root.
func demoCopy(t *testing.T) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "demo.img")
	if err := demo.WriteImage(p); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestDecimalOnly: numeric flags take decimal digits only, so a mistyped
// leading zero or a hex value never selects another inode; debugfs' <N>
// form is accepted; a flag that takes one value cannot be repeated.
func TestDecimalOnly(t *testing.T) {
	img := demoCopy(t)
	before := testfs.FileSHA256(t, img)
	for _, v := range []string{"023", "0x13", "0o23", "+19", "-19", "19.0", "1e1", "", "<>", "<023>", "4294967296", "19 "} {
		code, out, errs := runCLI("--dev", img, "--inode", v, "--name", "/x", "--dry-run")
		if code != exitUsage || !strings.Contains(errs, "--inode") || !strings.Contains(errs, v) {
			t.Errorf("--inode %q: exit %d, want %d naming the value; %q %q", v, code, exitUsage, out, errs)
		}
	}
	for _, v := range []string{"19", "<19>"} {
		code, out, errs := runCLI("--dev", img, "--inode", v, "--name", "/rescued", "--dry-run")
		if code != exitOK || !strings.Contains(out, "inode 19 ") {
			t.Errorf("--inode %q: exit %d; %q %q", v, code, out, errs)
		}
	}
	for _, args := range [][]string{
		{"--dev", img, "--inode", "19", "--inode", "20", "--name", "/x"},
		{"--dev", img, "--inode", "19", "--name", "/x", "--name", "/y"},
		{"--dev", img, "--dev", img, "list"},
		{"--dev", img, "--all", "--into", "/a", "--into", "/b"},
	} {
		code, _, errs := runCLI(args...)
		if code != exitUsage || !strings.Contains(errs, "more than once") {
			t.Errorf("%v: exit %d, want %d 'more than once'; %q", args, code, exitUsage, errs)
		}
	}
	if testfs.FileSHA256(t, img) != before {
		t.Fatal("a refused command line changed the image")
	}
}

// TestValueFlags keeps splitCommand's list of value-taking flags in step
// with every command's flag set.
func TestValueFlags(t *testing.T) {
	a := &app{stdout: &bytes.Buffer{}, stderr: &bytes.Buffer{}}
	a.list([]string{"--help"})
	a.journal([]string{"--help"})
	a.demo([]string{"--help"})
	a.relink([]string{"--help"})
	for _, fl := range a.flagSets {
		fl.VisitAll(func(f *pflag.Flag) {
			if f.Value.Type() != "bool" && !valueFlags[f.Name] {
				t.Errorf("flag --%s takes a value but is not in valueFlags", f.Name)
			}
		})
	}
}

// TestCommandAfterFlags: "ext4relink --dev X list" works like "list --dev X".
func TestCommandAfterFlags(t *testing.T) {
	img := demoCopy(t)
	for _, args := range [][]string{
		{"--dev", img, "list"},
		{"--dev=" + img, "list", "--json"},
		{"--json", "--dev", img, "journal"},
	} {
		code, out, errs := runCLI(args...)
		if code != exitOK || (!strings.Contains(out, "19") && !strings.Contains(out, "ransaction")) {
			t.Errorf("%v: exit %d; %q %q", args, code, out, errs)
		}
	}
}

// TestJSONErrors: with --json a refusal is one JSON object on stdout
// (error, exit_code, and the structure when a FormatError is behind it),
// and the text still goes to stderr.
func TestJSONErrors(t *testing.T) {
	img := demoCopy(t)
	check := func(args []string, code int, structure string) map[string]any {
		t.Helper()
		got, out, errs := runCLI(args...)
		var m map[string]any
		if err := json.Unmarshal([]byte(out), &m); err != nil {
			t.Fatalf("%v: stdout is not one JSON object: %v\n%s", args, err, out)
		}
		if got != code || m["exit_code"] != float64(code) || m["error"] == "" || !strings.Contains(errs, "ext4relink: ") {
			t.Fatalf("%v: exit %d (want %d); JSON %v; stderr %q", args, got, code, m, errs)
		}
		if structure != "" && m["structure"] != structure {
			t.Fatalf("%v: structure %v, want %q", args, m["structure"], structure)
		}
		return m
	}
	check([]string{"--json", "--dev", img, "--inode", "0x13", "--name", "/x"}, exitUsage, "")
	check([]string{"list", "--json"}, exitUsage, "")
	check([]string{"--dev", img, "--inode", "5", "--name", "/x", "--json"}, exitRequest, "")
	check([]string{"--dev", "/nonexistent", "list", "--json"}, exitDevice, "")

	// A destroyed superblock magic: the structure and where it is.
	f, err := os.OpenFile(img, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt([]byte{0, 0}, 1024+0x38); err != nil {
		t.Fatal(err)
	}
	f.Close()
	m := check([]string{"list", "--dev", img, "--json"}, exitCorrupt, "superblock")
	if _, ok := m["offset"].(float64); !ok {
		t.Fatalf("no offset in %v", m)
	}
}

// TestHonestNextSteps: after a partial relink the output names the
// orphans left, says that e2fsck -n reports them and why, and promises a
// silent e2fsck only when none is left; --json has "remaining". The claim
// about e2fsck -n is checked against e2fsck itself.
func TestHonestNextSteps(t *testing.T) {
	img := demoCopy(t)
	code, out, errs := runCLI("--dev", img, "--inode", "19", "--name", "/srv/db/orders.db")
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, errs)
	}
	for _, want := range []string{"1 inode(s) remain", "inode 20: file", "Deleted inode 20 has zero dtime", "are freed for", "Mount only when you want none of them"} {
		if !strings.Contains(out, want) {
			t.Errorf("partial relink output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "should report nothing") {
		t.Errorf("promises a silent e2fsck with an orphan left:\n%s", out)
	}
	if fout, code := testfs.E2fsck(t, img); code != 4 || !strings.Contains(fout, "Deleted inode 20 has zero dtime") {
		t.Errorf("e2fsck -fn after a partial relink: exit %d (the text says 4)\n%s", code, fout)
	}

	code, out, errs = runCLI("--dev", img, "--inode", "20", "--name", "/var/log/app.log", "--json")
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, errs)
	}
	var rep struct {
		Remaining []jsonRemainingOrphan `json:"remaining"`
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil || rep.Remaining == nil || len(rep.Remaining) != 0 {
		t.Fatalf("remaining %v (%v), want []:\n%s", rep.Remaining, err, out)
	}
	code, out, _ = runCLI("--dev", img, "--inode", "20", "--name", "/var/log/app.log")
	if code != exitOK || !strings.Contains(out, "should report nothing") || strings.Contains(out, "remain on") {
		t.Errorf("nothing left: exit %d\n%s", code, out)
	}
}

// TestPartialJSONRemaining: a dry run over one orphan lists the other in
// "remaining".
func TestPartialJSONRemaining(t *testing.T) {
	img := demoCopy(t)
	code, out, errs := runCLI("--dev", img, "--inode", "19", "--name", "/x", "--dry-run", "--json")
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, errs)
	}
	var rep struct {
		Remaining []jsonRemainingOrphan `json:"remaining"`
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil || len(rep.Remaining) != 1 || rep.Remaining[0].Inode != 20 || rep.Remaining[0].State != engine.StateDeletedOpen.String() {
		t.Fatalf("remaining %+v (%v)", rep.Remaining, err)
	}
}

// TestNoOpRun: a re-run that has nothing to write says so, and its JSON
// keeps meaningful fields and an empty blocks array.
func TestNoOpRun(t *testing.T) {
	img := demoCopy(t)
	args := []string{"--dev", img, "--inode", "19", "--name", "/srv/db/orders.db"}
	if code, _, errs := runCLI(args...); code != exitOK {
		t.Fatalf("exit %d: %s", code, errs)
	}
	before := testfs.FileSHA256(t, img)
	code, out, errs := runCLI(args...)
	if code != exitOK || !strings.Contains(out, "Nothing needed writing") || strings.Contains(out, "Wrote 0") {
		t.Fatalf("exit %d: %q %q", code, out, errs)
	}
	code, out, _ = runCLI(append(args, "--json")...)
	if code != exitOK {
		t.Fatal(code)
	}
	var rep struct {
		Relinked []map[string]any `json:"relinked"`
		Blocks   []any            `json:"blocks"`
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil || rep.Blocks == nil || len(rep.Blocks) != 0 || len(rep.Relinked) != 1 {
		t.Fatalf("%v:\n%s", err, out)
	}
	r := rep.Relinked[0]
	if r["parent"] == float64(0) || r["source"] != "linked" || r["already_done"] != true {
		t.Fatalf("no-op relink entry %v", r)
	}
	if testfs.FileSHA256(t, img) != before {
		t.Fatal("a no-op run changed the image")
	}
}

// TestNoOrphans: list and --all explain what usually leaves no orphans,
// and claim an earlier relink only when the directory entries show one.
func TestNoOrphans(t *testing.T) {
	fresh := filepath.Join(t.TempDir(), "fresh.img")
	if out, err := exec.Command("mke2fs", "-q", "-F", "-t", "ext4", fresh, "8M").CombinedOutput(); err != nil {
		t.Fatalf("mke2fs: %v\n%s", err, out)
	}
	for _, args := range [][]string{{"list", "--dev", fresh}, {"--dev", fresh, "--all", "--dry-run"}} {
		code, out, errs := runCLI(args...)
		if code != exitOK || !strings.Contains(out, "mounted since the crash") || !strings.Contains(out, "closed the file") || strings.Contains(out, "earlier run") {
			t.Errorf("%v: exit %d; %q %q", args, code, out, errs)
		}
	}
	img := demoCopy(t)
	if code, _, errs := runCLI("--dev", img, "--all"); code != exitOK {
		t.Fatalf("exit %d: %s", code, errs)
	}
	code, out, _ := runCLI("--dev", img, "--all")
	if code != exitOK || !strings.Contains(out, "2 inode(s) are already linked as #INODE") {
		t.Errorf("re-run of --all: exit %d\n%s", code, out)
	}
}

// TestTrailingSlashName: a --name ending in / is refused, not taken as a
// file name.
func TestTrailingSlashName(t *testing.T) {
	img := demoCopy(t)
	code, _, errs := runCLI("--dev", img, "--inode", "19", "--name", "/srv/db/")
	if code != exitUsage || !strings.Contains(errs, "ends in a slash") {
		t.Fatalf("exit %d: %s", code, errs)
	}
}

// TestMissingParentAdvice never suggests a mount, points at /lost+found,
// and explains that PATH is inside the filesystem when it looks like a
// host path.
func TestMissingParentAdvice(t *testing.T) {
	img := demoCopy(t)
	code, _, errs := runCLI("--dev", img, "--inode", "19", "--name", "/mnt/data/orders.db")
	if code != exitRequest {
		t.Fatalf("exit %d: %s", code, errs)
	}
	for _, want := range []string{"/lost+found", "inside the filesystem", "Do not mount"} {
		if !strings.Contains(errs, want) {
			t.Errorf("message lacks %q: %s", want, errs)
		}
	}
	if strings.Contains(errs, "mount later") {
		t.Errorf("advises a mount: %s", errs)
	}
}

// TestDemoDir: a missing --dir is a usage error, an existing demo.img is
// never overwritten (exit 3), and neither is "a bug" (exit 1).
func TestDemoDir(t *testing.T) {
	code, _, errs := runCLI("demo", "--dir", filepath.Join(t.TempDir(), "missing"))
	if code != exitUsage {
		t.Errorf("missing dir: exit %d: %s", code, errs)
	}
	d := t.TempDir()
	os.WriteFile(filepath.Join(d, "demo.img"), []byte("keep me"), 0o644)
	code, _, errs = runCLI("demo", "--dir", d)
	if b, _ := os.ReadFile(filepath.Join(d, "demo.img")); code != exitDevice || string(b) != "keep me" {
		t.Errorf("existing demo.img: exit %d: %s", code, errs)
	}
}

// TestLocalTimes: list prints times in local time with the zone's offset.
func TestLocalTimes(t *testing.T) {
	old := time.Local
	time.Local = time.FixedZone("IST", 5*3600+1800)
	defer func() { time.Local = old }()
	img := demoCopy(t)
	_, out, _ := runCLI("list", "--dev", img)
	if !regexp.MustCompile(`\d{4}-\d\d-\d\d \d\d:\d\d:\d\d \+0530`).MatchString(out) {
		t.Fatalf("no local time with offset:\n%s", out)
	}
}

// TestReadOnlyDevice: a read-only block device is refused before anything
// is written, naming the cause and the way out, with exit 3; list and
// --dry-run still work on it.
func TestReadOnlyDevice(t *testing.T) {
	img := demoCopy(t)
	before := testfs.FileSHA256(t, img)
	for _, how := range []string{"losetup -r", "blockdev --setro"} {
		var loop string
		if how == "losetup -r" {
			loop = loopmnt.Attach(t, img, true)
		} else {
			loop = loopmnt.Attach(t, img, false)
			if out, err := exec.Command("blockdev", "--setro", loop).CombinedOutput(); err != nil {
				t.Fatalf("blockdev --setro: %v %s", err, out)
			}
		}
		code, _, errs := runCLI("--dev", loop, "--inode", "19", "--name", "/rescued")
		if code != exitDevice || !strings.Contains(errs, "read-only") || !strings.Contains(errs, "blockdev --setrw") || strings.Contains(errs, "run the same command again") {
			t.Errorf("%s: exit %d: %s", how, code, errs)
		}
		if code, out, errs := runCLI("--dev", loop, "--inode", "19", "--name", "/rescued", "--dry-run"); code != exitOK {
			t.Errorf("%s: --dry-run exit %d: %s %s", how, code, out, errs)
		}
		// The read-only flag set by blockdev outlives the detach: clear it
		// so that the next image on this loop device is writable.
		exec.Command("blockdev", "--setrw", loop).Run()
		exec.Command("losetup", "-d", loop).Run()
	}
	if testfs.FileSHA256(t, img) != before {
		t.Fatal("the image changed")
	}
}

// TestNonRootMessage: without root, opening a block device says that
// root is needed.
func TestNonRootMessage(t *testing.T) {
	dir, err := os.MkdirTemp("", "ext4relink-nonroot-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	os.Chmod(dir, 0o755)
	bin := filepath.Join(dir, "ext4relink")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	loop := loopmnt.Attach(t, demoCopy(t), true)
	os.Chmod(loop, 0o660)
	cmd := exec.Command(bin, "list", "--dev", loop)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	out, _ := cmd.CombinedOutput()
	if cmd.ProcessState == nil || cmd.ProcessState.ExitCode() != exitDevice || !strings.Contains(string(out), "must run as root") {
		t.Fatalf("exit %v: %s", cmd.ProcessState, out)
	}
}

// TestREADMEDemoExcerpt keeps the README's excerpt of the demo's output
// true: every output line it quotes is printed by the demo.
func TestREADMEDemoExcerpt(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	text := string(readme)
	start := strings.Index(text, "ext4relink on the same image")
	if start < 0 {
		t.Fatal("README has no demo excerpt")
	}
	block := text[start:]
	block = block[strings.Index(block, "```text")+len("```text"):]
	block = block[:strings.Index(block, "```")]
	dir := t.TempDir()
	code, out, errs := runCLI("demo", "--dir", dir)
	if code != exitOK {
		t.Fatalf("demo: exit %d: %s", code, errs)
	}
	if !strings.Contains(out, "inode 19 was /srv/db/orders.db") {
		t.Error("the demo names the files without their leading slash")
	}
	out = strings.ReplaceAll(out, dir+"/", "")
	checked := 0
	for _, line := range strings.Split(block, "\n") {
		if line == "" || line == "..." || strings.HasPrefix(line, "$ ") || strings.HasSuffix(line, "...") {
			continue
		}
		checked++
		if !strings.Contains(out, line) {
			t.Errorf("the README quotes a line the demo does not print:\n%s", line)
		}
	}
	if checked < 8 {
		t.Fatalf("only %d lines checked", checked)
	}
}

// TestFsckForecast: after relinking one orphan from the middle of a long
// chain (and from an orphan file), every e2fsck message the output
// forecasts is one e2fsck -fn really prints, with the exit code it says.
func TestFsckForecast(t *testing.T) {
	for _, name := range []string{"ext4-4k-sync", "ext3", "ext4-orphanfile"} {
		t.Run(name, func(t *testing.T) {
			img := fixtures.Get(t, name)
			p := img.Copy(t)
			_, out, _ := runCLI("list", "--dev", p, "--json")
			var listed []struct {
				Inode int    `json:"inode"`
				State string `json:"state"`
			}
			if err := json.Unmarshal([]byte(out), &listed); err != nil || len(listed) < 3 {
				t.Fatalf("%v: %d orphans", err, len(listed))
			}
			mid := listed[len(listed)/2].Inode
			code, out, errs := runCLI("--dev", p, "--inode", fmt.Sprint(mid), "--name", "/rescued")
			if code != exitOK {
				t.Fatalf("exit %d: %s", code, errs)
			}
			var forecast []string
			for _, l := range strings.Split(out, "\n") {
				if strings.HasPrefix(l, `  "`) {
					forecast = append(forecast, strings.Trim(strings.TrimSpace(l), `"`))
				}
			}
			if len(forecast) == 0 || !strings.Contains(out, "with exit 4") {
				t.Fatalf("no forecast:\n%s", out)
			}
			fsck, fcode := testfs.E2fsck(t, p)
			if fcode != 4 {
				t.Errorf("e2fsck -fn exit %d, forecast 4", fcode)
			}
			for _, f := range forecast {
				if !strings.Contains(fsck, f) {
					t.Errorf("forecast %q, but e2fsck -fn says:\n%s", f, fsck)
				}
			}
			said := regexp.MustCompile(`(Deleted inode \d+ has zero dtime|Inode \d+ was part of the orphaned inode list)`).FindAllString(fsck, -1)
			for _, l := range said {
				if !slices.Contains(forecast, l) {
					t.Errorf("e2fsck -fn says %q, which the output did not forecast:\n%s", l, out)
				}
			}
		})
	}
}

// TestReviewedEdges: an empty value is never taken as "no such flag" (an
// unset $UNDO must not silently drop the undo file), inode 0 and '//' in
// a name are usage errors, demo refuses --dev and --json, and a no-op dry
// run says that nothing would be written.
func TestReviewedEdges(t *testing.T) {
	img := demoCopy(t)
	before := testfs.FileSHA256(t, img)
	for _, args := range [][]string{
		{"--dev", img, "--all", "--undo", ""},
		{"--dev", img, "--all", "--into", ""},
		{"--dev", "", "list"},
		{"--dev", img, "--inode", "0", "--name", "/x"},
		{"--dev", img, "--inode", "<0>", "--name", "/x"},
		{"--dev", img, "--all", "--inode", "0"},
		{"--dev", img, "--inode", "19", "--name", "/srv//db/x"},
		{"demo", "--dev", img},
		{"demo", "--json"},
		{"list", "--dev", img, "--partition", "<2>"},
	} {
		if code, _, errs := runCLI(args...); code != exitUsage {
			t.Errorf("%q: exit %d, want %d: %s", args, code, exitUsage, errs)
		}
	}
	if testfs.FileSHA256(t, img) != before {
		t.Fatal("a refused command line changed the image")
	}
	if code, _, errs := runCLI("--dev", img, "--all"); code != exitOK {
		t.Fatalf("exit %d: %s", code, errs)
	}
	code, out, _ := runCLI("--dev", img, "--all", "--dry-run")
	if code != exitOK || !strings.Contains(out, "nothing would be written") || strings.Contains(out, "these 0 blocks") || strings.Contains(out, "Next:") {
		t.Fatalf("no-op dry run: exit %d\n%s", code, out)
	}
}
