package inode

import (
	"github.com/ext4relink/ext4relink/super"
)

// Lost is a range of logical blocks a salvaging walk could not map: the
// subtree below a tree block that failed to read, decode, validate or
// verify. End is exclusive; 1<<32 means "to the end of the file".
type Lost struct {
	Start, End uint64
	Block      uint64 // the tree block at fault
	Err        error  // why
}

// SalvageExtents is MapExtents for a damaged tree, for copying out what can
// still be read (extract --ignore-errors): a tree block that fails to read,
// decode, validate or verify is skipped, and the logical range its parent
// index entry covers (up to the next entry, or the parent's own bound) is
// reported as Lost instead of failing the walk. A damaged root (i_block)
// is still an error: nothing below it can be trusted. Nothing is guessed:
// a skipped block's entries are never used.
func SalvageExtents(iblock []byte, p MapParams, read ReadFunc) (*BlockMap, []Lost, error) {
	if err := p.check(); err != nil {
		return nil, nil, err
	}
	root, err := DecodeExtentRoot(iblock, p)
	if err != nil {
		return nil, nil, err
	}
	s := &salvage{extWalk: extWalk{p: p, read: read, seen: map[uint64]bool{}, m: &BlockMap{Format: FormatExtents, Depth: int(root.Header.Depth)}}}
	s.node(root, super.NoBlock, 1<<32)
	return s.m, s.lost, nil
}

type salvage struct {
	extWalk
	lost []Lost
}

// node walks n, whose entries cover logical blocks below bound.
func (s *salvage) node(n *ExtentNode, blk uint64, bound uint64) {
	if n.IsLeaf() {
		s.leaf(n, blk, bound)
		return
	}
	for k, x := range n.Index {
		end := bound
		if k+1 < len(n.Index) {
			end = min(bound, uint64(n.Index[k+1].Block))
		}
		if s.seen[x.Leaf()] {
			s.lose(uint64(x.Block), end, blk, s.p.errf(super.ErrCorrupt, blk, -1, "tree block %d is referenced twice", x.Leaf()))
			continue
		}
		s.seen[x.Leaf()] = true
		s.m.Meta = append(s.m.Meta, x.Leaf())
		child, err := readExtentNode(s.p, s.read, x, int(n.Header.Depth)-1)
		if err != nil {
			s.lose(uint64(x.Block), end, x.Leaf(), err)
			continue
		}
		s.node(child, x.Leaf(), end)
	}
}

func (s *salvage) leaf(n *ExtentNode, blk uint64, bound uint64) {
	for _, e := range n.Extents {
		end := uint64(e.Block) + uint64(e.Length())
		if uint64(e.Block) < s.m.End() || end > bound {
			s.lose(uint64(e.Block), min(end, bound), blk, s.p.errf(super.ErrCorrupt, blk, -1,
				"extent at logical block %d overlaps its neighbours or lies outside its index range", e.Block))
			continue
		}
		s.m.add(Run{Logical: e.Block, Len: e.Length(), Physical: e.Start(), Unwritten: e.Unwritten()})
	}
}

func (s *salvage) lose(start, end, blk uint64, err error) {
	if end <= start {
		return
	}
	s.lost = append(s.lost, Lost{Start: start, End: end, Block: blk, Err: err})
}
