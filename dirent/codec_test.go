package dirent

import (
	"bytes"
	"testing"

	"github.com/ext4relink/ext4relink/fixtures"
	"github.com/ext4relink/ext4relink/internal/layout"
	"github.com/ext4relink/ext4relink/internal/testfs"
)

func TestLayoutTables(t *testing.T) {
	var tl Tail
	if err := layout.Check(tl.fields(), TailSize); err != nil || !layout.Covered(tl.fields(), TailSize) {
		t.Errorf("ext4_dir_entry_tail table: %v, covered %v", err, layout.Covered(tl.fields(), TailSize))
	}
	var e Entry
	if err := layout.Check(e.fields(), HeaderSize); err != nil || !layout.Covered(e.fields(), HeaderSize) {
		t.Errorf("ext4_dir_entry_2 header table: %v", err)
	}
	var r DxRoot
	if err := layout.Check(r.fields(), DxRootCountOff); err != nil || !layout.Covered(r.fields(), DxRootCountOff) {
		t.Errorf("dx_root table: %v, covered %v", err, layout.Covered(r.fields(), DxRootCountOff))
	}
	var f FakeDirent
	if !layout.Covered(f.fields(0), DxNodeCountOff) {
		t.Error("fake_dirent table does not cover 8 bytes")
	}
}

func TestRecLenEncoding(t *testing.T) {
	for _, bs := range []int{1024, 4096, 65536} {
		for _, n := range []int{12, 16, 1020, bs - 12, bs - 4, bs} {
			v, ok := RecLenToDisk(n, bs)
			if !ok || RecLenFromDisk(v, bs) != n {
				t.Errorf("bs %d len %d: disk %#x ok %v back %d", bs, n, v, ok, RecLenFromDisk(v, bs))
			}
		}
	}
	if v, _ := RecLenToDisk(65536, 65536); v != 0xFFFF {
		t.Errorf("a whole 64 KiB block is %#x, want 0xFFFF", v)
	}
	if RecLenFromDisk(0, 65536) != 65536 || RecLenFromDisk(0, 4096) != 0 {
		t.Error("rec_len 0 decodes wrongly")
	}
	if _, ok := RecLenToDisk(65540, 65536); ok {
		t.Error("oversize accepted")
	}
	for _, n := range []int{-4, 13, 4100} {
		if _, ok := RecLenToDisk(n, 4096); ok {
			t.Errorf("RecLenToDisk(%d) accepted", n)
		}
	}
}

// dirKind classifies every logical block of a block directory: the root
// and dx nodes of an htree, the rest leaves.
func dirKind(t *testing.T, d *dirImage, indexed bool) map[uint32]string {
	t.Helper()
	kind := map[uint32]string{}
	for l := range d.phys {
		kind[uint32(l)] = "leaf"
	}
	if !indexed {
		return kind
	}
	kind[0] = "root"
	root, err := DecodeDxRoot(d.block(t, 0), d.p)
	if err != nil {
		t.Fatal(err)
	}
	level := []uint32{}
	for _, e := range root.Entries {
		level = append(level, e.Block&DxBlockMask)
	}
	for range root.Info.IndirectLevels {
		var next []uint32
		for _, l := range level {
			kind[l] = "node"
			n, err := DecodeDxNode(d.block(t, l), d.p)
			if err != nil {
				t.Fatalf("node %d: %v", l, err)
			}
			for _, e := range n.Entries {
				next = append(next, e.Block&DxBlockMask)
			}
		}
		level = next
	}
	return kind
}

// forEachDirBlock visits every block of every block-mapped directory of the
// scenarios, with its kind.
func forEachDirBlock(t *testing.T, scenarios []string, fn func(t *testing.T, d *dirImage, l uint32, kind string, b []byte)) {
	for _, sc := range scenarios {
		t.Run(sc, func(t *testing.T) {
			img, path := readOnlyImage(t, sc)
			for _, ino := range dirInodes(img) {
				if isInline(t, path, ino) {
					continue
				}
				d := openDir(t, path, ino)
				kinds := dirKind(t, d, isIndexed(t, path, ino))
				for l := range d.phys {
					fn(t, d, uint32(l), kinds[uint32(l)], d.block(t, uint32(l)))
				}
			}
		})
	}
}

// TestRoundTripRealBlocks: Encode(Decode(b)) == b on every directory block
// of real filesystems: linear blocks, leaves with tails, dx_root, dx_node.
func TestRoundTripRealBlocks(t *testing.T) {
	fixtures.SkipIfAsked(t)
	seen := map[string]int{}
	forEachDirBlock(t, append(csumScenarios, plainScenarios...), func(t *testing.T, d *dirImage, l uint32, kind string, b []byte) {
		var enc []byte
		switch kind {
		case "root":
			r, err := DecodeDxRoot(b, d.p)
			if err != nil {
				t.Fatalf("inode %d root: %v", d.ino, err)
			}
			enc = r.Encode()
		case "node":
			n, err := DecodeDxNode(b, d.p)
			if err != nil {
				t.Fatalf("inode %d node %d: %v", d.ino, l, err)
			}
			enc = n.Encode()
		default:
			k, err := DecodeBlock(b, d.p)
			if err != nil {
				t.Fatalf("inode %d block %d: %v", d.ino, l, err)
			}
			enc = k.Encode()
			if d.p.Csum && k.Tail == nil {
				t.Fatalf("inode %d block %d: no tail on a metadata_csum leaf", d.ino, l)
			}
		}
		if !bytes.Equal(enc, b) {
			t.Fatalf("inode %d %s %d: Encode(Decode(b)) != b", d.ino, kind, l)
		}
		seen[kind]++
	})
	for _, k := range []string{"root", "node", "leaf"} {
		if seen[k] == 0 {
			t.Errorf("no %s block was exercised", k)
		}
	}
	t.Logf("round-tripped blocks: %v", seen)
}

// TestChecksumsReal verifies every directory block checksum of the
// metadata_csum fixtures, and that flipping one byte breaks it.
func TestChecksumsReal(t *testing.T) {
	n := 0
	forEachDirBlock(t, csumScenarios, func(t *testing.T, d *dirImage, l uint32, kind string, b []byte) {
		specific := VerifyLeafChecksum
		if kind != "leaf" {
			specific = VerifyDxChecksum
		}
		if !specific(b, d.p) || !VerifyBlockChecksum(b, d.p) {
			t.Fatalf("inode %d %s %d: checksum does not verify", d.ino, kind, l)
		}
		flip := bytes.Clone(b)
		flip[0] ^= 0x40
		if specific(flip, d.p) || VerifyBlockChecksum(flip, d.p) {
			t.Fatalf("inode %d %s %d: checksum still verifies after a byte flip", d.ino, kind, l)
		}
		wrong := d.p
		wrong.Seed++
		if VerifyBlockChecksum(b, wrong) {
			t.Fatalf("inode %d %s %d: verifies with a wrong seed", d.ino, kind, l)
		}
		clear := bytes.Clone(b)
		set := SetLeafChecksum
		if kind != "leaf" {
			set = SetDxChecksum
		}
		off := len(b) - 4
		if kind != "leaf" {
			co, _ := dxCountOffset(b, len(b))
			off = co + DxEntrySize*dxLimit(b, co) + 4
		}
		clear[off] ^= 0xFF
		if err := set(clear, d.p); err != nil || !bytes.Equal(clear, b) {
			t.Fatalf("inode %d %s %d: SetChecksum did not restore the block (%v)", d.ino, kind, l, err)
		}
		n++
	})
	t.Logf("%d checksummed directory blocks verified", n)
}

// TestInlineRoundTrip decodes the inline directories of ext4-inline from
// the raw inode (i_block at 0x28 and the system.data value) and checks
// Encode(Decode) and the names debugfs lists.
func TestInlineRoundTrip(t *testing.T) {
	img, path := readOnlyImage(t, "ext4-inline")
	sb := testfs.Superblock(t, path)
	for _, dir := range []string{"tiny", "tinyfull"} {
		ino := uint32(img.Dirs[dir])
		raw := testfs.InodeBytes(t, path, sb, uint64(ino))
		iblock := raw[0x28 : 0x28+InlineIBlockSize]
		xoff, xlen := systemData(t, raw)
		xattr := raw[xoff : xoff+xlen]
		p := paramsFor(t, path, sb, ino)
		d, err := DecodeInline(iblock, xattr, p)
		if err != nil {
			t.Fatalf("%s: %v", dir, err)
		}
		ib, xa := d.Encode()
		if !bytes.Equal(ib, iblock) || !bytes.Equal(xa, xattr) {
			t.Fatalf("%s: Encode(Decode) differs", dir)
		}
		want := lsNames(t, path, dir)
		if d.Parent != want[".."] {
			t.Errorf("%s: parent %d, debugfs says %d", dir, d.Parent, want[".."])
		}
		got := 2
		for _, e := range append(d.IBlock, d.Xattr...) {
			if e.Used() {
				got++
				if want[string(e.Name)] != e.Inode {
					t.Errorf("%s: %q -> %d, debugfs %d", dir, e.Name, e.Inode, want[string(e.Name)])
				}
			}
		}
		if got != len(want) {
			t.Errorf("%s: %d names, debugfs lists %d", dir, got, len(want))
		}
	}
}
