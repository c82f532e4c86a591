package inode

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"slices"
)

// Cut is the outcome of truncating a block map at a logical block, as the
// kernel's ext4_ext_remove_space / ext4_ind_truncate leave it. Nothing has
// been written or freed: IBlock is the inode's new i_block; Blocks holds
// every surviving tree or indirect block whose content changes (checksums
// set); Freed lists the data runs no longer mapped and FreedMeta the tree
// or indirect blocks no longer referenced. The caller frees them through
// its allocator and lowers i_blocks.
type Cut struct {
	IBlock    [BlockBytes]byte
	Blocks    map[uint64][]byte
	Freed     []Run
	FreedMeta []uint64
}

// FreedData is the number of data blocks the cut unmaps.
func (c *Cut) FreedData() uint64 {
	var n uint64
	for _, r := range c.Freed {
		n += uint64(r.Len)
	}
	return n
}

// TruncateExtents removes every block at or past logical block from from
// an extent tree of any depth: extents wholly past it are dropped, one
// straddling it is shortened (an unwritten one stays unwritten), tree
// blocks left without entries are released and their index entries
// removed, and a root left without entries becomes an empty leaf
// (eh_depth 0), as ext4_ext_remove_space leaves a tree emptied by a
// truncate. Then, while everything one level below the root fits in the
// root, that level is pulled up into it and its blocks released (as
// ext4_ext_try_to_merge_up does for one leaf, and as e2fsck would
// rebuild a tree it finds "could be shorter"). The whole tree is mapped
// and validated first.
func TruncateExtents(iblock []byte, from uint32, p MapParams, read ReadFunc) (*Cut, error) {
	if _, err := MapExtents(iblock, p, read); err != nil {
		return nil, err
	}
	root, err := DecodeExtentRoot(iblock, p)
	if err != nil {
		return nil, err
	}
	c := &Cut{Blocks: map[uint64][]byte{}}
	t := &extCut{p: p, read: read, from: from, cut: c}
	if _, err := t.node(root); err != nil {
		return nil, err
	}
	if root.Count() == 0 && root.Header.Depth > 0 {
		root.Header.Depth, root.Header.Max = 0, RootMaxEntries
	}
	if err := t.shorten(root); err != nil {
		return nil, err
	}
	copy(c.IBlock[:], root.Encode())
	return c, nil
}

// shorten pulls the level below the root into the root while it fits.
func (t *extCut) shorten(root *ExtentNode) error {
	for root.Header.Depth > 0 {
		var children []*ExtentNode
		n := 0
		for _, x := range root.Index {
			b, ok := t.cut.Blocks[x.Leaf()]
			if !ok {
				var err error
				if b, err = t.p.read(t.read, x.Leaf()); err != nil {
					return err
				}
			}
			child, err := DecodeExtentNode(b)
			if err != nil {
				return err
			}
			if err := child.Validate(t.p, NodeCheck{Depth: int(root.Header.Depth) - 1, Block: x.Leaf(), First: x.Block}); err != nil {
				return err
			}
			children = append(children, child)
			n += child.Count()
		}
		if n > int(root.Header.Max) {
			return nil
		}
		before := root.Count()
		blocks := root.Index
		root.Index, root.Extents = nil, nil
		for _, child := range children {
			root.Index = append(root.Index, child.Index...)
			root.Extents = append(root.Extents, child.Extents...)
		}
		root.Header.Depth--
		root.Header.Entries = uint16(n)
		for k := n; k < before; k++ {
			clear(root.Raw[ExtentHeaderSize+k*ExtentEntrySize : ExtentHeaderSize+(k+1)*ExtentEntrySize])
		}
		for _, x := range blocks {
			t.cut.FreedMeta = append(t.cut.FreedMeta, x.Leaf())
			delete(t.cut.Blocks, x.Leaf())
		}
	}
	return nil
}

type extCut struct {
	p    MapParams
	read ReadFunc
	from uint32
	cut  *Cut
}

// node cuts node n in place and reports whether it changed.
func (t *extCut) node(n *ExtentNode) (bool, error) {
	before := n.Count()
	changed := false
	if n.IsLeaf() {
		keep := n.Extents[:0]
		for _, e := range n.Extents {
			switch end := uint64(e.Block) + uint64(e.Length()); {
			case end <= uint64(t.from):
				keep = append(keep, e)
			case e.Block >= t.from:
				t.cut.Freed = append(t.cut.Freed, Run{Logical: e.Block, Len: e.Length(), Physical: e.Start(), Unwritten: e.Unwritten()})
				changed = true
			default:
				n0 := t.from - e.Block
				t.cut.Freed = append(t.cut.Freed, Run{Logical: t.from, Len: e.Length() - n0, Physical: e.Start() + uint64(n0), Unwritten: e.Unwritten()})
				if e.Unwritten() {
					e.Len = uint16(n0 + InitMaxLen)
				} else {
					e.Len = uint16(n0)
				}
				keep = append(keep, e)
				changed = true
			}
		}
		n.Extents = keep
	} else {
		keep := n.Index[:0]
		for _, x := range n.Index {
			child, err := readExtentNode(t.p, t.read, x, int(n.Header.Depth)-1)
			if err != nil {
				return false, err
			}
			if x.Block >= t.from {
				if err := t.all(child, x.Leaf()); err != nil {
					return false, err
				}
				changed = true
				continue
			}
			childChanged, err := t.node(child)
			if err != nil {
				return false, err
			}
			if child.Count() == 0 {
				t.cut.FreedMeta = append(t.cut.FreedMeta, x.Leaf())
				delete(t.cut.Blocks, x.Leaf())
				changed = true
				continue
			}
			if childChanged {
				child.SetChecksum(t.p.Csum, t.p.Seed)
				t.cut.Blocks[x.Leaf()] = child.Encode()
			}
			keep = append(keep, x)
		}
		n.Index = keep
	}
	if changed {
		// Clear the slots of removed entries, as the kernel's memmove and
		// memset in ext4_ext_rm_leaf / ext4_ext_rm_idx leave them.
		n.Header.Entries = uint16(n.Count())
		for k := n.Count(); k < before; k++ {
			off := ExtentHeaderSize + k*ExtentEntrySize
			if off+ExtentEntrySize <= len(n.Raw) {
				clear(n.Raw[off : off+ExtentEntrySize])
			}
		}
	}
	return changed, nil
}

// all releases the whole subtree under n (block blk).
func (t *extCut) all(n *ExtentNode, blk uint64) error {
	t.cut.FreedMeta = append(t.cut.FreedMeta, blk)
	if n.IsLeaf() {
		for _, e := range n.Extents {
			t.cut.Freed = append(t.cut.Freed, Run{Logical: e.Block, Len: e.Length(), Physical: e.Start(), Unwritten: e.Unwritten()})
		}
		return nil
	}
	for _, x := range n.Index {
		child, err := readExtentNode(t.p, t.read, x, int(n.Header.Depth)-1)
		if err != nil {
			return err
		}
		if err := t.all(child, x.Leaf()); err != nil {
			return err
		}
	}
	return nil
}

// TruncateIndirect removes every block at or past logical block from from
// an indirect block map, as ext4_ind_truncate does: data pointers at or
// past it are cleared, indirect blocks that no longer point at anything
// are released and the pointers to them cleared. The whole map is walked
// and validated first.
func TruncateIndirect(iblock []byte, from uint64, p MapParams, read ReadFunc) (*Cut, error) {
	if _, err := MapIndirect(iblock, p, read); err != nil {
		return nil, err
	}
	c := &Cut{Blocks: map[uint64][]byte{}}
	copy(c.IBlock[:], iblock)
	w := &indCut{p: p, read: read, ptr: addrPerBlock(p.BlockSize), from: from, cut: c}
	for k := range NBlocks {
		at := c.IBlock[4*k : 4*k+4]
		b := uint64(binary.LittleEndian.Uint32(at))
		if b == 0 {
			continue
		}
		if k < NDirBlocks {
			if uint64(k) >= from {
				w.freeData(uint64(k), b)
				clear(at)
			}
			continue
		}
		base, level := rootBase(w.ptr, k)
		empty, err := w.indirect(b, level, base)
		if err != nil {
			return nil, err
		}
		if empty {
			clear(at)
		}
	}
	// Merge the freed data blocks into runs.
	slices.SortFunc(c.Freed, func(a, b Run) int { return cmp.Compare(a.Logical, b.Logical) })
	m := &BlockMap{Format: FormatIndirect}
	for _, r := range c.Freed {
		m.add(r)
	}
	c.Freed = m.Runs
	return c, nil
}

type indCut struct {
	p    MapParams
	read ReadFunc
	ptr  uint64
	from uint64
	cut  *Cut
}

func (w *indCut) freeData(lblk, b uint64) {
	w.cut.Freed = append(w.cut.Freed, Run{Logical: uint32(lblk), Len: 1, Physical: b})
}

// indirect cuts indirect block b (at level, mapping from base) and reports
// whether it is left without any pointer, in which case it is released.
func (w *indCut) indirect(b uint64, level int, base uint64) (bool, error) {
	span := levelSpan(w.ptr, level)
	if base >= w.from {
		return true, w.release(b, level, base)
	}
	if base+span*w.ptr <= w.from {
		return false, nil // wholly before the cut
	}
	orig, err := w.p.read(w.read, b)
	if err != nil {
		return false, err
	}
	blk := bytes.Clone(orig)
	empty := true
	for k := range w.ptr {
		at := blk[4*k : 4*k+4]
		c := uint64(binary.LittleEndian.Uint32(at))
		if c == 0 {
			continue
		}
		lblk := base + k*span
		switch {
		case level == 1 && lblk >= w.from:
			w.freeData(lblk, c)
			clear(at)
		case level > 1:
			gone, err := w.indirect(c, level-1, lblk)
			if err != nil {
				return false, err
			}
			if gone {
				clear(at)
			} else {
				empty = false
			}
		default:
			empty = false
		}
	}
	if empty {
		w.cut.FreedMeta = append(w.cut.FreedMeta, b)
		return true, nil
	}
	if !bytes.Equal(blk, orig) {
		w.cut.Blocks[b] = blk
	}
	return false, nil
}

// release frees indirect block b and everything under it.
func (w *indCut) release(b uint64, level int, base uint64) error {
	blk, err := w.p.read(w.read, b)
	if err != nil {
		return err
	}
	w.cut.FreedMeta = append(w.cut.FreedMeta, b)
	span := levelSpan(w.ptr, level)
	for k := range w.ptr {
		c := uint64(binary.LittleEndian.Uint32(blk[4*k:]))
		if c == 0 {
			continue
		}
		if level == 1 {
			w.freeData(base+k*span, c)
		} else if err := w.release(c, level-1, base+k*span); err != nil {
			return err
		}
	}
	return nil
}
