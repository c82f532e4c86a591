package inode

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/ext4relink/ext4relink/internal/loopmnt"

	"github.com/ext4relink/ext4relink/internal/testfs"
	"github.com/ext4relink/ext4relink/super"
)

// rw is a writable fixture copy for tests that change the filesystem and
// let e2fsck judge the result.
type rw struct {
	*fx
	w *os.File
}

// loadRW gives a writable, replayed copy of a fixture on which e2fsck -fy
// has already processed the orphan list, so that e2fsck -fn finds it clean
// before the test changes anything.
func loadRW(t *testing.T, name string) *rw {
	t.Helper()
	x := load(t, name)
	if out, err := exec.Command("e2fsck", "-fy", x.path).CombinedOutput(); err != nil {
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() > 1 {
			t.Fatalf("e2fsck -fy: %v\n%s", err, out)
		}
	}
	x.sb = testfs.Superblock(t, x.path)
	x.fs = NewFS(x.sb)
	w, err := os.OpenFile(x.path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close() })
	return &rw{fx: x, w: w}
}

func (r *rw) writeBlock(t *testing.T, blk uint64, b []byte) {
	t.Helper()
	if len(b) != int(r.fs.BlockSize) {
		t.Fatalf("writing %d bytes as block %d", len(b), blk)
	}
	if _, err := r.w.WriteAt(b, int64(blk)*int64(r.fs.BlockSize)); err != nil {
		t.Fatal(err)
	}
}

// writeInode stores the inode (checksum refreshed) where debugfs says it lives.
func (r *rw) writeInode(t *testing.T, ino uint64, in *Inode) {
	t.Helper()
	in.SetChecksum(r.sb, uint32(ino))
	blk, off := testfs.Imap(t, r.path, ino)
	if _, err := r.w.WriteAt(in.Encode(), int64(blk)*int64(r.fs.BlockSize)+int64(off)); err != nil {
		t.Fatal(err)
	}
}

// freeBlocks asks debugfs for n free blocks at or after goal.
func (r *rw) freeBlocks(t *testing.T, n int, goal uint64) []uint64 {
	t.Helper()
	out := testfs.Debugfs(t, r.path, fmt.Sprintf("ffb %d %d", n, goal))
	var blks []uint64
	for _, f := range strings.Fields(strings.TrimPrefix(strings.TrimSpace(out), "Free blocks found:")) {
		v, err := strconv.ParseUint(f, 10, 64)
		if err != nil {
			t.Fatalf("ffb: %q", out)
		}
		blks = append(blks, v)
	}
	if len(blks) != n {
		t.Fatalf("ffb found %d of %d blocks", len(blks), n)
	}
	return blks
}

// markUsed marks blocks in use in the bitmaps and fixes the free counters
// of their groups and of the superblock, through debugfs.
func (r *rw) markUsed(t *testing.T, blks []uint64) {
	t.Helper()
	r.w.Sync()
	r.sb = testfs.Superblock(t, r.path)
	perGroup := map[uint64]uint64{}
	var script strings.Builder
	for _, b := range blks {
		fmt.Fprintf(&script, "setb %d\n", b)
		perGroup[(b-uint64(r.sb.FirstDataBlock))/uint64(r.sb.BlocksPerGroup)]++
	}
	for g, n := range perGroup {
		blk, off := r.sb.DescLocation(g)
		raw := testfs.Block(t, r.path, r.sb, blk)
		gd, err := super.DecodeGroupDesc(raw[off : off+r.sb.DescSizeBytes()])
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&script, "set_bg %d free_blocks_count %d\n", g, uint64(gd.FreeBlocksCount())-n)
	}
	fmt.Fprintf(&script, "ssv free_blocks_count %d\n", r.sb.FreeBlocksCount()-uint64(len(blks)))
	f := filepath.Join(t.TempDir(), "cmds")
	if err := os.WriteFile(f, []byte(script.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("debugfs", "-w", "-f", f, r.path).CombinedOutput(); err != nil {
		t.Fatalf("debugfs: %v\n%s", err, out)
	}
}

// fsck runs e2fsck -fn and fails the test unless it finds nothing.
func (r *rw) fsck(t *testing.T) {
	t.Helper()
	r.w.Sync()
	testfs.E2fsckClean(t, r.path)
}

// emptyDirBlock is a directory block holding one unused entry, with the
// checksum tail (struct ext4_dir_entry_tail) under metadata_csum.
func emptyDirBlock(bs uint32, csum bool, seed uint32) []byte {
	b := make([]byte, bs)
	if !csum {
		binary.LittleEndian.PutUint16(b[4:], uint16(bs))
		return b
	}
	binary.LittleEndian.PutUint16(b[4:], uint16(bs-12))
	tail := b[bs-12:]
	binary.LittleEndian.PutUint16(tail[4:], 12)
	tail[7] = 0xDE
	binary.LittleEndian.PutUint32(tail[8:], super.Crc32c(seed, b[:bs-12]))
	return b
}

// kernelReadDir mounts the image read-only and lists a directory, so the
// kernel itself walks the block map and checks every block's checksum.
func (r *rw) kernelReadDir(t *testing.T, dir string) []string {
	t.Helper()
	r.w.Sync()
	m := loopmnt.Must(t, r.path, "ro")
	defer func() {
		if err := m.Unmount(); err != nil {
			t.Error(err)
		}
	}()
	mnt := m.Dir
	ents, err := os.ReadDir(filepath.Join(mnt, dir))
	if err != nil {
		t.Fatalf("kernel readdir %s: %v", dir, err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	return names
}
