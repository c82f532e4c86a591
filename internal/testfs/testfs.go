// Package testfs gives tests raw access to fixture images and asks debugfs,
// an independent implementation, where things are. Codec tests read real
// on-disk bytes at the places debugfs names and check their decoders
// against debugfs' own view.
package testfs

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/ext4relink/ext4relink/fixtures"
	"github.com/ext4relink/ext4relink/super"
)

// Debugfs runs `debugfs [-w] -R cmd img` and returns its standard output.
func Debugfs(t testing.TB, img, cmd string, write ...bool) string {
	t.Helper()
	args := []string{"-R", cmd, img}
	if len(write) > 0 && write[0] {
		args = append([]string{"-w"}, args...)
	}
	out, err := exec.Command("debugfs", args...).Output()
	if err != nil {
		t.Fatalf("debugfs -R %q %s: %v", cmd, img, err)
	}
	return string(out)
}

// Replayed returns a private copy of the image with its journal replayed by
// debugfs (jr replays without reaping orphans). -n skips debugfs' checksum
// checks at open: on a crash image the on-disk bitmaps may still be older
// than the checksums the journal will restore, and debugfs -w would refuse.
func Replayed(t testing.TB, img *fixtures.Image) string {
	t.Helper()
	p := img.Copy(t)
	if out, err := exec.Command("debugfs", "-w", "-n", "-R", "jr", p).CombinedOutput(); err != nil {
		t.Fatalf("debugfs jr: %v\n%s", err, out)
	}
	return p
}

// NoJournal returns a journal-less copy of the fixture: its journal
// replayed by debugfs (which keeps the orphans), then removed by tune2fs,
// as on a filesystem whose journal was dropped after the crash (ext4
// itself keeps no orphan list without a journal). The orphans stay listed
// and the manifest still describes them.
func NoJournal(t testing.TB, img *fixtures.Image) *fixtures.Image {
	t.Helper()
	p := Replayed(t, img)
	if out, err := exec.Command("tune2fs", "-O", "^has_journal", p).CombinedOutput(); err != nil {
		t.Fatalf("tune2fs -O ^has_journal: %v\n%s", err, out)
	}
	nj := *img
	nj.Name, nj.Path = img.Name+"-nojournal", p
	return &nj
}

// ReadAt reads n bytes at byte offset off of the image file.
func ReadAt(t testing.TB, img string, off int64, n int) []byte {
	t.Helper()
	f, err := os.Open(img)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b := make([]byte, n)
	if _, err := f.ReadAt(b, off); err != nil {
		t.Fatalf("read %s at %d: %v", img, off, err)
	}
	return b
}

// Superblock decodes the primary superblock of the image file.
func Superblock(t testing.TB, img string) *super.Superblock {
	t.Helper()
	sb, err := super.Decode(ReadAt(t, img, super.Offset, super.Size))
	if err != nil {
		t.Fatal(err)
	}
	return sb
}

// Block reads filesystem block blk.
func Block(t testing.TB, img string, sb *super.Superblock, blk uint64) []byte {
	t.Helper()
	bs := sb.BlockSize()
	return ReadAt(t, img, int64(blk)*int64(bs), int(bs))
}

var imapRE = regexp.MustCompile(`located at block (\d+), offset (0x[0-9a-f]+)`)

// Imap asks debugfs where inode ino lives: block and byte offset inside it.
func Imap(t testing.TB, img string, ino uint64) (blk uint64, off int) {
	t.Helper()
	out := Debugfs(t, img, fmt.Sprintf("imap <%d>", ino))
	m := imapRE.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("debugfs imap <%d>: %q", ino, out)
	}
	blk, _ = strconv.ParseUint(m[1], 10, 64)
	o, _ := strconv.ParseInt(m[2], 0, 64)
	return blk, int(o)
}

// InodeBytes returns the raw on-disk inode (s_inode_size bytes).
func InodeBytes(t testing.TB, img string, sb *super.Superblock, ino uint64) []byte {
	t.Helper()
	blk, off := Imap(t, img, ino)
	b := Block(t, img, sb, blk)
	return b[off : off+int(sb.InodeSizeBytes())]
}

// Blocks lists the blocks of inode ino as `debugfs blocks` prints them:
// data blocks in logical order with holes skipped, but with indirect
// (IND/DIND/TIND) and extent-tree blocks interleaved where the walk meets
// them. Use DataBlocks for data blocks only.
func Blocks(t testing.TB, img string, ino uint64) []uint64 {
	t.Helper()
	var out []uint64
	for _, f := range strings.Fields(Debugfs(t, img, fmt.Sprintf("blocks <%d>", ino))) {
		v, err := strconv.ParseUint(f, 10, 64)
		if err != nil {
			t.Fatalf("debugfs blocks <%d>: %q", ino, f)
		}
		out = append(out, v)
	}
	return out
}

// Cat returns the content of inode ino as debugfs reads it.
func Cat(t testing.TB, img string, ino uint64) []byte {
	t.Helper()
	dst := filepath.Join(t.TempDir(), "dump")
	Debugfs(t, img, fmt.Sprintf("dump <%d> %s", ino, dst))
	b, err := os.ReadFile(dst)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Stat returns debugfs' `stat <ino>` text.
func Stat(t testing.TB, img string, ino uint64) string {
	t.Helper()
	return Debugfs(t, img, fmt.Sprintf("stat <%d>", ino))
}

// StatField extracts an integer field ("Links", "Size", "Generation", ...)
// from debugfs `stat` output.
func StatField(t testing.TB, stat, name string) uint64 {
	t.Helper()
	m := regexp.MustCompile(`\b` + regexp.QuoteMeta(name) + `: *(0x[0-9a-fA-F]+|\d+)`).FindStringSubmatch(stat)
	if m == nil {
		t.Fatalf("no %q in debugfs stat output:\n%s", name, stat)
	}
	v, err := strconv.ParseUint(m[1], 0, 64)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

var statRunRE = regexp.MustCompile(`\((\d+)(?:-(\d+))?\):(\d+)(?:-(\d+))?`)

// Run is one mapped range of a `debugfs stat` block list: Len blocks from
// logical block Logical at physical block Physical.
type Run struct{ Logical, Len, Physical uint64 }

// StatRuns parses the EXTENTS (or, for indirect-mapped inodes, BLOCKS)
// section of `debugfs stat` output into runs in logical order: entries like
// "(0-11):1234-1245". Tree blocks ("(IND):...", "(ETB0):...") are left out,
// and so is an index entry that repeats a range already covered. ok is
// false when the output has no block list.
func StatRuns(stat string) (runs []Run, ok bool) {
	i := strings.Index(stat, "BLOCKS:")
	if j := strings.Index(stat, "EXTENTS:"); j >= 0 {
		i = j
	}
	if i < 0 {
		return nil, false
	}
	covered := uint64(0)
	for _, m := range statRunRE.FindAllStringSubmatch(stat[i:], -1) {
		lo, _ := strconv.ParseUint(m[1], 10, 64)
		hi := lo
		if m[2] != "" {
			hi, _ = strconv.ParseUint(m[2], 10, 64)
		}
		phys, _ := strconv.ParseUint(m[3], 10, 64)
		if len(runs) > 0 && lo < covered {
			continue
		}
		runs = append(runs, Run{Logical: lo, Len: hi - lo + 1, Physical: phys})
		covered = hi + 1
	}
	return runs, true
}

// DataBlocks lists only the data blocks of inode ino in logical order
// (holes skipped), from `debugfs stat` (see StatRuns).
func DataBlocks(t testing.TB, img string, ino uint64) []uint64 {
	t.Helper()
	runs, _ := StatRuns(Stat(t, img, ino))
	var out []uint64
	for _, r := range runs {
		for k := range r.Len {
			out = append(out, r.Physical+k)
		}
	}
	return out
}
