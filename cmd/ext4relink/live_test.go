package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ext4relink/ext4relink/internal/loopmnt"
	"github.com/ext4relink/ext4relink/internal/testfs"
	"golang.org/x/sys/unix"
)

type liveJSONHolder struct {
	Kind    string `json:"kind"`
	PID     int    `json:"pid"`
	Command string `json:"command"`
	FD      *int   `json:"fd"`
	Map     string `json:"map"`
	Loop    string `json:"loop"`
	Copy    string `json:"copy"`
}

type liveJSONFile struct {
	Major      uint32           `json:"major"`
	Minor      uint32           `json:"minor"`
	Device     string           `json:"device"`
	MountPoint string           `json:"mount_point"`
	FSType     string           `json:"fstype"`
	Inode      uint64           `json:"inode"`
	Size       int64            `json:"size"`
	Blocks     int64            `json:"blocks"`
	Path       string           `json:"path"`
	FSPath     string           `json:"fs_path"`
	Rescue     string           `json:"rescue_command"`
	Holders    []liveJSONHolder `json:"holders"`
}

type copyJSON struct {
	Source       string `json:"source"`
	Inode        uint64 `json:"inode"`
	Out          string `json:"out"`
	Size         int64  `json:"size"`
	Blocks       int64  `json:"blocks"`
	SourceBlocks int64  `json:"source_blocks"`
	SHA256       string `json:"sha256"`
	Verified     bool   `json:"verified"`
	Frozen       []int  `json:"frozen"`
	SameFS       bool   `json:"same_filesystem"`
	Error        string `json:"error"`
	ExitCode     int    `json:"exit_code"`
}

// liveList runs 'live --json' and returns the files by inode on dev.
func liveList(t *testing.T, loop string) map[uint64]liveJSONFile {
	t.Helper()
	code, out, errs := runCLI("live", "--json")
	if code != exitOK {
		t.Fatalf("live --json: exit %d\n%s", code, errs)
	}
	var r struct {
		Files    []liveJSONFile `json:"files"`
		Possible []string       `json:"what_is_possible"`
	}
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("live --json: %v\n%s", err, out)
	}
	if !strings.Contains(strings.Join(r.Possible, " "), "linkat") {
		t.Errorf("--json does not say what is possible: %v", r.Possible)
	}
	got := map[uint64]liveJSONFile{}
	for _, f := range r.Files {
		if f.Device == loop {
			got[f.Inode] = f
		}
	}
	return got
}

func liveCopyJSON(t *testing.T, wantCode int, args ...string) copyJSON {
	t.Helper()
	code, out, errs := runCLI(append([]string{"live", "--json"}, args...)...)
	var c copyJSON
	if err := json.Unmarshal([]byte(out), &c); err != nil {
		t.Fatalf("%v: stdout is not one JSON object: %v\n%s\n%s", args, err, out, errs)
	}
	if code != wantCode || (wantCode != exitOK && c.ExitCode != wantCode) {
		t.Fatalf("%v: exit %d (JSON %d), want %d\n%s%s", args, code, c.ExitCode, wantCode, out, errs)
	}
	return c
}

// TestLiveListAndCopy: a descriptor and a mapping of deleted files on a
// real ext4 loop mount are listed with the right inode, size, names and
// rescue command, and copied out with the same sha256 and the holes kept.
func TestLiveListAndCopy(t *testing.T) {
	a, b := newExt4(t, 64), newExt4(t, 64)
	os.Mkdir(filepath.Join(a.Dir, "db"), 0o755)
	heldPath := filepath.Join(a.Dir, "db", "orders.db")
	heldSum, heldIno, heldBlocks := writeSparse(t, heldPath, 16<<20, region{0, 1 << 20}, region{8 << 20, 2 << 20}, region{12<<20 + 100, 5000})
	mapPath := filepath.Join(a.Dir, "mapped.bin")
	mapSum, mapIno, _ := writeSparse(t, mapPath, 300000, region{0, 300000})
	held := startHolder(t, "hold", heldPath)
	mapped := startHolder(t, "mmap", mapPath)
	before := statOf(t, held.src())

	files := liveList(t, a.Loop)
	f, ok := files[heldIno]
	if !ok {
		t.Fatalf("inode %d not listed: %+v", heldIno, files)
	}
	img := backingFile(t, a.Loop)
	wantRescue := fmt.Sprintf("ext4relink --dev %s --inode %d --name /db/orders.db", img, heldIno)
	if f.Size != 16<<20 || f.Blocks != heldBlocks || f.Path != heldPath || f.FSPath != "/db/orders.db" ||
		f.MountPoint != a.Dir || f.FSType != "ext4" || f.Rescue != wantRescue {
		t.Errorf("held file listed as %+v; want size %d, blocks %d, rescue %q", f, 16<<20, heldBlocks, wantRescue)
	}
	if len(f.Holders) != 1 || f.Holders[0].Kind != "fd" || f.Holders[0].PID != held.pid || f.Holders[0].FD == nil ||
		*f.Holders[0].FD != held.fd || f.Holders[0].Copy != held.copyArg() || f.Holders[0].Command == "" {
		t.Errorf("holders %+v, want pid %d fd %d", f.Holders, held.pid, held.fd)
	}
	m, ok := files[mapIno]
	if !ok || m.Size != 300000 || m.FSPath != "/mapped.bin" || len(m.Holders) != 1 || m.Holders[0].Kind != "map" || m.Holders[0].PID != mapped.pid {
		t.Fatalf("mapped file listed as %+v", m)
	}

	code, text, errs := runCLI("live")
	if code != exitOK || !strings.Contains(text, wantRescue) || !strings.Contains(text, "--copy "+held.copyArg()) ||
		!strings.Contains(text, "ENOENT") || !strings.Contains(text, "kernel module") {
		t.Errorf("live: exit %d\n%s%s", code, text, errs)
	}

	out := filepath.Join(b.Dir, "orders.db")
	c := liveCopyJSON(t, exitOK, "--copy", held.copyArg(), "--out", out)
	got := statOf(t, out)
	if c.SHA256 != heldSum || testfs.FileSHA256(t, out) != heldSum || !c.Verified || got.Size != 16<<20 {
		t.Errorf("copy: %+v, file sha256 %s, want %s", c, testfs.FileSHA256(t, out), heldSum)
	}
	if got.Blocks != heldBlocks || c.Blocks != heldBlocks || c.SourceBlocks != heldBlocks {
		t.Errorf("holes not kept: the copy has %d sectors allocated (JSON %d), the held file %d", got.Blocks, c.Blocks, heldBlocks)
	}
	mout := filepath.Join(b.Dir, "mapped.bin")
	mc := liveCopyJSON(t, exitOK, "--copy", m.Holders[0].Copy, "--out", mout)
	if mc.SHA256 != mapSum || testfs.FileSHA256(t, mout) != mapSum {
		t.Errorf("mapped copy sha256 %s, want %s", mc.SHA256, mapSum)
	}

	all := filepath.Join(b.Dir, "all")
	// --pid: only these holders' files (the machine may hold others).
	code, outAll, errs := runCLI("live", "--all", "--out", all, "--pid", fmt.Sprintf("%d,%d", held.pid, mapped.pid))
	if code != exitOK {
		t.Fatalf("live --all: exit %d\n%s%s", code, outAll, errs)
	}
	base := filepath.Base(a.Loop)
	for name, sum := range map[string]string{fmt.Sprintf("%s-%d-orders.db", base, heldIno): heldSum, fmt.Sprintf("%s-%d-mapped.bin", base, mapIno): mapSum} {
		if s := testfs.FileSHA256(t, filepath.Join(all, name)); s != sum {
			t.Errorf("--all: %s has sha256 %s, want %s", name, s, sum)
		}
	}
	if ents, _ := os.ReadDir(all); len(ents) != 2 {
		t.Errorf("--all --pid copied %d files, want 2", len(ents))
	}
	noTemps(t, b.Dir)
	sourceUntouched(t, held, before, heldSum)

	code, text, _ = runCLI("live", "--pid", fmt.Sprint(mapped.pid))
	if code != exitOK || strings.Contains(text, "orders.db") || !strings.Contains(text, "mapped.bin") {
		t.Errorf("live --pid %d: exit %d\n%s", mapped.pid, code, text)
	}
	rescueWorks(t, img, a.Dir, map[string]string{f.Rescue: heldSum, m.Rescue: mapSum})
}

// rescueWorks: the rescue commands live printed bring the files back on
// the image as a crash would leave it (copied after syncfs while the
// holders still hold them, journal recovery pending): e2fsck -fn is clean
// and the kernel reads them back with their sha256.
func rescueWorks(t *testing.T, img, mnt string, rescue map[string]string) {
	t.Helper()
	testfs.Syncfs(t, mnt)
	crash := filepath.Join(t.TempDir(), "crash.img")
	if out, err := exec.Command("cp", "--sparse=always", img, crash).CombinedOutput(); err != nil {
		t.Fatalf("cp: %v\n%s", err, out)
	}
	names := map[string]string{}
	for cmd, sum := range rescue {
		args := strings.Fields(cmd)
		if len(args) != 7 || args[0] != "ext4relink" || args[2] != img {
			t.Fatalf("rescue command %q", cmd)
		}
		args[2] = crash
		if code, out, errs := runCLI(args[1:]...); code != exitOK {
			t.Fatalf("%s: exit %d\n%s%s", cmd, code, out, errs)
		}
		names[args[6]] = sum
	}
	testfs.E2fsckClean(t, crash)
	m := loopmnt.Must(t, crash, "ro")
	for name, sum := range names {
		if got := testfs.FileSHA256(t, filepath.Join(m.Dir, name)); got != sum {
			t.Errorf("%s after the rescue command: sha256 %s, want %s", name, got, sum)
		}
	}
}

// sourceUntouched: the held file still reads the same and nothing of its
// inode changed.
func sourceUntouched(t *testing.T, h *holder, before unix.Stat_t, sum string) {
	t.Helper()
	after := statOf(t, h.src())
	// The access time too: the copy reads with O_NOATIME.
	if after.Size != before.Size || after.Blocks != before.Blocks || after.Mtim != before.Mtim || after.Ctim != before.Ctim ||
		after.Atim != before.Atim || after.Nlink != 0 {
		t.Errorf("the held file changed: before %+v, after %+v", before, after)
	}
	if s := testfs.FileSHA256(t, h.src()); s != sum {
		t.Errorf("the held file reads with sha256 %s, want %s", s, sum)
	}
}

// TestLiveLinkatENOENT checks what live tells users: a deleted file cannot
// be linked back through /proc/PID/fd.
func TestLiveLinkatENOENT(t *testing.T) {
	a := newExt4(t, 16)
	p := filepath.Join(a.Dir, "f")
	writeSparse(t, p, 4096, region{0, 4096})
	h := startHolder(t, "hold", p)
	err := unix.Linkat(unix.AT_FDCWD, h.src(), unix.AT_FDCWD, filepath.Join(a.Dir, "back"), unix.AT_SYMLINK_FOLLOW)
	if !errors.Is(err, unix.ENOENT) {
		t.Errorf("linkat of a deleted file: %v, the manual says ENOENT", err)
	}
}

// TestLiveFreeze: a writer keeps writing while --freeze copies; the copy
// is one instant's state, and the writer runs again afterwards, also when
// the copy fails on a full output disk.
func TestLiveFreeze(t *testing.T) {
	a, b, tiny := newExt4(t, 64), newExt4(t, 64), newExt4(t, 4)
	p := filepath.Join(a.Dir, "vm.img")
	const n = 4096 // blocks: 16 MiB
	buf := make([]byte, n*writerBlock)
	for i := range n {
		fillCounter(buf[i*writerBlock:(i+1)*writerBlock], uint64(i))
	}
	if err := os.WriteFile(p, buf, 0o600); err != nil {
		t.Fatal(err)
	}
	w := startHolder(t, "writer", p)
	// A second holder of the same file: --freeze stops it too.
	second := exec.Command("sleep", "600")
	shared, err := os.Open(w.src())
	if err != nil {
		t.Fatal(err)
	}
	second.ExtraFiles = []*os.File{shared}
	if err := second.Start(); err != nil {
		t.Fatal(err)
	}
	shared.Close()
	defer func() { second.Process.Kill(); second.Wait() }()
	out := filepath.Join(b.Dir, "vm.img")
	c := liveCopyJSON(t, exitOK, "--copy", w.copyArg(), "--out", out, "--freeze")
	if len(c.Frozen) != 2 || c.Frozen[0] != w.pid || c.Frozen[1] != second.Process.Pid {
		t.Errorf("frozen %v, want [%d %d]", c.Frozen, w.pid, second.Process.Pid)
	}
	if st := (&holder{pid: second.Process.Pid}).state(t); st == 'T' {
		t.Error("the second holder was left stopped")
	}
	copied, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if err := consistent(copied); err != nil {
		t.Errorf("the frozen copy is not a snapshot: %v", err)
	}
	if testfs.SHA256(copied) != c.SHA256 {
		t.Errorf("sha256 printed %s, file %s", c.SHA256, testfs.SHA256(copied))
	}
	writerRuns(t, w)

	// Without --freeze, the copy of a file being written warns that it may
	// mix old and new data.
	warned := false
	for i := 0; i < 5 && !warned; i++ {
		o := filepath.Join(b.Dir, fmt.Sprintf("unfrozen%d", i))
		code, _, errs := runCLI("live", "--copy", w.copyArg(), "--out", o)
		if code != exitOK {
			t.Fatalf("copy without --freeze: exit %d\n%s", code, errs)
		}
		warned = strings.Contains(errs, "changed while it was copied") && strings.Contains(errs, "--freeze")
		os.Remove(o)
	}
	if !warned {
		t.Error("copies of a file being written never warned that it changed")
	}

	// A full output disk: exit 10, nothing left there, writer resumed.
	full := filepath.Join(tiny.Dir, "vm.img")
	c = liveCopyJSON(t, exitOutput, "--copy", w.copyArg(), "--out", full, "--freeze")
	if !strings.Contains(c.Error, "full") || !strings.Contains(c.Error, "removed") {
		t.Errorf("full disk message: %q", c.Error)
	}
	if _, err := os.Lstat(full); err == nil {
		t.Error("the output exists after a failed copy")
	}
	noTemps(t, tiny.Dir)
	writerRuns(t, w)
}

// writerRuns: the writer is not stopped and its file keeps changing.
func writerRuns(t *testing.T, w *holder) {
	t.Helper()
	if s := w.state(t); s == 'T' || s == 't' {
		t.Fatalf("the writer was left stopped (state %c)", s)
	}
	first := testfs.FileSHA256(t, w.src())
	for i := 0; i < 100; i++ {
		time.Sleep(20 * time.Millisecond)
		if testfs.FileSHA256(t, w.src()) != first {
			return
		}
	}
	t.Error("the writer does not write any more after the copy")
}

// TestLiveLoop: a loop device whose backing file was deleted is listed and
// copied through the device; an output on the filesystem inside that very
// device is refused.
func TestLiveLoop(t *testing.T) {
	a, b := newExt4(t, 64), newExt4(t, 64)
	p := filepath.Join(a.Dir, "disk.img")
	if err := os.WriteFile(p, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	os.Truncate(p, 16<<20)
	if out, err := exec.Command("mkfs.ext4", "-q", "-F", "-b", "4096", p).CombinedOutput(); err != nil {
		t.Fatalf("mkfs.ext4: %v\n%s", err, out)
	}
	sum, ino := testfs.FileSHA256(t, p), statOf(t, p).Ino
	loop := loopmnt.Attach(t, p, false)
	if err := os.Remove(p); err != nil {
		t.Fatal(err)
	}
	f, ok := liveList(t, a.Loop)[ino]
	if !ok || f.Path != p || f.FSPath != "/disk.img" || len(f.Holders) != 1 || f.Holders[0].Kind != "loop" || f.Holders[0].Loop != loop {
		t.Fatalf("loop-held file listed as %+v", f)
	}
	arg := "loop:" + filepath.Base(loop)
	if f.Holders[0].Copy != arg {
		t.Errorf("copy argument %q, want %q", f.Holders[0].Copy, arg)
	}
	out := filepath.Join(b.Dir, "disk.img")
	c := liveCopyJSON(t, exitOK, "--copy", loop, "--out", out)
	if c.SHA256 != sum || testfs.FileSHA256(t, out) != sum {
		t.Errorf("loop copy sha256 %s, want %s", c.SHA256, sum)
	}
	if st := statOf(t, out); st.Blocks*512 >= st.Size {
		t.Errorf("the zeros of the loop device were written out: %d sectors for %d bytes", st.Blocks, st.Size)
	}
	liveCopyJSON(t, exitRequest, "--copy", arg, "--out", filepath.Join(b.Dir, "x"), "--freeze")

	inner := loopmnt.MountDev(t, loop, "")
	c = liveCopyJSON(t, exitRequest, "--copy", arg, "--out", filepath.Join(inner.Dir, "copy"))
	if !strings.Contains(c.Error, "very device being copied") {
		t.Errorf("output inside the loop device: %q", c.Error)
	}
	// Mounted read-write: the copy is made, with a warning.
	code, _, errs := runCLI("live", "--copy", arg, "--out", filepath.Join(b.Dir, "mounted.img"))
	if code != exitOK || !strings.Contains(errs, "mounted read-write at "+inner.Dir) {
		t.Errorf("copy of a mounted loop device: exit %d, %s", code, errs)
	}
	inner.Unmount()
}
