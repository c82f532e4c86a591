package inode

import (
	"bytes"
	"encoding/binary"
	"errors"
	"slices"
	"testing"

	"github.com/ext4relink/ext4relink/super"
)

// fuzzFS is the filesystem the fuzz targets pretend to be on.
func fuzzFS(inodeSize int, csum bool) FS {
	return FS{InodeSize: uint32(inodeSize), BlockSize: 1024, ClusterSize: 1024, FirstDataBlock: 1, BlocksCount: 1 << 17,
		CsumSeed: 0x12345678, MetadataCsum: csum, HugeFile: true, Bit64: true, Extents: true, InlineData: true}
}

// blockSource serves fuzz bytes as 1 KiB blocks: block b is the
// ((b-1) mod n)-th slice of data, zero-padded.
func blockSource(data []byte) ReadFunc {
	n := max(1, (len(data)+1023)/1024)
	return func(b uint64) ([]byte, error) {
		out := make([]byte, 1024)
		k := int((b - 1) % uint64(n))
		if k*1024 < len(data) {
			copy(out, data[k*1024:])
		}
		return out, nil
	}
}

// seedInodes adds real inodes (and their tree blocks) from fixtures.
func seedFixtures(f *testing.F, add func(x *fx, ino uint64, in *Inode, raw []byte, m *BlockMap)) {
	for _, name := range []string{"ext4-4k-freeze", "ext4-inline", "ext3-1k-journal", "ext4-128inode", "ext4-1k-sync", "ext4-htree-1k"} {
		x := load(f, name)
		for _, ino := range x.interesting() {
			in, raw := x.inode(f, ino)
			m, err := MapInode(in, x.fs, uint32(ino), x.read)
			if err != nil {
				f.Fatal(err)
			}
			add(x, ino, in, raw, m)
		}
	}
}

const (
	fuzzSeed      = 99     // the fuzz targets' inode checksum seed
	fuzzSeedLimit = 8      // tree blocks carried by one seed
	fuzzAllocBase = 120000 // the fuzz allocator hands out blocks above this
)

// relocation renumbers the first fuzzSeedLimit metadata blocks of a real
// map to 1, 2, ..., which is where blockSource serves them from.
func relocation(meta []uint64) map[uint64]uint64 {
	re := map[uint64]uint64{}
	for k, b := range meta[:min(len(meta), fuzzSeedLimit)] {
		re[b] = uint64(k + 1)
	}
	return re
}

// relocateExtents turns a real extent tree into a fuzz seed: the root and
// the tree blocks, pointers renumbered, tails re-checksummed with fuzzSeed.
func relocateExtents(x *fx, root []byte, meta []uint64) ([]byte, []byte) {
	re := relocation(meta)
	fix := func(b []byte, tail bool) []byte {
		n, _ := DecodeExtentNode(b)
		for k := range n.Index {
			if v, ok := re[n.Index[k].Leaf()]; ok {
				n.Index[k].SetLeaf(v)
			}
		}
		if tail {
			n.SetChecksum(true, fuzzSeed)
		}
		return n.Encode()
	}
	var blocks []byte
	for _, b := range meta[:len(re)] {
		blk, _ := x.read(b)
		blocks = append(blocks, fix(blk, true)...)
	}
	return fix(root, false), blocks
}

// relocateIndirect does the same for an indirect map, following levels so
// that only pointers to indirect blocks are renumbered.
func relocateIndirect(x *fx, iblock []byte, meta []uint64) ([]byte, []byte) {
	re := relocation(meta)
	out := make([][]byte, len(re))
	var walk func(ptrs []byte, level int)
	walk = func(ptrs []byte, level int) {
		for k := 0; k+4 <= len(ptrs); k += 4 {
			b := uint64(binary.LittleEndian.Uint32(ptrs[k:]))
			v, ok := re[b]
			if !ok || level == 0 {
				continue
			}
			binary.LittleEndian.PutUint32(ptrs[k:], uint32(v))
			blk, _ := x.read(b)
			out[v-1] = blk
			walk(blk, level-1)
		}
	}
	root := append([]byte(nil), iblock...)
	for k, level := range []int{1, 2, 3} {
		walk(root[4*(IndBlock+k):4*(IndBlock+k)+4], level)
	}
	return root, bytes.Join(out, nil)
}

func FuzzDecodeInode(f *testing.F) {
	seedFixtures(f, func(x *fx, ino uint64, in *Inode, raw []byte, m *BlockMap) {
		f.Add(raw, uint32(ino), []byte("new inline content"))
	})
	f.Fuzz(func(t *testing.T, raw []byte, ino uint32, inline []byte) {
		in, err := Decode(raw)
		if err != nil {
			return
		}
		if !bytes.Equal(in.Encode(), raw) {
			t.Fatal("encode(decode) differs")
		}
		fs := fuzzFS(len(raw), ino&1 == 0)
		checkError(t, in.Validate(fs, ino))
		in.Checksum(fs.CsumSeed, ino)
		_, _ = in.Xattrs(ino)
		_, _ = MaxInlineValue(in, ino)
		_, _ = Symlink(in, fs, ino, blockSource(raw))
		if in.Size() < 1<<20 {
			_, _ = Content(in, fs, ino, blockSource(raw))
		}
		checkSetInline(t, in, ino, inline)
	})
}

// checkError: every error about the data is a FormatError with a sentinel.
func checkError(t *testing.T, err error) {
	var fe *super.FormatError
	if err != nil && !errors.As(err, &fe) {
		t.Fatalf("error without FormatError: %v", err)
	}
}

// checkSetInline: a successful SetInlineData leaves valid attributes that
// read back as the data written.
func checkSetInline(t *testing.T, in *Inode, ino uint32, data []byte) {
	if _, err := in.Xattrs(ino); err != nil {
		return
	}
	if err := SetInlineData(in, ino, data); err != nil {
		checkError(t, err)
		return
	}
	back, _ := Decode(in.Encode())
	if _, err := back.Xattrs(ino); err != nil {
		t.Fatalf("attributes invalid after SetInlineData: %v", err)
	}
	got, err := InlineData(back, ino)
	want := append([]byte(nil), data...)
	if len(want) < MinInlineDataSize {
		want = append(want, make([]byte, MinInlineDataSize-len(want))...)
	}
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("inline data read back %q, want %q (%v)", got, want, err)
	}
}

func FuzzExtentTree(f *testing.F) {
	seedFixtures(f, func(x *fx, ino uint64, in *Inode, raw []byte, m *BlockMap) {
		if m.Format == FormatExtents && x.fs.BlockSize == 1024 {
			root, blocks := relocateExtents(x, in.Block[:], m.Meta)
			p := MapParams{BlockSize: 1024, FirstDataBlock: 1, BlocksCount: 1 << 17, Csum: true, Seed: fuzzSeed}
			if _, err := MapExtents(root, p, blockSource(blocks)); err != nil && len(m.Meta) <= fuzzSeedLimit {
				f.Fatalf("relocated seed of inode %d: %v", ino, err)
			}
			f.Add(root, blocks, uint32(m.End())&^1, uint16(7))
		}
	})
	f.Fuzz(func(t *testing.T, root, blocks []byte, lblk uint32, phys uint16) {
		if len(root) != BlockBytes {
			return
		}
		p := MapParams{BlockSize: 1024, FirstDataBlock: 1, BlocksCount: 1 << 17, Csum: lblk&1 == 0, Seed: fuzzSeed}
		read := blockSource(blocks)
		m, err := MapExtents(root, p, read)
		checkError(t, err)
		if err != nil {
			return
		}
		checkMapInvariants(t, m, p)
		checkAppendProperty(t, m, root, uint32(uint64(lblk)%(m.End()+3)), uint64(phys)+1, p, read, AppendExtent)
		checkTruncateProperty(t, m, root, uint64(phys)%(m.End()+3), p, read)
	})
}

func FuzzIndirect(f *testing.F) {
	seedFixtures(f, func(x *fx, ino uint64, in *Inode, raw []byte, m *BlockMap) {
		if m.Format == FormatIndirect && x.fs.BlockSize == 1024 {
			iblock, blocks := relocateIndirect(x, in.Block[:], m.Meta)
			p := MapParams{BlockSize: 1024, FirstDataBlock: 1, BlocksCount: 1 << 17}
			if _, err := MapIndirect(iblock, p, blockSource(blocks)); err != nil && len(m.Meta) <= fuzzSeedLimit {
				f.Fatalf("relocated seed of inode %d: %v", ino, err)
			}
			f.Add(iblock, blocks, uint32(m.End()), uint16(7))
		}
	})
	f.Fuzz(func(t *testing.T, iblock, blocks []byte, lblk uint32, phys uint16) {
		if len(iblock) != BlockBytes {
			return
		}
		p := MapParams{BlockSize: 1024, FirstDataBlock: 1, BlocksCount: 1 << 17}
		read := blockSource(blocks)
		m, err := MapIndirect(iblock, p, read)
		checkError(t, err)
		if err != nil {
			return
		}
		checkMapInvariants(t, m, p)
		checkAppendProperty(t, m, iblock, lblk%70000, uint64(phys)+1, p, read, AppendIndirect)
		checkTruncateProperty(t, m, iblock, uint64(phys)%(m.End()+3), p, read)
	})
}

func checkMapInvariants(t *testing.T, m *BlockMap, p MapParams) {
	var end uint64
	for _, r := range m.Runs {
		if uint64(r.Logical) < end || r.Len == 0 || !p.validRange(r.Physical, uint64(r.Len)) {
			t.Fatalf("bad run %+v after logical %d", r, end)
		}
		end = r.End()
	}
	seen := map[uint64]bool{}
	for _, b := range m.Meta {
		if seen[b] || !p.validRange(b, 1) {
			t.Fatalf("metadata block %d repeated or out of range", b)
		}
		seen[b] = true
	}
}

type appendFunc func([]byte, uint32, uint64, MapParams, ReadFunc, AllocFunc) (*Growth, error)

// checkAppendProperty: after a successful append the map is the old one plus the
// new block, and every new tree block came from the allocator.
func checkAppendProperty(t *testing.T, m *BlockMap, iblock []byte, lblk uint32, phys uint64, p MapParams, read ReadFunc, app appendFunc) {
	next := uint64(fuzzAllocBase)
	alloc := func(uint64) (uint64, error) { next++; return next, nil }
	g, err := app(iblock, lblk, phys, p, read, alloc)
	checkError(t, err)
	if err != nil {
		return
	}
	over := func(b uint64) ([]byte, error) {
		if v, ok := g.Blocks[b]; ok {
			return v, nil
		}
		return read(b)
	}
	m2, err := MapExtents(g.IBlock[:], p, over)
	if m.Format == FormatIndirect {
		m2, err = MapIndirect(g.IBlock[:], p, over)
	}
	if err != nil {
		t.Fatalf("map after append: %v", err)
	}
	if got, ok := mappedAt(m2, lblk); !ok || got != phys || m2.Mapped() != m.Mapped()+1 {
		t.Fatalf("after append: logical %d -> %d (%v), %d blocks (was %d)", lblk, got, ok, m2.Mapped(), m.Mapped())
	}
	for _, b := range g.New {
		if b <= fuzzAllocBase || b > next {
			t.Fatalf("tree block %d not from the allocator", b)
		}
	}
	for _, b := range m2.Meta {
		if _, ok := g.Blocks[b]; !ok && !contains(m.Meta, b) {
			t.Fatalf("tree block %d appeared from nowhere", b)
		}
	}
}

func mappedAt(m *BlockMap, lblk uint32) (uint64, bool) {
	p, _, ok := m.Map(lblk)
	return p, ok
}

func contains(v []uint64, x uint64) bool {
	for _, y := range v {
		if y == x {
			return true
		}
	}
	return false
}

// FuzzXattr feeds arbitrary in-inode attribute areas to the decoder and
// the system.data setter of a 256-byte inline-data inode.
func FuzzXattr(f *testing.F) {
	seedFixtures(f, func(x *fx, ino uint64, in *Inode, raw []byte, m *BlockMap) {
		if s := in.XattrStart(); s > 0 && len(raw) == 256 && s+4 < len(raw) {
			f.Add(raw[s+4:], []byte("0123456789012345678901234567890123456789012345678901234567890123456789"))
		}
	})
	f.Fuzz(func(t *testing.T, area, data []byte) {
		raw := make([]byte, 256)
		binary.LittleEndian.PutUint16(raw[0:], ModeDir|0o755)
		binary.LittleEndian.PutUint32(raw[0x20:], InlineDataFl)
		binary.LittleEndian.PutUint16(raw[offExtraIsize:], 32)
		binary.LittleEndian.PutUint32(raw[160:], XattrMagic)
		copy(raw[164:], area)
		in, _ := Decode(raw)
		x, err := in.Xattrs(7)
		checkError(t, err)
		if err == nil {
			for k := range x.Entries {
				_ = x.Value(&x.Entries[k])
			}
		}
		_, _ = MaxInlineValue(in, 7)
		_, _ = InlineData(in, 7)
		checkSetInline(t, in, 7, data)
	})
}

// checkTruncateProperty: after a cut at from, the map is the old one
// clipped at from, the freed runs are exactly the rest, and the freed
// tree or indirect blocks plus the ones still used are the old ones.
func checkTruncateProperty(t *testing.T, m *BlockMap, iblock []byte, from uint64, p MapParams, read ReadFunc) {
	var (
		c   *Cut
		err error
	)
	if m.Format == FormatIndirect {
		c, err = TruncateIndirect(iblock, from, p, read)
	} else {
		c, err = TruncateExtents(iblock, uint32(from), p, read)
	}
	checkError(t, err)
	if err != nil {
		return
	}
	over := func(b uint64) ([]byte, error) {
		if v, ok := c.Blocks[b]; ok {
			return v, nil
		}
		return read(b)
	}
	var m2 *BlockMap
	if m.Format == FormatIndirect {
		m2, err = MapIndirect(c.IBlock[:], p, over)
	} else {
		m2, err = MapExtents(c.IBlock[:], p, over)
	}
	if err != nil {
		t.Fatalf("the cut map does not read back: %v", err)
	}
	var kept, freed []uint64
	for _, r := range m.Runs {
		for k := range uint64(r.Len) {
			if uint64(r.Logical)+k < from {
				kept = append(kept, uint64(r.Logical)+k, r.Physical+k)
			} else {
				freed = append(freed, uint64(r.Logical)+k, r.Physical+k)
			}
		}
	}
	flat := func(runs []Run) []uint64 {
		var out []uint64
		for _, r := range runs {
			for k := range uint64(r.Len) {
				out = append(out, uint64(r.Logical)+k, r.Physical+k)
			}
		}
		return out
	}
	if got := flat(m2.Runs); !slices.Equal(got, kept) {
		t.Fatalf("cut at %d: kept %v, want %v", from, got, kept)
	}
	if got := flat(c.Freed); !slices.Equal(got, freed) {
		t.Fatalf("cut at %d: freed %v, want %v", from, got, freed)
	}
	meta := append(slices.Clone(m2.Meta), c.FreedMeta...)
	slices.Sort(meta)
	old := slices.Sorted(slices.Values(m.Meta))
	if !slices.Equal(meta, old) {
		t.Fatalf("cut at %d: tree blocks kept %v + freed %v, want %v", from, m2.Meta, c.FreedMeta, m.Meta)
	}
}
