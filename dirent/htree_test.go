package dirent

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"

	"github.com/ext4relink/ext4relink/super"
)

// leafRange is the hash range the index gives one leaf: [lo, hi), where hi
// is inclusive when it carries the continuation bit, and unbounded at the
// end of the tree.
type leafRange struct {
	lblk   uint32
	lo, hi uint32
	end    bool
}

func (r leafRange) holds(h uint32) bool {
	if h < r.lo&^1 {
		return false
	}
	return r.end || h < r.hi&^1 || h == r.hi&^1 && r.hi&1 == 1
}

// leafRanges walks the whole index with the package's own decoders.
func leafRanges(t *testing.T, d *dirImage) (DxRootInfo, []leafRange) {
	t.Helper()
	root, err := DecodeDxRoot(d.block(t, 0), d.p)
	if err != nil {
		t.Fatal(err)
	}
	var out []leafRange
	var walk func(es []DxEntry, lo, hi uint32, end bool, level int)
	walk = func(es []DxEntry, lo, hi uint32, end bool, level int) {
		for i, e := range es {
			r := leafRange{lblk: e.Block & DxBlockMask, lo: lo, hi: hi, end: end}
			if i > 0 {
				r.lo = e.Hash
			}
			if i < len(es)-1 {
				r.hi, r.end = es[i+1].Hash, false
			}
			if level == int(root.Info.IndirectLevels) {
				out = append(out, r)
				continue
			}
			n, err := DecodeDxNode(d.block(t, r.lblk), d.p)
			if err != nil {
				t.Fatalf("node %d: %v", r.lblk, err)
			}
			walk(n.Entries, r.lo, r.hi, r.end, level+1)
		}
	}
	walk(root.Entries, 0, 0, true, 0)
	return root.Info, out
}

// TestHtreeRangesReal checks the hash of every name of the real htree
// directories against the range its leaf has in the index, finds every
// name with FindIndexed, and compares the set of names with debugfs ls.
func TestHtreeRangesReal(t *testing.T) {
	for _, sc := range []string{"ext4-htree", "ext4-htree-1k"} {
		t.Run(sc, func(t *testing.T) {
			img, path := readOnlyImage(t, sc)
			d := openDir(t, path, uint32(img.Dirs["big"]))
			info, ranges := leafRanges(t, d)
			if sc == "ext4-htree-1k" && info.IndirectLevels != 1 {
				t.Fatalf("expected two index levels, got indirect_levels %d", info.IndirectLevels)
			}
			version := EffectiveHashVersion(info.HashVersion, d.p.UnsignedHash)
			names := map[string]uint32{}
			for _, r := range ranges {
				k, err := DecodeBlock(d.block(t, r.lblk), d.p)
				if err != nil {
					t.Fatalf("leaf %d: %v", r.lblk, err)
				}
				for _, e := range k.Entries {
					if !e.Used() {
						continue
					}
					h, _, err := DirHash(version, d.p.HashSeed, e.Name)
					if err != nil {
						t.Fatal(err)
					}
					if !r.holds(h) {
						t.Errorf("leaf %d range [%#x,%#x) end=%v: %q hashes to %#x", r.lblk, r.lo, r.hi, r.end, e.Name, h)
					}
					names[string(e.Name)] = e.Inode
				}
			}
			want := lsNames(t, path, "big")
			delete(want, ".")
			delete(want, "..")
			if len(names) != len(want) {
				t.Fatalf("%d names in the leaves, debugfs lists %d", len(names), len(want))
			}
			read := d.reader(t)
			for n, ino := range want {
				if names[n] != ino {
					t.Fatalf("%q: inode %d in the leaves, debugfs %d", n, names[n], ino)
				}
				_, e, found, err := FindIndexed(d.p, []byte(n), read)
				if err != nil || !found || e.Inode != ino {
					t.Fatalf("FindIndexed(%q): found %v inode %d err %v", n, found, e.Inode, err)
				}
			}
			if _, _, found, err := FindIndexed(d.p, []byte("no-such-name"), read); found || err != nil {
				t.Fatalf("FindIndexed of a missing name: %v %v", found, err)
			}
		})
	}
}

// TestProbeRefusesDamage corrupts the real root and node in the ways dx_probe
// and e2fsck notice and checks each is refused with the right sentinel.
func TestProbeRefusesDamage(t *testing.T) {
	img, path := readOnlyImage(t, "ext4-htree-1k")
	d := openDir(t, path, uint32(img.Dirs["big"]))
	root0 := d.block(t, 0)
	node := uint32(dxBlock(root0, DxRootCountOff, 0))
	cases := []struct {
		name  string
		lblk  uint32
		off   int
		val   byte
		want  error
		fixCk bool
	}{
		{"bad checksum", 0, 40, 0x01, super.ErrChecksum, false},
		{"info_length", 0, 29, 7, super.ErrCorrupt, true},
		{"hash version", 0, 28, 5, super.ErrCorrupt, true},
		{"siphash", 0, 28, 6, super.ErrUnsupported, true},
		{"unused flags", 0, 31, 1, super.ErrCorrupt, true},
		{"too deep", 0, 30, 2, super.ErrCorrupt, true},
		{"root limit", 0, 32, 0x55, super.ErrCorrupt, true},
		{"count zero", 0, 34, 0, super.ErrCorrupt, true},
		{"node limit", node, 8, 0x55, super.ErrCorrupt, true},
		{"node fake inode", node, 0, 1, super.ErrCorrupt, true},
		{"node checksum", node, 20, 0x80, super.ErrChecksum, false},
		{"cycle to root", node, 12, 0, super.ErrCorrupt, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			read := func(l uint32) ([]byte, error) {
				b := d.block(t, l)
				if l == c.lblk {
					b[c.off] = c.val
					if c.lblk != 0 && c.off == 12 {
						copy(b[12:16], []byte{0, 0, 0, 0})
					}
					if c.fixCk {
						SetDxChecksum(b, d.p)
					}
				}
				return b, nil
			}
			_, err := Probe(d.p, 0x12345678, read)
			if !errors.Is(err, c.want) {
				t.Fatalf("got %v, want %v", err, c.want)
			}
		})
	}
	if _, err := Probe(d.p, 0x12345678, d.reader(t)); err != nil {
		t.Fatalf("undamaged tree: %v", err)
	}
	selfLoop := func(l uint32) ([]byte, error) {
		b := d.block(t, l)
		if l == node {
			binary.LittleEndian.PutUint32(b[12:], node)
			SetDxChecksum(b, d.p)
		}
		return b, nil
	}
	if _, err := Probe(d.p, 0, selfLoop); !errors.Is(err, super.ErrCorrupt) {
		t.Fatalf("a node pointing at itself: %v", err)
	}
}

// TestNextFollowsContinuation builds nothing: it checks Next on the real
// tree visits every leaf once in order when asked to always continue.
func TestNextVisitsAllLeaves(t *testing.T) {
	img, path := readOnlyImage(t, "ext4-htree-1k")
	d := openDir(t, path, uint32(img.Dirs["big"]))
	_, ranges := leafRanges(t, d)
	path0, err := Probe(d.p, 0, d.reader(t))
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range ranges {
		if path0.Leaf != r.lblk {
			t.Fatalf("leaf %d: Next reached %d, the index says %d", i, path0.Leaf, r.lblk)
		}
		more, err := path0.Next(d.p, 1, d.reader(t))
		if err != nil {
			t.Fatal(err)
		}
		if more != (i < len(ranges)-1) {
			t.Fatalf("leaf %d: more=%v", i, more)
		}
	}
	if !bytes.Equal(path0.Frames[0].Data, d.block(t, 0)) {
		t.Fatal("Next modified the root bytes")
	}
}
