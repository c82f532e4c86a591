package inode

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"sort"
	"strings"
	"testing"

	"github.com/ext4relink/ext4relink/internal/testfs"
)

// TestMaxInlineValueMatchesKernel: the kernel grew tinyfull's inline
// directory to the largest system.data value it computed; MaxInlineValue
// must agree with it, and with the empty one next to it.
func TestMaxInlineValueMatchesKernel(t *testing.T) {
	x := load(t, "ext4-inline")
	full, _ := x.inode(t, x.img.Dirs["tinyfull"])
	size, err := InlineSize(full, uint32(x.img.Dirs["tinyfull"]))
	if err != nil {
		t.Fatal(err)
	}
	if size != int(full.Size()) || size <= MinInlineDataSize {
		t.Fatalf("tinyfull: inline size %d, i_size %d", size, full.Size())
	}
	for _, d := range []string{"tiny", "tinyfull"} {
		in, _ := x.inode(t, x.img.Dirs[d])
		m, err := MaxInlineValue(in, uint32(x.img.Dirs[d]))
		if err != nil {
			t.Fatal(err)
		}
		if m != size-MinInlineDataSize {
			t.Fatalf("%s: max inline value %d, the kernel used %d", d, m, size-MinInlineDataSize)
		}
	}
}

// emptyDirent is one unused directory entry spanning n bytes.
func emptyDirent(n int) []byte {
	b := make([]byte, n)
	binary.LittleEndian.PutUint16(b[4:], uint16(n))
	return b
}

// TestSetInlineDataGrowsDirectory does what ext4_update_inline_dir does to
// a real inline directory that also carries a user attribute: grow the
// system.data value to the maximum with one empty entry, then shrink it
// back. e2fsck must stay clean and the other attribute intact.
func TestSetInlineDataGrowsDirectory(t *testing.T) {
	r := loadRW(t, "ext4-inline")
	ino := r.img.Dirs["tiny"]
	testfs.Debugfs(t, r.path, "ea_set /tiny user.x 0123456789abcdefXYZ", true)
	in, _ := r.inode(t, ino)
	xa, err := in.Xattrs(uint32(ino))
	if err != nil || xa.Find(XattrIndexUser, "x") == nil {
		t.Fatalf("user.x is not in the inode: %v", err)
	}
	lsBefore := testfs.Debugfs(t, r.path, "ls /tiny")
	max, err := MaxInlineValue(in, uint32(ino))
	if err != nil || max <= 12 {
		t.Fatalf("max inline value %d: %v", max, err)
	}
	grown := append(in.Block[:], emptyDirent(max)...)
	if err := SetInlineData(in, uint32(ino), append(grown, 0, 0, 0, 0)); !errors.Is(err, ErrNoSpace) {
		t.Fatalf("oversized inline data: %v", err)
	}
	if err := SetInlineData(in, uint32(ino), grown); err != nil {
		t.Fatal(err)
	}
	in.SetSize(uint64(len(grown)))
	checkInlineState(t, r, ino, in, grown, lsBefore, "user.x", "0123456789abcdefXYZ")
	shrunk := append([]byte(nil), in.Block[:]...)
	if err := SetInlineData(in, uint32(ino), shrunk); err != nil {
		t.Fatal(err)
	}
	in.SetSize(MinInlineDataSize)
	checkInlineState(t, r, ino, in, shrunk, lsBefore, "user.x", "0123456789abcdefXYZ")
}

// TestSetInlineDataMovesOtherValues: when system.data's old value lies
// above another attribute's value, replacing it slides that value up and
// fixes its offset, as ext4_xattr_set_entry does.
func TestSetInlineDataMovesOtherValues(t *testing.T) {
	r := loadRW(t, "ext4-inline")
	ino := r.img.Dirs["tiny"]
	in, _ := r.inode(t, ino)
	ls := testfs.Debugfs(t, r.path, "ls /tiny")
	first := append(in.Block[:], emptyDirent(20)...)
	if err := SetInlineData(in, uint32(ino), first); err != nil {
		t.Fatal(err)
	}
	in.SetSize(uint64(len(first)))
	r.writeInode(t, ino, in)
	testfs.Debugfs(t, r.path, "ea_set /tiny user.y hello-world", true)
	in, _ = r.inode(t, ino)
	xa, _ := in.Xattrs(uint32(ino))
	if y, d := xa.Find(XattrIndexUser, "y"), xa.Find(XattrIndexSystem, "data"); y == nil || y.ValueOffs >= d.ValueOffs {
		t.Fatalf("user.y is not stored below system.data: %+v", xa.Entries)
	}
	second := append(in.Block[:], emptyDirent(32)...)
	if err := SetInlineData(in, uint32(ino), second); err != nil {
		t.Fatal(err)
	}
	in.SetSize(uint64(len(second)))
	checkInlineState(t, r, ino, in, second, ls, "user.y", "hello-world")
}

func checkInlineState(t *testing.T, r *rw, ino uint64, in *Inode, want []byte, ls, attr, value string) {
	t.Helper()
	r.writeInode(t, ino, in)
	r.fsck(t)
	back, _ := r.inode(t, ino)
	if xa, err := back.Xattrs(uint32(ino)); err == nil {
		for _, e := range xa.Entries {
			t.Logf("entry %d.%s: offs %d size %d hash %#x", e.NameIndex, e.Name, e.ValueOffs, e.ValueSize, e.Hash)
		}
	}
	got, err := ReadInline(back, uint32(ino))
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("inline data read back: %d bytes, %v", len(got), err)
	}
	if v := testfs.Debugfs(t, r.path, "ea_get /tiny "+attr); !strings.Contains(v, value) {
		t.Fatalf("%s damaged: %q", attr, v)
	}
	if now := testfs.Debugfs(t, r.path, "ls /tiny"); !sameNames(now, ls) {
		t.Fatalf("entries changed:\n%s\nwas\n%s", now, ls)
	}
	if names := r.kernelReadDir(t, "tiny"); !sameNames(strings.Join(names, " ")+" . ..", ls) {
		t.Fatalf("the kernel lists %v", names)
	}
}

// sameNames compares the names debugfs ls prints, ignoring the spacing
// that changes with the directory size.
func sameNames(a, b string) bool {
	names := func(s string) string {
		var out []string
		for _, f := range strings.Fields(s) {
			if strings.HasPrefix(f, "entry-") || f == "." || f == ".." {
				out = append(out, f)
			}
		}
		sort.Strings(out)
		return fmt.Sprint(out)
	}
	return names(a) == names(b)
}
