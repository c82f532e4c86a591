package journal_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ext4relink/ext4relink/fixtures"
	"github.com/ext4relink/ext4relink/internal/testfs"
	"github.com/ext4relink/ext4relink/journal"
	"github.com/ext4relink/ext4relink/super"
)

// image is an opened filesystem image with its journal inode mapped by
// debugfs (an independent reader): journal block i lives in jmap[i].
type image struct {
	path    string
	f       *os.File
	sb      *super.Superblock
	jmap    []uint64
	nblocks uint64
}

const journalIno = 8

func openImage(t testing.TB, path string) *image {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	sb := testfs.Superblock(t, path)
	stat := testfs.Stat(t, path, journalIno)
	im := &image{path: path, f: f, sb: sb, jmap: logicalBlocks(t, stat)}
	size := testfs.StatField(t, stat, "Size")
	im.nblocks = size / uint64(sb.BlockSize())
	return im
}

func (im *image) bmap(jblk uint64) (uint64, error) {
	if jblk >= uint64(len(im.jmap)) {
		return 0, fmt.Errorf("journal block %d is not mapped", jblk)
	}
	return im.jmap[jblk], nil
}

func (im *image) load(t testing.TB) *journal.Journal {
	t.Helper()
	j, err := journal.Load(im.f, im.sb.BlockSize(), im.bmap, im.nblocks)
	if err != nil {
		t.Fatalf("%s: Load: %v", im.path, err)
	}
	j.InodeSize = uint32(im.sb.InodeSizeBytes())
	return j
}

// block reads filesystem block b of the image.
func (im *image) block(t testing.TB, b uint64) []byte {
	t.Helper()
	return testfs.Block(t, im.path, im.sb, b)
}

func (im *image) isJournal(b uint64) bool {
	for _, x := range im.jmap {
		if x == b {
			return true
		}
	}
	return false
}

// logdumpSummary extracts "Found expected sequence N, type T ... at block B" lines.
func logdumpSummary(t testing.TB, img string) []string {
	var out []string
	for _, l := range strings.Split(testfs.Debugfs(t, img, "logdump"), "\n") {
		if strings.HasPrefix(l, "Found expected sequence") {
			out = append(out, l)
		}
	}
	return out
}

// logicalBlocks maps logical to physical blocks of a journal inode from
// debugfs stat, which must have no hole. (testfs.Blocks lists `debugfs
// blocks`, which includes indirect blocks of indirect-mapped inodes such as
// an ext3 journal, so it cannot be used.)
func logicalBlocks(t testing.TB, stat string) []uint64 {
	t.Helper()
	runs, ok := testfs.StatRuns(stat)
	if !ok {
		t.Fatalf("no BLOCKS in debugfs stat:\n%s", stat)
	}
	var out []uint64
	for _, r := range runs {
		if r.Logical != uint64(len(out)) {
			t.Fatalf("journal inode has a hole at logical block %d", len(out))
		}
		for k := range r.Len {
			out = append(out, r.Physical+k)
		}
	}
	return out
}

func writeAt(t testing.TB, path string, off int64, b []byte) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteAt(b, off); err != nil {
		t.Fatal(err)
	}
}

// copyImage makes a private sparse copy of an image file.
func copyImage(t testing.TB, src string) string {
	t.Helper()
	dst := filepath.Join(t.TempDir(), filepath.Base(src))
	if err := fixtures.CopySparse(src, dst); err != nil {
		t.Fatal(err)
	}
	return dst
}

// jr replays the journal of an image file with debugfs (no orphan
// processing) and returns its output; debugfs reports errors on stdout or
// stderr without failing.
func jr(t testing.TB, path string) string {
	t.Helper()
	out, err := exec.Command("debugfs", "-w", "-R", "jr", path).CombinedOutput()
	if err != nil {
		t.Fatalf("debugfs jr: %v\n%s", err, out)
	}
	return string(out)
}
