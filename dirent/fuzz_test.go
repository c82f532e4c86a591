package dirent

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/ext4relink/ext4relink/internal/testfs"
)

// Fuzz targets: no input may panic, and whatever a decoder accepts must
// round-trip and whatever a mutation returns must validate. Seeds are real
// blocks of the fixtures.

// seedBlocks returns real 1 KiB directory blocks: a dx_root, a dx_node, an
// htree leaf (metadata_csum) and a full linear block (no metadata_csum).
func seedBlocks(f *testing.F) (root, node, leaf, full []byte, p Params) {
	img, path := readOnlyImage(f, "ext4-htree-1k")
	d := openDir(f, path, uint32(img.Dirs["big"]))
	root = d.block(f, 0)
	nl := dxBlock(root, DxRootCountOff, 0)
	node = d.block(f, nl)
	leaf = d.block(f, dxBlock(node, DxNodeCountOff, 0))
	fimg, fpath := readOnlyImage(f, "ext4-fulldir-1k")
	full = openDir(f, fpath, uint32(fimg.Dirs["full"])).block(f, 0)
	return root, node, leaf, full, d.p
}

func fuzzParams(bs int, csum, largedir, unsigned bool, seed uint32) Params {
	return Params{BlockSize: bs, InodesCount: 1 << 20, Csum: csum, FileType: true, Largedir: largedir,
		HashSeed: [4]uint32{seed, ^seed, seed * 3, 7}, UnsignedHash: unsigned, Seed: seed}
}

func FuzzDirBlock(f *testing.F) {
	_, _, leaf, full, p := seedBlocks(f)
	f.Add(leaf, true, p.Seed, []byte("new-name"))
	f.Add(full, false, uint32(0), []byte("x"))
	f.Add(make([]byte, 1024), false, uint32(1), []byte("a"))
	f.Fuzz(func(t *testing.T, b []byte, csum bool, seed uint32, name []byte) {
		p := fuzzParams(len(b), csum, false, false, seed)
		if k, err := DecodeBlock(b, p); err == nil {
			if !bytes.Equal(k.Encode(), b) {
				t.Fatal("Encode(DecodeBlock(b)) != b")
			}
		}
		ValidateLeaf(b, p)
		VerifyBlockChecksum(b, p)
		HasTail(b)
		pp := fuzzParams(4096, csum, false, false, seed)
		Entries(b, pp)
		Lookup(b, name, pp)
		for off := 0; off < len(b) && off < 64; off += 4 {
			CheckEntry(b, off, pp)
		}
		out, err := AddEntry(b, NewEntry{Name: name, Inode: 12, FileType: FtRegFile}, p)
		if err == nil {
			if err := ValidateLeaf(out, p); err != nil {
				t.Fatalf("AddEntry result does not validate: %v", err)
			}
			if _, found, _ := Lookup(out[:len(out)-p.csumSize()], name, p); !found {
				t.Fatal("added name not found")
			}
		}
	})
}

// dxReader serves a synthetic directory: the root at 0, the node at every
// logical block the root points to (when the root says there are index
// levels), the leaf everywhere else below block 4096.
func dxReader(root, node, leaf []byte) ReadFunc {
	nodes := map[uint32]bool{}
	if len(root) >= DxRootCountOff+4 && root[30] > 0 {
		for i := range min(dxCount(root, DxRootCountOff), (len(root)-DxRootCountOff)/DxEntrySize) {
			nodes[dxBlock(root, DxRootCountOff, i)] = true
		}
	}
	return func(l uint32) ([]byte, error) {
		switch {
		case l == 0:
			return root, nil
		case l >= 4096:
			return nil, errors.New("beyond the directory")
		case nodes[l]:
			return node, nil
		}
		return leaf, nil
	}
}

// fuzzHtree runs every htree operation on a synthetic directory and checks
// an insertion's output.
func fuzzHtree(t *testing.T, p Params, read ReadFunc, name []byte) {
	Probe(p, binary.LittleEndian.Uint32(append(bytes.Clone(name), 0, 0, 0, 0)), read)
	FindIndexed(p, name, read)
	n := NewEntry{Name: name, Inode: 12, FileType: FtRegFile}
	need, err := HtreeBlocksNeeded(p, n, read)
	if err != nil {
		return
	}
	res, err := HtreeAdd(p, n, read, []uint32{100, 101, 102, 103}[:min(need, 4)])
	if err != nil {
		if need <= 4 && strings.Contains(err.Error(), "HtreeBlocksNeeded") {
			t.Fatalf("HtreeBlocksNeeded said %d but HtreeAdd wants more: %v", need, err)
		}
		return
	}
	for _, c := range res.Changes {
		if len(c.Data) != p.BlockSize {
			t.Fatalf("block %d has %d bytes", c.Lblk, len(c.Data))
		}
	}
}

// firstLeafNames returns names whose hash falls in the first leaf of the
// real tree (below the second dx_entry of the first node), the only leaf
// the synthetic directories of the fuzzers serve consistently.
func firstLeafNames(p Params, root, node []byte, count int) [][]byte {
	limit := dxHash(node, DxNodeCountOff, 1)
	var out [][]byte
	for i := 0; len(out) < count; i++ {
		n := []byte(fmt.Sprintf("fuzz-%d", i))
		if h, _, _ := DirHash(EffectiveHashVersion(root[28], p.UnsignedHash), p.HashSeed, n); h < limit {
			out = append(out, n)
		}
	}
	return out
}

// fullLeaf fills the first leaf with such names until AddEntry reports
// ErrNoSpace, so that an insertion through it splits.
func fullLeaf(p Params, root, node, leaf []byte) []byte {
	for _, n := range firstLeafNames(p, root, node, 200)[1:] {
		out, err := AddEntry(leaf, NewEntry{Name: n, Inode: 12, FileType: FtRegFile}, p)
		if err != nil {
			break
		}
		leaf = out
	}
	return leaf
}

// withChecksums returns copies of the three blocks with their checksums set,
// so that the fuzzer gets past checksum verification.
func withChecksums(p Params, root, node, leaf []byte) ReadFunc {
	r, nd, lf := bytes.Clone(root), bytes.Clone(node), bytes.Clone(leaf)
	SetDxChecksum(r, p)
	SetDxChecksum(nd, p)
	SetLeafChecksum(lf, p)
	return dxReader(r, nd, lf)
}

// The htree fuzzers keep the real filesystem's parameters (seeds, limits)
// so that real blocks stay consistent; the fuzzer varies the blocks, the
// name and the large_dir feature.
func FuzzDxRoot(f *testing.F) {
	root, node, leaf, _, real := seedBlocks(f)
	name := firstLeafNames(real, root, node, 1)[0]
	f.Add(root, node, leaf, false, name)
	f.Add(root, node, fullLeaf(real, root, node, leaf), false, name)
	f.Add(root, node, fullLeaf(real, root, node, leaf), true, name)
	f.Fuzz(func(t *testing.T, root, node, leaf []byte, largedir bool, name []byte) {
		p := real
		p.Largedir = largedir
		seed := p.Seed
		if r, err := DecodeDxRoot(root, p); err == nil {
			if !bytes.Equal(r.Encode(), root) {
				t.Fatal("Encode(DecodeDxRoot(b)) != b")
			}
		}
		VerifyDxChecksum(root, p)
		DxChecksum(root, seed)
		fuzzHtree(t, p, dxReader(root, node, leaf), name)
		fuzzHtree(t, p, withChecksums(p, root, node, leaf), name)
	})
}

func FuzzDxNode(f *testing.F) {
	root, node, leaf, _, real := seedBlocks(f)
	name := firstLeafNames(real, root, node, 1)[0]
	f.Add(node, leaf, name)
	f.Add(node, fullLeaf(real, root, node, leaf), name)
	f.Fuzz(func(t *testing.T, node, leaf []byte, name []byte) {
		p := real
		if n, err := DecodeDxNode(node, p); err == nil {
			if !bytes.Equal(n.Encode(), node) {
				t.Fatal("Encode(DecodeDxNode(b)) != b")
			}
		}
		VerifyDxChecksum(node, p)
		SetDxChecksum(bytes.Clone(node), p)
		// The real root over the fuzzed node and leaf (checksums re-set so
		// that the fuzzer reaches past them).
		fuzzHtree(t, p, withChecksums(p, root, node, leaf), name)
	})
}

func FuzzInlineDir(f *testing.F) {
	img, path := readOnlyImage(f, "ext4-inline")
	sb := testfs.Superblock(f, path)
	for _, dir := range []string{"tiny", "tinyfull"} {
		raw := testfs.InodeBytes(f, path, sb, img.Dirs[dir])
		xo, xn := systemData(f, raw)
		f.Add(raw[0x28:0x28+InlineIBlockSize], raw[xo:xo+xn], []byte("new"), uint16(100))
	}
	f.Fuzz(func(t *testing.T, iblock, xattr, name []byte, grow uint16) {
		p := fuzzParams(1024, true, false, false, 1)
		if d, err := DecodeInline(iblock, xattr, p); err == nil {
			ib, xa := d.Encode()
			if !bytes.Equal(ib, iblock) || !bytes.Equal(xa, xattr) {
				t.Fatal("Encode(DecodeInline) differs")
			}
		}
		InlineLookup(iblock, xattr, name, p)
		n := NewEntry{Name: name, Inode: 12, FileType: FtRegFile}
		if ib, xa, err := InlineAdd(iblock, xattr, n, p); err == nil {
			if _, _, found, err := InlineLookup(ib, xa, name, p); !found || err != nil {
				t.Fatalf("added name not found: %v", err)
			}
		}
		if g, err := InlineGrow(xattr, len(xattr)+int(grow), p); err == nil {
			if err := Walk(g, p, func(Entry) bool { return true }); err != nil {
				t.Fatalf("InlineGrow result invalid: %v", err)
			}
		}
		if b, err := ConvertInline(iblock, xattr, 11, p); err == nil {
			if err := ValidateLeaf(b, p); err != nil {
				t.Fatalf("ConvertInline result invalid: %v", err)
			}
		}
	})
}

func FuzzHash(f *testing.F) {
	f.Add([]byte("hello"), uint8(HashHalfMD4), uint32(0), uint32(0))
	f.Add([]byte("caf\xc3\xa9"), uint8(HashTea), uint32(0x4e888372), uint32(0x724bbd02))
	f.Add(bytes.Repeat([]byte{0xff}, 255), uint8(HashLegacy), uint32(1), uint32(2))
	f.Fuzz(func(t *testing.T, name []byte, version uint8, s0, s1 uint32) {
		h, _, err := DirHash(version, [4]uint32{s0, s1, s0 ^ s1, 3}, name)
		if err != nil {
			return
		}
		if h&1 != 0 || h == htreeEOF32<<1 {
			t.Fatalf("hash %#x", h)
		}
		if version <= HashTea && bytes.IndexFunc(name, func(r rune) bool { return r >= 0x80 }) < 0 {
			u, _, _ := DirHash(version+3, [4]uint32{s0, s1, s0 ^ s1, 3}, name)
			if u != h {
				t.Fatal("signed and unsigned differ on an ASCII name")
			}
		}
	})
}
