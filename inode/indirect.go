package inode

import (
	"bytes"
	"encoding/binary"

	"github.com/ext4relink/ext4relink/super"
)

// Indirect block map layout (ext2/ext3, fs/ext4/indirect.c): i_block[0..11]
// point at data blocks, i_block[12] at an indirect block, [13] at a double
// indirect block, [14] at a triple indirect block. Every indirect block is
// an array of blocksize/4 little-endian 32-bit block numbers; 0 is a hole.
const (
	NDirBlocks = 12 // EXT4_NDIR_BLOCKS
	IndBlock   = 12 // EXT4_IND_BLOCK
	DindBlock  = 13 // EXT4_DIND_BLOCK
	TindBlock  = 14 // EXT4_TIND_BLOCK
)

// addrPerBlock is EXT4_ADDR_PER_BLOCK.
func addrPerBlock(blockSize uint32) uint64 { return uint64(blockSize / 4) }

// IBlockWords splits i_block into its 15 little-endian words.
func IBlockWords(iblock []byte) [NBlocks]uint32 {
	var w [NBlocks]uint32
	for k := range w {
		if 4*k+4 <= len(iblock) {
			w[k] = binary.LittleEndian.Uint32(iblock[4*k:])
		}
	}
	return w
}

// DecodeIndirectBlock reads an indirect block's blocksize/4 pointers.
func DecodeIndirectBlock(b []byte) []uint32 {
	ptrs := make([]uint32, len(b)/4)
	for k := range ptrs {
		ptrs[k] = binary.LittleEndian.Uint32(b[4*k:])
	}
	return ptrs
}

// EncodeIndirectBlock writes pointers back as an indirect block.
func EncodeIndirectBlock(ptrs []uint32) []byte {
	b := make([]byte, 4*len(ptrs))
	for k, p := range ptrs {
		binary.LittleEndian.PutUint32(b[4*k:], p)
	}
	return b
}

// IndirectLimit is one past the largest logical block an indirect map can
// address: 12 + P + P² + P³ with P = blocksize/4, capped at 2³².
func IndirectLimit(blockSize uint32) uint64 {
	ptr := addrPerBlock(blockSize)
	return min(NDirBlocks+ptr+ptr*ptr+ptr*ptr*ptr, 1<<32)
}

// levelSpan is the number of logical blocks one pointer at level covers
// (level 1: a data block pointer inside an indirect block).
func levelSpan(ptr uint64, level int) uint64 {
	s := uint64(1)
	for range level - 1 {
		s *= ptr
	}
	return s
}

// rootBase gives the first logical block under i_block[k] (k >= 12) and its level.
func rootBase(ptr uint64, k int) (base uint64, level int) {
	switch k {
	case IndBlock:
		return NDirBlocks, 1
	case DindBlock:
		return NDirBlocks + ptr, 2
	}
	return NDirBlocks + ptr + ptr*ptr, 3
}

// MapIndirect walks an indirect block map from i_block, reading indirect
// blocks through read. Every nonzero pointer must lie inside the
// filesystem (as __ext4_check_blockref requires), an indirect block met
// twice is corruption, and data blocks past 2³² logical blocks are refused.
// Contiguous blocks are merged into runs; holes are skipped.
func MapIndirect(iblock []byte, p MapParams, read ReadFunc) (*BlockMap, error) {
	if err := p.check(); err != nil {
		return nil, err
	}
	if len(iblock) != BlockBytes {
		return nil, p.errf(super.ErrCorrupt, super.NoBlock, -1, "i_block is %d bytes, not %d", len(iblock), BlockBytes)
	}
	w := &indWalk{p: p, read: read, ptr: addrPerBlock(p.BlockSize), seen: map[uint64]bool{}, m: &BlockMap{Format: FormatIndirect}}
	words := IBlockWords(iblock)
	for k, b := range words {
		if b == 0 {
			continue
		}
		if k < NDirBlocks {
			if err := w.data(uint64(k), uint64(b), super.NoBlock, int64(offBlock+4*k)); err != nil {
				return nil, err
			}
			continue
		}
		base, level := rootBase(w.ptr, k)
		if err := w.indirect(uint64(b), level, base, super.NoBlock, int64(offBlock+4*k)); err != nil {
			return nil, err
		}
	}
	return w.m, nil
}

type indWalk struct {
	p    MapParams
	read ReadFunc
	ptr  uint64
	seen map[uint64]bool
	m    *BlockMap
}

// data records data block b at logical block lblk; where/off locate the pointer.
func (w *indWalk) data(lblk, b uint64, where uint64, off int64) error {
	if !w.p.validRange(b, 1) {
		return w.p.errf(super.ErrCorrupt, where, off, "block pointer %d is outside [%d,%d)", b, w.p.FirstDataBlock, w.p.BlocksCount)
	}
	if lblk >= 1<<32 {
		return w.p.errf(super.ErrCorrupt, where, off, "data block at logical block %d is past the 32-bit limit", lblk)
	}
	w.m.add(Run{Logical: uint32(lblk), Len: 1, Physical: b})
	return nil
}

// indirect walks indirect block b of the given level whose first pointer
// maps logical block base.
func (w *indWalk) indirect(b uint64, level int, base uint64, where uint64, off int64) error {
	if !w.p.validRange(b, 1) {
		return w.p.errf(super.ErrCorrupt, where, off, "indirect block pointer %d is outside [%d,%d)", b, w.p.FirstDataBlock, w.p.BlocksCount)
	}
	if w.seen[b] {
		return w.p.errf(super.ErrCorrupt, where, off, "indirect block %d is referenced twice", b)
	}
	w.seen[b] = true
	w.m.Meta = append(w.m.Meta, b)
	w.m.Depth = max(w.m.Depth, level)
	blk, err := w.p.read(w.read, b)
	if err != nil {
		return err
	}
	span := levelSpan(w.ptr, level)
	for k := range w.ptr {
		c := uint64(binary.LittleEndian.Uint32(blk[4*k:]))
		if c == 0 {
			continue
		}
		lblk := base + k*span
		if level == 1 {
			err = w.data(lblk, c, b, int64(4*k))
		} else {
			err = w.indirect(c, level-1, lblk, b, int64(4*k))
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// indPath is ext4_block_to_path: the i_block slot and the index at each
// indirect level leading to logical block lblk.
func indPath(lblk uint64, ptr uint64) (slot int, idx []uint64, ok bool) {
	switch {
	case lblk < NDirBlocks:
		return int(lblk), nil, true
	case lblk-NDirBlocks < ptr:
		return IndBlock, []uint64{lblk - NDirBlocks}, true
	}
	l := lblk - NDirBlocks - ptr
	if l < ptr*ptr {
		return DindBlock, []uint64{l / ptr, l % ptr}, true
	}
	l -= ptr * ptr
	if l < ptr*ptr*ptr {
		return TindBlock, []uint64{l / (ptr * ptr), l / ptr % ptr, l % ptr}, true
	}
	return 0, nil, false
}

// AppendIndirect maps logical block lblk (which must be a hole) to physical
// block phys in an indirect block map, as ext4_ind_map_blocks does when it
// allocates: missing indirect blocks on the way come from alloc (goal
// phys), zero-filled but for the one pointer. With a nil alloc it returns
// ErrNeedBlock when an indirect block is missing. Indirect blocks carry no
// checksum. The whole map is walked and validated first.
func AppendIndirect(iblock []byte, lblk uint32, phys uint64, p MapParams, read ReadFunc, alloc AllocFunc) (*Growth, error) {
	if _, err := MapIndirect(iblock, p, read); err != nil {
		return nil, err
	}
	if !p.validRange(phys, 1) || phys >= 1<<32 {
		return nil, p.errf(super.ErrCorrupt, super.NoBlock, -1, "new block %d is outside the filesystem or 32-bit range", phys)
	}
	slot, idx, ok := indPath(uint64(lblk), addrPerBlock(p.BlockSize))
	if !ok {
		return nil, p.errf(super.ErrUnsupported, super.NoBlock, -1, "logical block %d is beyond the triple indirect block", lblk)
	}
	g := &Growth{Blocks: map[uint64][]byte{}}
	copy(g.IBlock[:], iblock)
	orig := map[uint64][]byte{}
	ptrAt := g.IBlock[4*slot : 4*slot+4]
	for _, k := range idx {
		blk, err := g.descend(ptrAt, p, read, alloc, phys, orig)
		if err != nil {
			return nil, err
		}
		ptrAt = g.Blocks[blk][4*k : 4*k+4]
	}
	if binary.LittleEndian.Uint32(ptrAt) != 0 {
		return nil, p.errf(super.ErrUnsupported, super.NoBlock, -1, "logical block %d is already mapped", lblk)
	}
	binary.LittleEndian.PutUint32(ptrAt, uint32(phys))
	for b, o := range orig {
		if bytes.Equal(o, g.Blocks[b]) {
			delete(g.Blocks, b)
		}
	}
	return g, nil
}

// descend follows (or creates) the indirect block the pointer ptrAt names
// and returns its number, with its content staged in g.Blocks (and, for
// existing blocks, the original content in orig).
func (g *Growth) descend(ptrAt []byte, p MapParams, read ReadFunc, alloc AllocFunc, goal uint64, orig map[uint64][]byte) (uint64, error) {
	if b := uint64(binary.LittleEndian.Uint32(ptrAt)); b != 0 {
		if !p.validRange(b, 1) {
			return 0, p.errf(super.ErrCorrupt, super.NoBlock, -1, "indirect block pointer %d is outside the filesystem", b)
		}
		if _, ok := g.Blocks[b]; ok {
			return 0, p.errf(super.ErrCorrupt, b, -1, "indirect block %d is referenced twice", b)
		}
		content, err := p.read(read, b)
		if err != nil {
			return 0, err
		}
		g.Blocks[b] = append([]byte(nil), content...)
		orig[b] = append([]byte(nil), content...)
		return b, nil
	}
	if alloc == nil {
		return 0, needBlock(p, "mapping the block")
	}
	b, err := alloc(goal)
	if err != nil {
		return 0, err
	}
	if !p.validRange(b, 1) || b >= 1<<32 {
		return 0, p.errf(super.ErrCorrupt, b, -1, "allocator returned block %d, unusable in an indirect map", b)
	}
	if _, dup := g.Blocks[b]; dup {
		return 0, p.errf(super.ErrCorrupt, b, -1, "allocator returned block %d twice", b)
	}
	binary.LittleEndian.PutUint32(ptrAt, uint32(b))
	g.Blocks[b] = make([]byte, p.BlockSize)
	g.New = append(g.New, b)
	return b, nil
}
