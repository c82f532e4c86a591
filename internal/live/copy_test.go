package live

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ext4relink/ext4relink/internal/loopmnt"
	"golang.org/x/sys/unix"
)

// These tests hold a deleted file with `sleep`, given the file as its
// descriptor 3, on a fresh ext4 filesystem on a loop device.

func newExt4(t *testing.T, sizeMiB int) string {
	t.Helper()
	img := filepath.Join(t.TempDir(), "fs.img")
	if err := os.WriteFile(img, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	os.Truncate(img, int64(sizeMiB)<<20)
	if out, err := exec.Command("mkfs.ext4", "-q", "-F", "-m", "0", img).CombinedOutput(); err != nil {
		t.Fatalf("mkfs.ext4: %v\n%s", err, out)
	}
	return loopmnt.Must(t, img, "").Dir
}

// sleeper holds a deleted file of size bytes (data everywhere) as fd 3.
func sleeper(t *testing.T, dir string, size int) Source {
	t.Helper()
	p := filepath.Join(dir, "held")
	b := make([]byte, size)
	for i := range b {
		b[i] = byte(i * 7)
	}
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("sleep", "600")
	cmd.ExtraFiles = []*os.File{f}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	f.Close()
	os.Remove(p)
	t.Cleanup(func() {
		unix.Kill(cmd.Process.Pid, unix.SIGCONT)
		cmd.Process.Kill()
		cmd.Wait()
	})
	return Source{PID: cmd.Process.Pid, FD: 3}
}

func state(t *testing.T, pid int) byte {
	t.Helper()
	st, ok := ParseStat(readFile(fmt.Sprintf("/proc/%d/stat", pid)))
	if !ok {
		t.Fatalf("process %d has gone", pid)
	}
	return st.State
}

func leftovers(t *testing.T, dir string) {
	t.Helper()
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		if strings.Contains(e.Name(), "ext4relink") || e.Name() == "out" {
			t.Errorf("%s left in the output directory", e.Name())
		}
	}
}

// TestCopyInterrupted: SIGINT in the middle of a --freeze copy resumes the
// holder, stops the copy and removes the partial output.
func TestCopyInterrupted(t *testing.T) {
	src := sleeper(t, newExt4(t, 32), 8<<20)
	outDir := newExt4(t, 32)
	var frozen byte
	testHook = func(copied int64) {
		if copied == chunk {
			frozen = state(t, src.PID)
			unix.Kill(os.Getpid(), unix.SIGINT)
			time.Sleep(200 * time.Millisecond) // the handler runs meanwhile
		}
	}
	defer func() { testHook = nil }()
	_, err := Copy(src, CopyOptions{Out: filepath.Join(outDir, "out"), Freeze: true})
	if !errors.Is(err, ErrInterrupted) || !strings.Contains(err.Error(), "interrupt") {
		t.Fatalf("Copy: %v, want interrupted", err)
	}
	if frozen != 'T' {
		t.Errorf("the holder ran during the --freeze copy (state %c)", frozen)
	}
	if s := state(t, src.PID); s == 'T' {
		t.Error("the holder was left stopped after SIGINT")
	}
	leftovers(t, outDir)
}

// TestCopyPanic: a panic in the middle of a --freeze copy still resumes
// the holder and removes the partial output.
func TestCopyPanic(t *testing.T) {
	src := sleeper(t, newExt4(t, 32), 4<<20)
	outDir := newExt4(t, 32)
	testHook = func(int64) { panic("boom") }
	defer func() { testHook = nil }()
	func() {
		defer func() {
			if r := recover(); r != "boom" {
				t.Errorf("recovered %v", r)
			}
		}()
		Copy(src, CopyOptions{Out: filepath.Join(outDir, "out"), Freeze: true})
	}()
	if s := state(t, src.PID); s == 'T' {
		t.Error("the holder was left stopped after a panic")
	}
	leftovers(t, outDir)
}

// TestFreezeAlreadyStopped: a holder stopped before (job control) is left
// stopped; PID 1 and ext4relink itself are never frozen.
func TestFreezeAlreadyStopped(t *testing.T) {
	src := sleeper(t, newExt4(t, 32), 1<<20)
	outDir := newExt4(t, 32)
	unix.Kill(src.PID, unix.SIGSTOP)
	for i := 0; i < 500 && state(t, src.PID) != 'T'; i++ {
		time.Sleep(2 * time.Millisecond)
	}
	res, err := Copy(src, CopyOptions{Out: filepath.Join(outDir, "copy"), Freeze: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Frozen) != 0 || len(res.AlreadyStopped) != 1 || state(t, src.PID) != 'T' {
		t.Errorf("frozen %v, already stopped %v, state %c: want it left stopped", res.Frozen, res.AlreadyStopped, state(t, src.PID))
	}
	unix.Kill(src.PID, unix.SIGCONT)
	var f Freezer
	for _, pid := range []int{1, os.Getpid()} {
		if err := f.Stop(pid); !errors.Is(err, ErrFreeze) {
			t.Errorf("Stop(%d): %v", pid, err)
		}
	}
}

// TestCopyOutputAppears: an output made by someone else while the copy
// runs is not replaced (without --force), and the partial copy goes.
func TestCopyOutputAppears(t *testing.T) {
	src := sleeper(t, newExt4(t, 32), 2<<20)
	outDir := newExt4(t, 32)
	out := filepath.Join(outDir, "theirs")
	testHook = func(int64) { os.WriteFile(out, []byte("theirs"), 0o600) }
	defer func() { testHook = nil }()
	_, err := Copy(src, CopyOptions{Out: out})
	if !errors.Is(err, ErrOutputExists) {
		t.Fatalf("Copy: %v, want the output refused", err)
	}
	if b, _ := os.ReadFile(out); string(b) != "theirs" {
		t.Errorf("the file that appeared was replaced: %q", b)
	}
	os.Remove(out)
	leftovers(t, outDir)
}
