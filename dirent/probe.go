package dirent

import (
	"bytes"
	"errors"
	"fmt"
	"slices"

	"github.com/ext4relink/ext4relink/super"
)

// ReadFunc returns the current contents of a directory logical block. The
// caller maps logical to physical blocks (and applies any journal overlay).
type ReadFunc func(lblk uint32) ([]byte, error)

// Frame is struct dx_frame: one index block on the way from the root to a
// leaf, and the dx_entry followed in it.
type Frame struct {
	Lblk     uint32 // directory logical block of the index block (0: the root)
	Data     []byte // its contents, validated and checksum-verified
	CountOff int    // offset of its dx_countlimit: DxRootCountOff or DxNodeCountOff
	At       int    // index of the dx_entry followed
}

// Count and Limit read the frame's dx_countlimit.
func (f *Frame) Count() int { return dxCount(f.Data, f.CountOff) }
func (f *Frame) Limit() int { return dxLimit(f.Data, f.CountOff) }

// Entry returns dx_entry i of the frame (hash 0 for entry 0).
func (f *Frame) Entry(i int) DxEntry {
	if i < 0 || i >= f.Count() {
		return DxEntry{}
	}
	return DxEntry{Hash: dxHash(f.Data, f.CountOff, i), Block: dxBlock(f.Data, f.CountOff, i)}
}

// Path is the way dx_probe walks from the root to the leaf for one hash.
type Path struct {
	Info    DxRootInfo // the root's dx_root_info
	Version uint8      // the hash version in effect (unsigned variants applied)
	Hash    uint32     // major hash looked up
	Minor   uint32     // minor hash of the name, when probed by name
	Frames  []Frame    // root first, one per index level
	Leaf    uint32     // logical block of the leaf block the hash maps to
}

// Probe walks the htree of a directory from its root (logical block 0) to
// the leaf whose hash range holds hash, as the kernel's dx_probe: each index
// block is validated and its checksum verified, and a child that points back
// at a block already on the path is refused as a cycle.
func Probe(p Params, hash uint32, read ReadFunc) (*Path, error) {
	return probe(p, read, func(uint8) (uint32, uint32, error) { return hash, 0, nil })
}

// ProbeName hashes name with the directory's hash (the root's version, the
// filesystem's seed and signedness) and probes for it.
func ProbeName(p Params, name []byte, read ReadFunc) (*Path, error) {
	if err := p.checkNames("htree lookup"); err != nil {
		return nil, err
	}
	return probe(p, read, func(v uint8) (uint32, uint32, error) { return DirHash(v, p.HashSeed, name) })
}

func probe(p Params, read ReadFunc, hashOf func(uint8) (uint32, uint32, error)) (*Path, error) {
	data, err := readIndex(p, read, 0)
	if err != nil {
		return nil, err
	}
	path := &Path{Info: DxRootInfo{HashVersion: data[28], InfoLength: data[29], IndirectLevels: data[30], UnusedFlags: data[31]}}
	path.Version = EffectiveHashVersion(path.Info.HashVersion, p.UnsignedHash)
	if path.Hash, path.Minor, err = hashOf(path.Version); err != nil {
		return nil, err
	}
	lblk, off := uint32(0), DxRootCountOff
	for level := 0; ; level++ {
		at := searchDx(data, off, path.Hash)
		path.Frames = append(path.Frames, Frame{Lblk: lblk, Data: data, CountOff: off, At: at})
		child := dxBlock(data, off, at)
		for _, f := range path.Frames {
			if f.Lblk == child {
				return nil, lblkError(super.Errorf(super.ErrCorrupt, "htree", super.NoBlock, -1,
					"tree cycle: dx_entry %d points back at logical block %d", at, child), lblk)
			}
		}
		if level == int(path.Info.IndirectLevels) {
			path.Leaf = child
			return path, nil
		}
		if data, err = readIndex(p, read, child); err != nil {
			return nil, err
		}
		lblk, off = child, DxNodeCountOff
	}
}

// searchDx is dx_probe's binary search: the last dx_entry whose hash is not
// above hash (entry 0 covers everything below entry 1).
func searchDx(b []byte, off int, hash uint32) int {
	lo, hi := 1, dxCount(b, off)-1
	for lo <= hi {
		m := lo + (hi-lo)/2
		if dxHash(b, off, m) > hash {
			hi = m - 1
		} else {
			lo = m + 1
		}
	}
	return lo - 1
}

// readIndex reads an index block (the root when lblk is 0), copies it,
// validates it and verifies its checksum.
func readIndex(p Params, read ReadFunc, lblk uint32) ([]byte, error) {
	raw, err := read(lblk)
	if err != nil {
		return nil, fmt.Errorf("reading directory logical block %d: %w", lblk, err)
	}
	b := bytes.Clone(raw)
	if lblk == 0 {
		err = CheckDxRoot(b, p)
	} else {
		err = CheckDxNode(b, p)
	}
	if err == nil && !VerifyDxChecksum(b, p) {
		err = super.Errorf(super.ErrChecksum, "htree index block", super.NoBlock, -1, "dx_tail checksum does not match contents")
	}
	return b, lblkError(err, lblk)
}

// readLeaf reads a leaf block, copies it and validates records and checksum.
func readLeaf(p Params, read ReadFunc, lblk uint32) ([]byte, error) {
	raw, err := read(lblk)
	if err != nil {
		return nil, fmt.Errorf("reading directory logical block %d: %w", lblk, err)
	}
	b := bytes.Clone(raw)
	return b, lblkError(ValidateLeaf(b, p), lblk)
}

// lblkError names the directory logical block in a FormatError's Struct.
func lblkError(err error, lblk uint32) error {
	var fe *super.FormatError
	if errors.As(err, &fe) {
		fe.Struct = fmt.Sprintf("%s (directory logical block %d)", fe.Struct, lblk)
	}
	return err
}

// Next moves the path to the following leaf, as ext4_htree_next_block: it
// reports false at the end of the tree, or when hash is even and the next
// leaf does not continue that hash (its starting hash without the
// continuation bit differs).
func (path *Path) Next(p Params, hash uint32, read ReadFunc) (bool, error) {
	i := len(path.Frames) - 1
	for {
		f := &path.Frames[i]
		if f.At++; f.At < f.Count() {
			break
		}
		if i == 0 {
			return false, nil
		}
		i--
	}
	if bhash := path.Frames[i].Entry(path.Frames[i].At).Hash; hash&1 == 0 && bhash&^1 != hash {
		return false, nil
	}
	for j := i + 1; j < len(path.Frames); j++ {
		up := &path.Frames[j-1]
		child := dxBlock(up.Data, up.CountOff, up.At)
		data, err := readIndex(p, read, child)
		if err != nil {
			return false, err
		}
		path.Frames[j] = Frame{Lblk: child, Data: data, CountOff: DxNodeCountOff}
	}
	last := &path.Frames[len(path.Frames)-1]
	path.Leaf = dxBlock(last.Data, last.CountOff, last.At)
	return true, nil
}

// clone copies the path so that Next on the copy leaves the original alone.
func (path *Path) clone() *Path {
	c := *path
	c.Frames = slices.Clone(path.Frames)
	return &c
}

// FindIndexed looks name up in an indexed directory like ext4_dx_find_entry:
// probe, search the leaf, and follow leaves that continue the same hash.
// Every block read is validated and checksum-verified.
func FindIndexed(p Params, name []byte, read ReadFunc) (lblk uint32, e Entry, found bool, err error) {
	path, err := ProbeName(p, name, read)
	if err != nil {
		return 0, Entry{}, false, err
	}
	return findFrom(p, path.clone(), name, read)
}

func findFrom(p Params, path *Path, name []byte, read ReadFunc) (uint32, Entry, bool, error) {
	for {
		leaf, err := readLeaf(p, read, path.Leaf)
		if err != nil {
			return 0, Entry{}, false, err
		}
		space, _ := LeafSpace(leaf, p)
		e, ok, err := Lookup(space, name, p)
		if err != nil || ok {
			return path.Leaf, e, ok, lblkError(err, path.Leaf)
		}
		more, err := path.Next(p, path.Hash, read)
		if err != nil || !more {
			return 0, Entry{}, false, err
		}
	}
}

// Range is the span of hashes the index assigns below one dx_entry: from Lo
// up to Hi, Hi included only when it carries the continuation bit (the names
// of that hash straddle two leaves), unbounded when End.
type Range struct {
	Lo, Hi uint32
	End    bool
}

// Holds reports whether hash h belongs to the range.
func (r Range) Holds(h uint32) bool {
	if h < r.Lo&^1 {
		return false
	}
	return r.End || h < r.Hi&^1 || h == r.Hi&^1 && r.Hi&1 == 1
}

// LeafRange returns the hash range of the path's leaf and checks on the way
// that every index block below the root only holds hashes within the range
// its parent gives it (e2fsck's htree hash checks), so that an insertion
// into an inconsistent index is refused before anything is changed.
func (path *Path) LeafRange() (Range, error) {
	r := Range{End: true}
	for i := range path.Frames {
		f := &path.Frames[i]
		for j := 1; j < f.Count(); j++ {
			if h := f.Entry(j).Hash; !r.Holds(h&^1) && !(h&^1 == r.Hi&^1 && !r.End) {
				return r, lblkError(super.Errorf(super.ErrCorrupt, "htree index block", super.NoBlock, int64(f.CountOff+DxEntrySize*j),
					"dx_entry %d hash %#08x lies outside the range [%#08x, %#08x] its parent gives", j, h, r.Lo, r.Hi), f.Lblk)
			}
		}
		if f.At > 0 {
			r.Lo = f.Entry(f.At).Hash
		}
		if f.At+1 < f.Count() {
			r.Hi, r.End = f.Entry(f.At+1).Hash, false
		}
	}
	return r, nil
}
