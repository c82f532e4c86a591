package dirent

import (
	"bytes"
	"fmt"
	"slices"

	"github.com/ext4relink/ext4relink/super"
)

// mapEntry is struct dx_map_entry: one used record of a leaf being split.
type mapEntry struct {
	hash uint32 // major hash of its name
	off  int    // where it is in the leaf
	size int    // its rec_len
}

// makeMap is dx_make_map: the used records of a validated leaf space (both
// an inode and a name), last record first as the kernel fills its map from
// the end of a buffer.
func makeMap(space []byte, version uint8, p Params) ([]mapEntry, error) {
	var m []mapEntry
	var herr error
	err := Walk(space, p, func(e Entry) bool {
		if e.Inode == 0 || e.NameLen == 0 {
			return true
		}
		h, _, err := DirHash(version, p.HashSeed, e.Name)
		if err != nil {
			herr = err
			return false
		}
		m = append(m, mapEntry{hash: h, off: e.Off, size: e.Size(p.BlockSize)})
		return true
	})
	if err == nil {
		err = herr
	}
	slices.Reverse(m)
	return m, err
}

// sortMap is dx_sort_map: a comb sort by hash finished by a bubble sort.
// It is not stable; doing exactly what the kernel does keeps the split of
// equal hashes identical to the kernel's.
func sortMap(m []mapEntry) {
	top := len(m) - 1
	for c := len(m); c > 2; {
		c = c * 10 / 13
		if c == 9 || c == 10 {
			c = 11
		}
		for p, q := top, top-c; q >= 0; p, q = p-1, q-1 {
			if m[p].hash < m[q].hash {
				m[p], m[q] = m[q], m[p]
			}
		}
	}
	for more := true; more; {
		more = false
		for q := top - 1; q >= 0; q-- {
			if m[q+1].hash < m[q].hash {
				m[q], m[q+1] = m[q+1], m[q]
				more = true
			}
		}
	}
}

// splitPoint is the index of the first record that moves to the new block:
// records are taken from the top of the sorted map while more than half of
// each still fits in half a block; if they all fit, the map is cut in half
// by count.
func splitPoint(m []mapEntry, blockSize int) int {
	size, move, i := 0, 0, len(m)-1
	for ; i >= 0; i-- {
		if size+m[i].size/2 > blockSize/2 {
			break
		}
		size += m[i].size
		move++
	}
	split := len(m) / 2
	if i >= 0 {
		split = len(m) - move
	}
	return min(split, len(m)-1)
}

// packLeaf builds a leaf from the records of space at offs, in that order,
// each cut to its minimal length and the last one spanning the rest (as
// dx_move_dirents and dx_pack_dirents leave them), then the tail. Unused
// bytes are zero.
func packLeaf(space []byte, offs []int, p Params) []byte {
	b := make([]byte, p.BlockSize)
	end := p.BlockSize - p.csumSize()
	pos, last := 0, 0
	for _, off := range offs {
		rl := RecLen(int(space[off+6]))
		copy(b[pos:pos+rl], space[off:off+rl])
		setRecLen(b[pos:], rl, p.BlockSize)
		last, pos = pos, pos+rl
	}
	setRecLen(b[last:], end-last, p.BlockSize)
	if p.Csum {
		putTail(b)
	}
	return b
}

// appendToLast puts n after the last record of a packed leaf, where
// do_split leaves all the free room (add_dirent_to_buf with a given de).
func appendToLast(leaf []byte, n NewEntry, p Params) error {
	space, err := LeafSpace(leaf, p)
	if err != nil {
		return err
	}
	es, err := Entries(space, p)
	if err != nil {
		return err
	}
	e := es[len(es)-1]
	free := e.Size(p.BlockSize)
	if e.Used() {
		free -= RecLen(int(e.NameLen))
	}
	if free < RecLen(len(n.Name)) {
		return fmt.Errorf("dirent: internal error, a split leaf has %d free bytes, %d needed", free, RecLen(len(n.Name)))
	}
	insertDentry(space, e.Off, n, p)
	return nil
}

// splitLeaf is do_split followed by the insertion: the upper part of the
// full leaf (by hash) moves to a new block, the parent index gets a
// dx_entry for it (with the continuation bit when the split hash also
// remains in the old block), and n goes to the half its hash belongs to.
func (tx *htreeTx) splitLeaf(path *Path, leaf []byte, n NewEntry) error {
	p := tx.p
	space, err := LeafSpace(leaf, p)
	if err != nil {
		return err
	}
	m, err := makeMap(space, path.Version, p)
	if err != nil {
		return err
	}
	if len(m) == 0 {
		return super.Errorf(super.ErrUnsupported, "htree leaf", super.NoBlock, -1,
			"the leaf holds no name yet has no room (fragmented unused records); e2fsck -D compacts it")
	}
	r, err := path.LeafRange()
	if err != nil {
		return err
	}
	for _, me := range m {
		if !r.Holds(me.hash) {
			return lblkError(super.Errorf(super.ErrCorrupt, "htree leaf", super.NoBlock, int64(me.off),
				"a name hashes to %#08x, outside the leaf's range [%#08x, %#08x]", me.hash, r.Lo, r.Hi), path.Leaf)
		}
	}
	sortMap(m)
	split := splitPoint(m, p.BlockSize)
	hash2 := m[split].hash
	if split > 0 && m[split-1].hash == hash2 {
		hash2 |= 1
	}
	nl, err := tx.alloc()
	if err != nil {
		return err
	}
	var moved, kept []int
	for i, me := range m {
		if i >= split {
			moved = append(moved, me.off)
		} else {
			kept = append(kept, me.off)
		}
	}
	slices.Sort(kept)
	b1, b2 := packLeaf(space, kept, p), packLeaf(space, moved, p)
	return tx.finishSplit(path, nl, b1, b2, hash2, n)
}

// finishSplit inserts n into the right half, sets the checksums and links
// the new leaf into the parent index block.
func (tx *htreeTx) finishSplit(path *Path, nl uint32, b1, b2 []byte, hash2 uint32, n NewEntry) error {
	target, tl := b1, path.Leaf
	if path.Hash >= hash2&^1 {
		target, tl = b2, nl
	}
	if err := appendToLast(target, n, tx.p); err != nil {
		return err
	}
	for _, b := range [][]byte{b1, b2} {
		if err := SetLeafChecksum(b, tx.p); err != nil {
			return err
		}
	}
	f := &path.Frames[len(path.Frames)-1]
	fb := bytes.Clone(f.Data)
	if err := dxInsertBlock(fb, f.CountOff, f.At, hash2, nl); err != nil {
		return err
	}
	if err := tx.putIndex(map[uint32][]byte{f.Lblk: fb}); err != nil {
		return err
	}
	tx.put(path.Leaf, b1)
	tx.put(nl, b2)
	tx.leaf = tl
	return nil
}
