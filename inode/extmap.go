package inode

import (
	"github.com/ext4relink/ext4relink/super"
)

// DecodeExtentRoot decodes and validates the root node held in i_block.
func DecodeExtentRoot(iblock []byte, p MapParams) (*ExtentNode, error) {
	if len(iblock) != BlockBytes {
		return nil, p.errf(super.ErrCorrupt, super.NoBlock, -1, "i_block is %d bytes, not %d", len(iblock), BlockBytes)
	}
	root, err := DecodeExtentNode(iblock)
	if err != nil {
		return nil, err
	}
	c := NodeCheck{Root: true, Depth: int(root.Header.Depth), Block: super.NoBlock}
	if err := root.Validate(p, c); err != nil {
		return nil, err
	}
	return root, nil
}

// readExtentNode reads, decodes and validates the tree block an index entry
// points at. depth is the depth the child must have.
func readExtentNode(p MapParams, read ReadFunc, x ExtentIdx, depth int) (*ExtentNode, error) {
	b, err := p.read(read, x.Leaf())
	if err != nil {
		return nil, err
	}
	n, err := DecodeExtentNode(b)
	if err != nil {
		return nil, err
	}
	if err := n.Validate(p, NodeCheck{Depth: depth, Block: x.Leaf(), First: x.Block}); err != nil {
		return nil, err
	}
	return n, nil
}

// MapExtents walks an extent tree of any depth (at most 5) from its root in
// i_block, reading tree blocks through read. Every node is validated like
// the kernel's ext4_ext_check, tree block tails are verified when p.Csum is
// set, a block met twice is corruption, and the extents must be sorted and
// non-overlapping across the whole tree.
func MapExtents(iblock []byte, p MapParams, read ReadFunc) (*BlockMap, error) {
	if err := p.check(); err != nil {
		return nil, err
	}
	root, err := DecodeExtentRoot(iblock, p)
	if err != nil {
		return nil, err
	}
	w := &extWalk{p: p, read: read, seen: map[uint64]bool{}, m: &BlockMap{Format: FormatExtents, Depth: int(root.Header.Depth)}}
	if err := w.node(root, super.NoBlock); err != nil {
		return nil, err
	}
	return w.m, nil
}

type extWalk struct {
	p    MapParams
	read ReadFunc
	seen map[uint64]bool
	m    *BlockMap
}

func (w *extWalk) node(n *ExtentNode, blk uint64) error {
	if n.IsLeaf() {
		return w.leaf(n, blk)
	}
	for _, x := range n.Index {
		if w.seen[x.Leaf()] {
			return w.p.errf(super.ErrCorrupt, blk, -1, "tree block %d is referenced twice", x.Leaf())
		}
		w.seen[x.Leaf()] = true
		w.m.Meta = append(w.m.Meta, x.Leaf())
		child, err := readExtentNode(w.p, w.read, x, int(n.Header.Depth)-1)
		if err != nil {
			return err
		}
		if err := w.node(child, x.Leaf()); err != nil {
			return err
		}
	}
	return nil
}

func (w *extWalk) leaf(n *ExtentNode, blk uint64) error {
	for k, e := range n.Extents {
		if uint64(e.Block) < w.m.End() {
			return w.p.errf(super.ErrCorrupt, blk, int64(ExtentHeaderSize+k*ExtentEntrySize),
				"extent at logical block %d overlaps the previous leaf", e.Block)
		}
		w.m.add(Run{Logical: e.Block, Len: e.Length(), Physical: e.Start(), Unwritten: e.Unwritten()})
	}
	return nil
}
