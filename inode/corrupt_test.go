package inode

import (
	"bytes"
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/ext4relink/ext4relink/internal/testfs"
	"github.com/ext4relink/ext4relink/super"
)

// overlay reads blocks from the image, except those replaced in over.
func overlay(x *fx, over map[uint64][]byte) ReadFunc {
	return func(b uint64) ([]byte, error) {
		if v, ok := over[b]; ok {
			return v, nil
		}
		return x.read(b)
	}
}

func orphanInode(t *testing.T, x *fx, path string) (uint64, *Inode) {
	t.Helper()
	o, ok := x.img.Orphan(path)
	if !ok {
		t.Fatalf("%s: no orphan %s", x.img.Name, path)
	}
	in, _ := x.inode(t, o.Inode)
	return o.Inode, in
}

func wantFormatError(t *testing.T, what string, err error, sentinel error, blk uint64) {
	t.Helper()
	var fe *super.FormatError
	if !errors.Is(err, sentinel) || !errors.As(err, &fe) {
		t.Fatalf("%s: got %v, want a FormatError wrapping %v", what, err, sentinel)
	}
	if blk != 0 && fe.Block != blk {
		t.Fatalf("%s: error names block %d, want %d (%v)", what, fe.Block, blk, err)
	}
}

// TestExtentTreeRejects damages the real depth-1 extent tree of the sparse
// orphan in every way __ext4_ext_check looks for.
func TestExtentTreeRejects(t *testing.T) {
	x := load(t, "ext4-4k-freeze")
	ino, in := orphanInode(t, x, "data/sparse.img")
	p := x.fs.Params(uint32(ino), in)
	m, err := MapExtents(in.Block[:], p, x.read)
	if err != nil || m.Depth != 1 || len(m.Meta) != 1 {
		t.Fatalf("sparse.img: depth %d, %v", m.Depth, err)
	}
	leaf := m.Meta[0]
	orig, _ := x.read(leaf)
	cases := []struct {
		name     string
		edit     func(b []byte)
		sentinel error
		resum    bool
	}{
		{"bad magic", func(b []byte) { b[0] ^= 1 }, super.ErrCorrupt, true},
		{"wrong depth", func(b []byte) { b[6] = 1 }, super.ErrCorrupt, true},
		{"entries over max", func(b []byte) { binary.LittleEndian.PutUint16(b[2:], binary.LittleEndian.Uint16(b[4:])+1) }, super.ErrCorrupt, true},
		{"max over space", func(b []byte) { binary.LittleEndian.PutUint16(b[4:], 400) }, super.ErrCorrupt, false},
		{"zero max", func(b []byte) { binary.LittleEndian.PutUint16(b[4:], 0) }, super.ErrCorrupt, false},
		{"zero length", func(b []byte) { binary.LittleEndian.PutUint16(b[12+4:], 0) }, super.ErrCorrupt, true},
		{"overlap", func(b []byte) { copy(b[24:28], b[12:16]) }, super.ErrCorrupt, true},
		{"first block differs from index", func(b []byte) { binary.LittleEndian.PutUint32(b[12:], 1) }, super.ErrCorrupt, true},
		{"physical out of range", func(b []byte) { binary.LittleEndian.PutUint32(b[20:], uint32(x.fs.BlocksCount)) }, super.ErrCorrupt, true},
		{"physical below first data block", func(b []byte) { b[18], b[19] = 0, 0; binary.LittleEndian.PutUint32(b[20:], 0) }, super.ErrCorrupt, x.fs.FirstDataBlock > 0},
		{"checksum", func(b []byte) { b[20] ^= 1 }, super.ErrChecksum, false},
	}
	for _, c := range cases {
		b := append([]byte(nil), orig...)
		c.edit(b)
		if c.resum {
			n, _ := DecodeExtentNode(b)
			n.SetChecksum(true, p.Seed)
			b = n.Encode()
		}
		_, err := MapExtents(in.Block[:], p, overlay(x, map[uint64][]byte{leaf: b}))
		if c.name == "physical below first data block" && !c.resum {
			continue // 4 KiB blocks: block 0 is valid
		}
		wantFormatError(t, c.name, err, c.sentinel, leaf)
	}
	// The root must not point twice at the same block.
	root, _ := DecodeExtentNode(in.Block[:])
	root.Index = append(root.Index, root.Index[0])
	root.Index[1].Block = root.Index[0].Block + 1<<20
	root.Header.Entries = 2
	if _, err := MapExtents(root.Encode(), p, x.read); !errors.Is(err, super.ErrCorrupt) {
		t.Fatalf("block referenced twice: %v", err)
	}
	short := func(uint64) ([]byte, error) { return make([]byte, 10), nil }
	if _, err := MapExtents(in.Block[:], p, short); !errors.Is(err, super.ErrCorrupt) {
		t.Fatalf("short read: %v", err)
	}
	deep := append([]byte(nil), in.Block[:]...)
	binary.LittleEndian.PutUint16(deep[6:], MaxExtentDepth+1)
	if _, err := MapExtents(deep, p, x.read); !errors.Is(err, super.ErrCorrupt) {
		t.Fatalf("depth 6: %v", err)
	}
}

// TestIndirectRejects damages the real indirect blocks of an ext3 orphan.
func TestIndirectRejects(t *testing.T) {
	x := load(t, "ext3")
	ino, in := orphanInode(t, x, "data/dind.bin")
	p := x.fs.Params(uint32(ino), in)
	m, err := MapIndirect(in.Block[:], p, x.read)
	if err != nil || m.Depth != 2 {
		t.Fatalf("dind.bin: depth %d, %v", m.Depth, err)
	}
	ind := m.Meta[0]
	b, _ := x.read(ind)
	bad := append([]byte(nil), b...)
	binary.LittleEndian.PutUint32(bad[8:], uint32(x.fs.BlocksCount))
	_, err = MapIndirect(in.Block[:], p, overlay(x, map[uint64][]byte{ind: bad}))
	wantFormatError(t, "pointer out of range", err, super.ErrCorrupt, ind)
	loop := append([]byte(nil), in.Block[:]...)
	copy(loop[4*DindBlock:], loop[4*IndBlock:4*IndBlock+4]) // DIND names the IND block
	if _, err := MapIndirect(loop, p, x.read); !errors.Is(err, super.ErrCorrupt) {
		t.Fatalf("indirect block used twice: %v", err)
	}
}

// TestValidateRejects breaks real inodes the ways __ext4_iget refuses.
func TestValidateRejects(t *testing.T) {
	x := load(t, "ext4-4k-freeze")
	ino, base := orphanInode(t, x, "data/small.bin")
	lino, link := orphanInode(t, x, "data/link")
	cases := []struct {
		name string
		ino  uint64
		in   *Inode
		edit func(in *Inode)
	}{
		{"extra_isize not a multiple of 4", ino, base, func(in *Inode) { in.ExtraIsize = 30 }},
		{"extra_isize past the inode", ino, base, func(in *Inode) { in.ExtraIsize = 132 }},
		{"casefold without feature", ino, base, func(in *Inode) { in.Flags |= CasefoldFl }},
		{"inline data without feature", ino, base, func(in *Inode) { in.Flags |= InlineDataFl }},
		{"negative size", ino, base, func(in *Inode) { in.SizeHigh = 0x80000000 }},
		{"bad xattr block", ino, base, func(in *Inode) { in.FileACLLo = uint32(x.fs.BlocksCount) }},
		{"bad extent root", ino, base, func(in *Inode) { in.Block[0] = 0 }},
		{"fast symlink too long", lino, link, func(in *Inode) { in.SetSize(60) }},
		{"fast symlink without NUL", lino, link, func(in *Inode) { in.SetSize(4) }},
		{"immutable symlink", lino, link, func(in *Inode) { in.Flags |= ImmutableFl }},
		{"xattr entries", ino, base, func(in *Inode) {
			in.sync()
			s := in.XattrStart()
			binary.LittleEndian.PutUint32(in.Raw[s:], XattrMagic)
			in.Raw[s+4] = 200 // a name running past the inode
		}},
	}
	for _, c := range cases {
		in, _ := Decode(c.in.Encode())
		c.edit(in)
		in.SetChecksum(x.sb, uint32(c.ino))
		if err := in.Validate(x.fs, uint32(c.ino)); !errors.Is(err, super.ErrCorrupt) {
			t.Errorf("%s: %v", c.name, err)
		}
	}
}

// TestUnwrittenAndHolesReadZeros: marking a real extent unwritten must make
// its (nonzero) blocks read as zeros; so must a hole punched in the map.
func TestUnwrittenAndHolesReadZeros(t *testing.T) {
	x := load(t, "ext4-4k-freeze")
	ino, in := orphanInode(t, x, "data/big.vmdk")
	root, _ := DecodeExtentNode(in.Block[:])
	if !root.IsLeaf() || len(root.Extents) != 1 || root.Extents[0].Length() >= InitMaxLen {
		t.Skip("big.vmdk is not a single extent")
	}
	root.Extents[0].Len += InitMaxLen
	in.Block = [BlockBytes]byte(root.Encode())
	m, err := MapInode(in, x.fs, uint32(ino), x.read)
	if err != nil || !m.Runs[0].Unwritten {
		t.Fatalf("unwritten map: %v", err)
	}
	got, err := ReadFile(m, x.read, in.Size(), x.fs.BlockSize)
	if err != nil || uint64(len(got)) != in.Size() || bytes.ContainsFunc(got, func(r rune) bool { return r != 0 }) {
		t.Fatalf("unwritten extent did not read as zeros (%v)", err)
	}
	hole := &BlockMap{Format: FormatExtents, Runs: []Run{{Logical: 2, Len: 1, Physical: m.Runs[0].Physical}}}
	got, _ = ReadFile(hole, x.read, 4*uint64(x.fs.BlockSize)-7, x.fs.BlockSize)
	blk, _ := x.read(m.Runs[0].Physical)
	bs := int(x.fs.BlockSize)
	if len(got) != 4*bs-7 || !bytes.Equal(got[2*bs:3*bs], blk) || bytes.ContainsFunc(got[:2*bs], func(r rune) bool { return r != 0 }) {
		t.Fatal("holes or the mapped block read wrongly")
	}
}

// TestInlineSymlink: debugfs stores a long symlink target as inline data
// on an inline_data filesystem.
func TestInlineSymlink(t *testing.T) {
	r := loadRW(t, "ext4-inline")
	target := "/this/is/a/rather/long/symlink/target/that/needs/more/than/sixty/bytes/xyz"
	testfs.Debugfs(t, r.path, "symlink /ilink "+target, true)
	ino := testfs.StatField(t, testfs.Debugfs(t, r.path, "stat /ilink"), "Inode")
	in, _ := r.inode(t, ino)
	if Format(in, r.fs) != FormatInline {
		t.Fatalf("debugfs made a %s symlink", Format(in, r.fs))
	}
	if err := in.Validate(r.fs, uint32(ino)); err != nil {
		t.Fatal(err)
	}
	got, err := Symlink(in, r.fs, uint32(ino), r.read)
	if err != nil || string(got) != target {
		t.Fatalf("inline symlink: %q, %v", got, err)
	}
	in.SetSize(uint64(len(target)) + 100)
	if _, err := Symlink(in, r.fs, uint32(ino), r.read); !errors.Is(err, super.ErrCorrupt) {
		t.Fatalf("i_size past the inline data: %v", err)
	}
}

// TestXattrHashMatchesE2fsprogs: e2fsprogs hashes the entries of an
// attribute block; XattrHash must agree on every one.
func TestXattrHashMatchesE2fsprogs(t *testing.T) {
	r := loadRW(t, "ext4-4k-freeze")
	val := filepath.Join(t.TempDir(), "v")
	for k, n := range []int{1, 3, 4, 200, 333} {
		os.WriteFile(val, bytes.Repeat([]byte{byte('a' + k), 0xC3, 0x7F}, n)[:n], 0o644)
		testfs.Debugfs(t, r.path, "ea_set -f "+val+" /keep user.attr-"+string(rune('a'+k))+"\xe9", true)
	}
	in, _ := r.inode(t, r.img.Dirs["keep"])
	acl := in.FileACL(r.fs.Bit64)
	if acl == 0 {
		t.Fatal("no attribute block was made")
	}
	blk, _ := r.read(acl)
	seen := 0
	for off := 32; binary.LittleEndian.Uint32(blk[off:]) != 0; {
		var e XattrEntry
		e.NameLen, e.ValueOffs = blk[off], binary.LittleEndian.Uint16(blk[off+2:])
		e.ValueSize, e.Hash = binary.LittleEndian.Uint32(blk[off+8:]), binary.LittleEndian.Uint32(blk[off+12:])
		name := blk[off+16 : off+16+int(e.NameLen)]
		value := blk[e.ValueOffs : int(e.ValueOffs)+int(e.ValueSize)]
		if h := XattrHash(name, value); h != e.Hash {
			t.Fatalf("%q: hash %#x (signed %#x), e2fsprogs wrote %#x", name, h, XattrHashSigned(name, value), e.Hash)
		}
		t.Logf("%q (%d bytes): hash %#x, signed variant %#x", name, len(value), e.Hash, XattrHashSigned(name, value))
		seen++
		off += XattrLen(int(e.NameLen))
	}
	if seen == 0 {
		t.Fatal("no entries in the attribute block")
	}
}
