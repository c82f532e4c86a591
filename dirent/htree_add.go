package dirent

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"maps"
	"slices"

	"github.com/ext4relink/ext4relink/super"
)

// BlockChange is one directory logical block an insertion writes.
type BlockChange struct {
	Lblk uint32
	Data []byte
	// New marks a block taken from the caller's new logical blocks: it must
	// be allocated, mapped at Lblk and the directory's i_size grown to cover it.
	New bool
}

// HtreeInsert is the outcome of HtreeAdd.
type HtreeInsert struct {
	Changes []BlockChange // every modified or new block, by logical block
	Leaf    uint32        // the leaf that received the entry
}

// placeholder logical blocks used while counting: far above any directory.
const placeholderBase = DxBlockMask

// HtreeBlocksNeeded reports how many new directory blocks HtreeAdd will need
// to add n: 0 when the leaf has room, 1 for a leaf split, more when index
// blocks split or the tree grows a level. Nothing is modified.
func HtreeBlocksNeeded(p Params, n NewEntry, read ReadFunc) (int, error) {
	tx := newHtreeTx(p, read, nil)
	if err := tx.add(n); err != nil {
		return 0, err
	}
	return tx.used, nil
}

// HtreeAdd adds n to an indexed directory exactly as the kernel's
// ext4_dx_add_entry: probe to the leaf and add there if it has room; else
// split a full index node (or, when every level is full, move the root's
// entries to a new node and grow a level) and split the leaf as do_split
// does. newLblks are fresh logical blocks (usually i_size/blocksize
// onwards) the caller has allocated; ask HtreeBlocksNeeded how many first.
// The name must not exist already (ErrExist). Every block read is validated
// and checksum-verified, and every block written is validated again, and
// the new name is looked up through the result, before HtreeAdd returns.
func HtreeAdd(p Params, n NewEntry, read ReadFunc, newLblks []uint32) (*HtreeInsert, error) {
	if err := checkNewLblks(newLblks); err != nil {
		return nil, err
	}
	tx := newHtreeTx(p, read, newLblks)
	if err := tx.add(n); err != nil {
		return nil, err
	}
	if err := tx.verify(n); err != nil {
		return nil, fmt.Errorf("dirent: the htree insertion does not verify, nothing may be written: %w", err)
	}
	res := &HtreeInsert{Leaf: tx.leaf}
	for _, l := range slices.Sorted(maps.Keys(tx.dirty)) {
		res.Changes = append(res.Changes, BlockChange{Lblk: l, Data: tx.dirty[l], New: tx.isNew[l]})
	}
	return res, nil
}

func checkNewLblks(ls []uint32) error {
	for i, l := range ls {
		if l == 0 || l > DxBlockMask || slices.Contains(ls[:i], l) {
			return fmt.Errorf("dirent: new logical block %d is 0, beyond %#x or repeated", l, DxBlockMask)
		}
	}
	return nil
}

// htreeTx applies an insertion to an overlay of the directory's blocks.
type htreeTx struct {
	p     Params
	read  ReadFunc
	fresh []uint32 // caller's new blocks; nil while counting
	used  int      // new blocks taken so far
	dirty map[uint32][]byte
	isNew map[uint32]bool
	seen  map[uint32]bool // blocks read from the caller
	index map[uint32]bool // written blocks that are index blocks
	leaf  uint32
}

func newHtreeTx(p Params, read ReadFunc, fresh []uint32) *htreeTx {
	return &htreeTx{p: p, read: read, fresh: fresh, dirty: map[uint32][]byte{}, isNew: map[uint32]bool{}, seen: map[uint32]bool{}, index: map[uint32]bool{}}
}

// get reads through the overlay.
func (tx *htreeTx) get(lblk uint32) ([]byte, error) {
	if b, ok := tx.dirty[lblk]; ok {
		return b, nil
	}
	tx.seen[lblk] = true
	return tx.read(lblk)
}

func (tx *htreeTx) put(lblk uint32, b []byte) { tx.dirty[lblk] = b }

// alloc hands out the next new logical block (ext4_append).
func (tx *htreeTx) alloc() (uint32, error) {
	tx.used++
	if tx.fresh == nil {
		return placeholderBase - uint32(tx.used), nil
	}
	if tx.used > len(tx.fresh) {
		return 0, fmt.Errorf("dirent: the insertion needs more than the %d new blocks given (ask HtreeBlocksNeeded)", len(tx.fresh))
	}
	l := tx.fresh[tx.used-1]
	if tx.seen[l] || tx.dirty[l] != nil {
		return 0, fmt.Errorf("dirent: new logical block %d is already part of the directory", l)
	}
	tx.isNew[l] = true
	return l, nil
}

// add is the loop of ext4_dx_add_entry: restart after every index split.
func (tx *htreeTx) add(n NewEntry) error {
	if err := n.check(tx.p); err != nil {
		return err
	}
	if _, _, found, err := FindIndexed(tx.p, n.Name, tx.get); err != nil || found {
		if found {
			return ErrExist
		}
		return err
	}
	for range 2*HtreeLevel + 2 {
		path, err := ProbeName(tx.p, n.Name, tx.get)
		if err != nil {
			return err
		}
		leaf, err := readLeaf(tx.p, tx.get, path.Leaf)
		if err != nil {
			return err
		}
		if err = addToLeaf(leaf, n, tx.p); !errors.Is(err, ErrNoSpace) {
			if err == nil {
				tx.put(path.Leaf, leaf)
				tx.leaf = path.Leaf
			}
			return err
		}
		if _, err := path.LeafRange(); err != nil {
			return err
		}
		split, err := tx.splitIndex(path)
		if err != nil {
			return err
		}
		if !split {
			return tx.splitLeaf(path, leaf, n)
		}
	}
	return super.Errorf(super.ErrCorrupt, "htree", super.NoBlock, -1, "index splits do not converge")
}

// splitIndex splits the lowest index block on the path when it is full: the
// highest full ancestor whose parent has room is split in two (halves by
// count, the parent gets a dx_entry for the new half), or, when every level
// is full, the root's entries move to a new node and the tree grows a level.
// It reports whether anything was split.
func (tx *htreeTx) splitIndex(path *Path) (bool, error) {
	fs := path.Frames
	f := len(fs) - 1
	if fs[f].Count() < fs[f].Limit() {
		return false, nil
	}
	for f > 0 && fs[f-1].Count() >= fs[f-1].Limit() {
		f--
	}
	addLevel := f == 0
	if addLevel && len(fs) >= MaxLevels(tx.p) {
		return false, tx.fullTree(len(fs))
	}
	nl, err := tx.alloc()
	if err != nil {
		return false, err
	}
	node := make([]byte, tx.p.BlockSize)
	setRecLen(node, tx.p.BlockSize, tx.p.BlockSize)
	if addLevel {
		return true, tx.growLevel(&fs[0], node, nl)
	}
	return true, tx.splitNode(&fs[f-1], &fs[f], node, nl)
}

func (tx *htreeTx) fullTree(levels int) error {
	why := ""
	if !tx.p.Largedir {
		why = "; the large_dir feature (off here) would allow a third level"
	}
	return super.Errorf(super.ErrUnsupported, "htree", super.NoBlock, -1,
		"directory index is full: %d index levels, every index block at its limit%s", levels, why)
}

// splitNode moves the upper half of a full node's entries to node (logical
// block nl) and inserts a dx_entry for it into the parent, after the entry
// that led to the full node.
func (tx *htreeTx) splitNode(parent, full *Frame, node []byte, nl uint32) error {
	pb, fb := bytes.Clone(parent.Data), bytes.Clone(full.Data)
	off := full.CountOff
	count := dxCount(fb, off)
	c1 := count / 2
	hash2 := dxHash(fb, off, c1)
	copy(node[DxNodeCountOff:], fb[off+DxEntrySize*c1:off+DxEntrySize*count])
	putCountLimit(node, DxNodeCountOff, NodeLimit(tx.p), count-c1)
	putCountLimit(fb, off, dxLimit(fb, off), c1)
	if err := dxInsertBlock(pb, parent.CountOff, parent.At, hash2, nl); err != nil {
		return err
	}
	return tx.putIndex(map[uint32][]byte{parent.Lblk: pb, full.Lblk: fb, nl: node})
}

// growLevel copies every root entry into node (logical block nl), leaves the
// root with that single child and increments indirect_levels.
func (tx *htreeTx) growLevel(root *Frame, node []byte, nl uint32) error {
	rb := bytes.Clone(root.Data)
	count := dxCount(rb, DxRootCountOff)
	copy(node[DxNodeCountOff:], rb[DxRootCountOff:DxRootCountOff+DxEntrySize*count])
	putCountLimit(node, DxNodeCountOff, NodeLimit(tx.p), count)
	putCountLimit(rb, DxRootCountOff, dxLimit(rb, DxRootCountOff), 1)
	binary.LittleEndian.PutUint32(rb[DxRootCountOff+4:], nl)
	rb[30]++
	return tx.putIndex(map[uint32][]byte{0: rb, nl: node})
}

// putIndex sets the checksums of index blocks and stores them.
func (tx *htreeTx) putIndex(blocks map[uint32][]byte) error {
	for l, b := range blocks {
		if err := SetDxChecksum(b, tx.p); err != nil {
			return err
		}
		tx.put(l, b)
		tx.index[l] = true
	}
	return nil
}

func putCountLimit(b []byte, off, limit, count int) {
	binary.LittleEndian.PutUint16(b[off:], uint16(limit))
	binary.LittleEndian.PutUint16(b[off+2:], uint16(count))
}

// dxInsertBlock is dx_insert_block: a new dx_entry (hash, blk) right after
// entry at.
func dxInsertBlock(b []byte, off, at int, hash, blk uint32) error {
	count, limit := dxCount(b, off), dxLimit(b, off)
	if count >= limit || at >= count {
		return super.Errorf(super.ErrCorrupt, "htree index block", super.NoBlock, int64(off), "no room for a dx_entry (count %d, limit %d)", count, limit)
	}
	pos := off + DxEntrySize*(at+1)
	copy(b[pos+DxEntrySize:], b[pos:off+DxEntrySize*count])
	binary.LittleEndian.PutUint32(b[pos:], hash)
	binary.LittleEndian.PutUint32(b[pos+4:], blk)
	putCountLimit(b, off, limit, count+1)
	return nil
}

// verify re-reads the result: every written block validates, and the name
// is found through the new tree in the leaf it was put in.
func (tx *htreeTx) verify(n NewEntry) error {
	for l, b := range tx.dirty {
		var err error
		switch {
		case l == 0:
			err = CheckDxRoot(b, tx.p)
		case tx.index[l]:
			err = CheckDxNode(b, tx.p)
		default:
			err = ValidateLeaf(b, tx.p)
		}
		if err == nil && tx.index[l] && !VerifyDxChecksum(b, tx.p) {
			err = fmt.Errorf("logical block %d: dx_tail checksum does not verify", l)
		}
		if err != nil {
			return lblkError(err, l)
		}
	}
	lblk, e, found, err := FindIndexed(tx.p, n.Name, tx.get)
	switch {
	case err != nil:
		return err
	case !found || lblk != tx.leaf || e.Inode != n.Inode:
		return fmt.Errorf("the new name is not found where it was put (found %v in %d, put in %d)", found, lblk, tx.leaf)
	}
	return nil
}
