package inode

import (
	"encoding/binary"

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

// SalvageIndirect is MapIndirect for a damaged map, for extract
// --ignore-errors. Indirect blocks carry no checksum, so a block is
// trusted only whole: one that cannot be read, is met twice, or holds any
// pointer outside the filesystem is skipped entirely, and the logical range
// it maps is reported as Lost (a random or zeroed block cannot pass for a
// map: its pointers are never used). A bad pointer in i_block loses only
// what that pointer maps.
func SalvageIndirect(iblock []byte, p MapParams, read ReadFunc) (*BlockMap, []Lost, error) {
	if err := p.check(); err != nil {
		return nil, nil, err
	}
	if len(iblock) != BlockBytes {
		return nil, nil, p.errf(super.ErrCorrupt, super.NoBlock, -1, "i_block is %d bytes, not %d", len(iblock), BlockBytes)
	}
	w := &indSalvage{indWalk: indWalk{p: p, read: read, ptr: addrPerBlock(p.BlockSize), seen: map[uint64]bool{}, m: &BlockMap{Format: FormatIndirect}}}
	for k, b := range IBlockWords(iblock) {
		switch {
		case b == 0:
		case k < NDirBlocks && !p.validRange(uint64(b), 1):
			w.lose(uint64(k), 1, super.NoBlock, p.errf(super.ErrCorrupt, super.NoBlock, int64(offBlock+4*k), "block pointer %d is outside [%d,%d)", b, p.FirstDataBlock, p.BlocksCount))
		case k < NDirBlocks:
			w.m.add(Run{Logical: uint32(k), Len: 1, Physical: uint64(b)})
		default:
			base, level := rootBase(w.ptr, k)
			w.indirect(uint64(b), level, base)
		}
	}
	return w.m, w.lost, nil
}

type indSalvage struct {
	indWalk
	lost []Lost
}

func (w *indSalvage) lose(lblk, n, blk uint64, err error) {
	w.lost = append(w.lost, Lost{Start: lblk, End: min(lblk+n, 1<<32), Block: blk, Err: err})
}

// indirect walks indirect block b (level 1 maps data blocks) whose first
// pointer maps logical block base, or loses its whole span.
func (w *indSalvage) indirect(b uint64, level int, base uint64) {
	span := levelSpan(w.ptr, level)
	if base >= 1<<32 {
		return
	}
	if !w.p.validRange(b, 1) || w.seen[b] {
		w.lose(base, span*w.ptr, b, w.p.errf(super.ErrCorrupt, b, -1, "indirect block pointer %d is outside the filesystem or referenced twice", b))
		return
	}
	w.seen[b] = true
	blk, err := w.p.read(w.read, b)
	if err != nil {
		w.lose(base, span*w.ptr, b, err)
		return
	}
	for k := range w.ptr {
		if c := uint64(binary.LittleEndian.Uint32(blk[4*k:])); c != 0 && !w.p.validRange(c, 1) {
			w.lose(base, span*w.ptr, b, w.p.errf(super.ErrCorrupt, b, int64(4*k), "pointer %d is outside [%d,%d): the whole indirect block is distrusted", c, w.p.FirstDataBlock, w.p.BlocksCount))
			return
		}
	}
	w.m.Meta = append(w.m.Meta, b)
	w.m.Depth = max(w.m.Depth, level)
	for k := range w.ptr {
		c := uint64(binary.LittleEndian.Uint32(blk[4*k:]))
		lblk := base + k*span
		switch {
		case c == 0 || lblk >= 1<<32:
		case level == 1:
			w.m.add(Run{Logical: uint32(lblk), Len: 1, Physical: c})
		default:
			w.indirect(c, level-1, lblk)
		}
	}
}
