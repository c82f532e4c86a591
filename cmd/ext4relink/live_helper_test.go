package main

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/ext4relink/ext4relink/internal/live"
	"github.com/ext4relink/ext4relink/internal/loopmnt"
	"github.com/ext4relink/ext4relink/internal/testfs"
	"golang.org/x/sys/unix"
)

// The live tests start their own holders: this test binary, re-executed
// with EXT4RELINK_LIVE_HELPER set, runs one of the modes below instead of
// the tests.

const helperEnv = "EXT4RELINK_LIVE_HELPER"

// TestLiveHelperProcess is not a test: it is the holder process.
func TestLiveHelperProcess(t *testing.T) {
	mode := os.Getenv(helperEnv)
	if mode == "" {
		return
	}
	os.Exit(liveHelper(mode, os.Getenv("EXT4RELINK_LIVE_FILE")))
}

// writerBlock is the unit the writer helper writes.
const writerBlock = 4096

func liveHelper(mode, path string) int {
	if mode == "cli" {
		args := strings.Split(os.Getenv("EXT4RELINK_LIVE_ARGS"), "\n")
		return run(args, os.Stdout, os.Stderr)
	}
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		fmt.Println("error:", err)
		return 1
	}
	fd := int(f.Fd())
	if mode == "mmap" {
		st, _ := f.Stat()
		if _, err := unix.Mmap(fd, 0, int(st.Size()), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED); err != nil {
			fmt.Println("error:", err)
			return 1
		}
		f.Close()
		fd = -1
	}
	if err := os.Remove(path); err != nil {
		fmt.Println("error:", err)
		return 1
	}
	fmt.Printf("ready %d\n", fd)
	if mode != "writer" {
		io.Copy(io.Discard, os.Stdin)
		runtime.KeepAlive(f) // its finalizer would close the descriptor
		return 0
	}
	go func() {
		io.Copy(io.Discard, os.Stdin)
		os.Exit(0)
	}()
	// Block c%n gets the counter c (n = the file's blocks; the parent
	// wrote 0..n-1), so a snapshot at one instant holds n consecutive
	// counters, each in its own block.
	st, _ := f.Stat()
	n := uint64(st.Size() / writerBlock)
	buf := make([]byte, writerBlock)
	for c := n; ; c++ {
		fillCounter(buf, c)
		if _, err := f.WriteAt(buf, int64(c%n)*writerBlock); err != nil {
			return 1
		}
	}
}

func fillCounter(b []byte, c uint64) {
	for i := 0; i+8 <= len(b); i += 8 {
		binary.LittleEndian.PutUint64(b[i:], c)
	}
}

// holder is a running helper process that holds a deleted file.
type holder struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	pid   int
	fd    int // the descriptor it holds the file on (-1 for mmap)
}

// startHolder runs the helper in mode on path (which it deletes) and waits
// until it holds it. It is ended at test cleanup, and resumed first should
// a failed test leave it stopped.
func startHolder(t *testing.T, mode, path string) *holder {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestLiveHelperProcess$")
	cmd.Env = append(os.Environ(), helperEnv+"="+mode, "EXT4RELINK_LIVE_FILE="+path)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	h := &holder{cmd: cmd, stdin: stdin, pid: cmd.Process.Pid}
	t.Cleanup(func() {
		unix.Kill(h.pid, unix.SIGCONT)
		stdin.Close()
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			cmd.Process.Kill()
			<-done
		}
	})
	line := make(chan string, 1)
	go func() {
		l, _ := bufio.NewReader(out).ReadString('\n')
		line <- l
	}()
	select {
	case l := <-line:
		if _, err := fmt.Sscanf(l, "ready %d", &h.fd); err != nil {
			t.Fatalf("helper %s: %q", mode, l)
		}
	case <-time.After(20 * time.Second):
		t.Fatalf("helper %s did not start", mode)
	}
	return h
}

// src is the /proc path of what h holds.
func (h *holder) src() string     { return fmt.Sprintf("/proc/%d/fd/%d", h.pid, h.fd) }
func (h *holder) copyArg() string { return fmt.Sprintf("%d:%d", h.pid, h.fd) }

// state is the process state letter from /proc/PID/stat.
func (h *holder) state(t *testing.T) byte {
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/stat", h.pid))
	st, ok := live.ParseStat(b)
	if !ok {
		t.Fatalf("process %d has gone", h.pid)
	}
	return st.State
}

// newExt4 makes a fresh ext4 filesystem of sizeMiB on its own loop device
// and mounts it; both go at test cleanup.
func newExt4(t *testing.T, sizeMiB int) *loopmnt.Mounted {
	t.Helper()
	img := filepath.Join(t.TempDir(), "fs.img")
	if err := os.WriteFile(img, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(img, int64(sizeMiB)<<20); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("mkfs.ext4", "-q", "-F", "-b", "4096", "-m", "0", "-E", "lazy_itable_init=0,lazy_journal_init=0", img).CombinedOutput(); err != nil {
		t.Fatalf("mkfs.ext4: %v\n%s", err, out)
	}
	return loopmnt.Must(t, img, "")
}

// backingFile is the image behind loop device dev.
func backingFile(t *testing.T, dev string) string {
	t.Helper()
	b, err := os.ReadFile("/sys/block/" + filepath.Base(dev) + "/loop/backing_file")
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

// region is data to write at an offset of a test file.
type region struct {
	off int64
	n   int
}

// writeSparse creates path with random data in regions and size bytes in
// all (the rest holes), flushes it, and returns the content's sha256, its
// inode and its allocated sectors.
func writeSparse(t *testing.T, path string, size int64, regions ...region) (sum string, ino uint64, blocks int64) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	content := make([]byte, size)
	rng := rand.New(rand.NewPCG(uint64(size), 7))
	for _, r := range regions {
		for i := range r.n {
			content[r.off+int64(i)] = byte(rng.Uint32())
		}
		if _, err := f.WriteAt(content[r.off:r.off+int64(r.n)], r.off); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.Truncate(size); err != nil {
		t.Fatal(err)
	}
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
	var st unix.Stat_t
	unix.Fstat(int(f.Fd()), &st)
	return testfs.SHA256(content), st.Ino, st.Blocks
}

func statOf(t *testing.T, p string) unix.Stat_t {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Stat(p, &st); err != nil {
		t.Fatal(err)
	}
	return st
}

// noTemps fails when a partial copy was left in dir.
func noTemps(t *testing.T, dir string) {
	t.Helper()
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		if strings.Contains(e.Name(), ".ext4relink-") {
			t.Errorf("partial copy %s left behind", e.Name())
		}
	}
}

// consistent checks a writer snapshot: n consecutive counters, block b
// holding the one congruent to b.
func consistent(b []byte) error {
	n := uint64(len(b) / writerBlock)
	var vals []uint64
	var top uint64
	for i := uint64(0); i < n; i++ {
		blk := b[i*writerBlock : (i+1)*writerBlock]
		v := binary.LittleEndian.Uint64(blk)
		want := make([]byte, writerBlock)
		fillCounter(want, v)
		if !bytes.Equal(blk, want) {
			return fmt.Errorf("block %d is torn", i)
		}
		if v%n != i {
			return fmt.Errorf("block %d holds counter %d", i, v)
		}
		vals = append(vals, v)
		top = max(top, v)
	}
	for i, v := range vals {
		if v+n <= top {
			return fmt.Errorf("block %d holds %d, but %d was already written: not one instant", i, v, top)
		}
	}
	return nil
}
