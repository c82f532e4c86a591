package inode

import (
	"encoding/binary"

	"github.com/ext4relink/ext4relink/internal/layout"
	"github.com/ext4relink/ext4relink/super"
)

// Extent tree constants (fs/ext4/ext4_extents.h).
const (
	ExtentMagic      = 0xF30A
	ExtentHeaderSize = 12 // sizeof(struct ext4_extent_header)
	ExtentEntrySize  = 12 // sizeof(struct ext4_extent) == sizeof(struct ext4_extent_idx)
	ExtentTailSize   = 4  // sizeof(struct ext4_extent_tail)
	MaxExtentDepth   = 5  // EXT4_MAX_EXTENT_DEPTH
	InitMaxLen       = 1 << 15
	UnwrittenMaxLen  = InitMaxLen - 1
	// RootMaxEntries is the capacity of the root node in i_block.
	RootMaxEntries = (BlockBytes - ExtentHeaderSize) / ExtentEntrySize
)

// BlockMaxEntries is the capacity of a tree block: (blocksize-12)/12.
func BlockMaxEntries(blockSize uint32) int {
	return (int(blockSize) - ExtentHeaderSize) / ExtentEntrySize
}

// ExtentHeader is struct ext4_extent_header.
type ExtentHeader struct {
	Magic      uint16 // 0x0 eh_magic
	Entries    uint16 // 0x2 eh_entries
	Max        uint16 // 0x4 eh_max
	Depth      uint16 // 0x6 eh_depth
	Generation uint32 // 0x8 eh_generation
}

func (h *ExtentHeader) fields() []layout.Field {
	return []layout.Field{layout.F(0, &h.Magic), layout.F(2, &h.Entries), layout.F(4, &h.Max),
		layout.F(6, &h.Depth), layout.F(8, &h.Generation)}
}

// Extent is struct ext4_extent, a leaf entry.
type Extent struct {
	Block   uint32 // 0x0 ee_block: first logical block
	Len     uint16 // 0x4 ee_len: > 32768 marks an unwritten extent
	StartHi uint16 // 0x6 ee_start_hi
	StartLo uint32 // 0x8 ee_start_lo
}

func (e *Extent) fields() []layout.Field {
	return []layout.Field{layout.F(0, &e.Block), layout.F(4, &e.Len), layout.F(6, &e.StartHi), layout.F(8, &e.StartLo)}
}

// Start is the first physical block.
func (e *Extent) Start() uint64 { return uint64(e.StartHi)<<32 | uint64(e.StartLo) }

// SetStart stores the first physical block.
func (e *Extent) SetStart(b uint64) { e.StartLo, e.StartHi = uint32(b), uint16(b>>32) }

// Unwritten reports an unwritten (preallocated) extent: ee_len > 32768.
func (e *Extent) Unwritten() bool { return e.Len > InitMaxLen }

// Length is the number of blocks, without the unwritten marker.
func (e *Extent) Length() uint32 {
	if e.Len > InitMaxLen {
		return uint32(e.Len) - InitMaxLen
	}
	return uint32(e.Len)
}

// ExtentIdx is struct ext4_extent_idx, an index entry.
type ExtentIdx struct {
	Block  uint32 // 0x0 ei_block: first logical block the subtree covers
	LeafLo uint32 // 0x4 ei_leaf_lo
	LeafHi uint16 // 0x8 ei_leaf_hi
	Unused uint16 // 0xA ei_unused
}

func (x *ExtentIdx) fields() []layout.Field {
	return []layout.Field{layout.F(0, &x.Block), layout.F(4, &x.LeafLo), layout.F(8, &x.LeafHi), layout.F(10, &x.Unused)}
}

// Leaf is the physical block of the child node.
func (x *ExtentIdx) Leaf() uint64 { return uint64(x.LeafHi)<<32 | uint64(x.LeafLo) }

// SetLeaf stores the child node's block.
func (x *ExtentIdx) SetLeaf(b uint64) { x.LeafLo, x.LeafHi = uint32(b), uint16(b>>32) }

// ExtentNode is one node of an extent tree: the root (60 bytes of i_block)
// or a tree block. Extents holds the entries of a leaf (Depth 0), Index
// those of an index node. Tail is struct ext4_extent_tail (et_checksum),
// meaningful for tree blocks only. Raw keeps the node's bytes so that
// Encode reproduces everything no field covers.
type ExtentNode struct {
	Header  ExtentHeader
	Extents []Extent
	Index   []ExtentIdx
	Tail    uint32
	Raw     []byte
}

// DecodeExtentNode parses a node of len(b) bytes (60 for the root, the block
// size for tree blocks). It reads eh_entries entries but no further than b
// allows, and the tail when eh_max leaves room for it; see Validate.
func DecodeExtentNode(b []byte) (*ExtentNode, error) {
	if len(b) < ExtentHeaderSize {
		return nil, super.Errorf(super.ErrCorrupt, "extent node", super.NoBlock, -1, "short node: %d bytes", len(b))
	}
	n := &ExtentNode{Raw: append([]byte(nil), b...)}
	layout.Decode(b, n.Header.fields())
	cnt := min(int(n.Header.Entries), (len(b)-ExtentHeaderSize)/ExtentEntrySize)
	for k := range cnt {
		e := b[ExtentHeaderSize+k*ExtentEntrySize:]
		if n.Header.Depth == 0 {
			var x Extent
			layout.Decode(e[:ExtentEntrySize], x.fields())
			n.Extents = append(n.Extents, x)
		} else {
			var x ExtentIdx
			layout.Decode(e[:ExtentEntrySize], x.fields())
			n.Index = append(n.Index, x)
		}
	}
	if off := n.tailOffset(); off+ExtentTailSize <= len(b) {
		n.Tail = binary.LittleEndian.Uint32(b[off:])
	}
	return n, nil
}

// tailOffset is EXT4_EXTENT_TAIL_OFFSET: just past eh_max entries.
func (n *ExtentNode) tailOffset() int {
	return ExtentHeaderSize + ExtentEntrySize*int(n.Header.Max)
}

// IsLeaf reports a leaf node (eh_depth 0).
func (n *ExtentNode) IsLeaf() bool { return n.Header.Depth == 0 }

// Count is the number of decoded entries.
func (n *ExtentNode) Count() int { return len(n.Extents) + len(n.Index) }

// Encode returns the node's bytes, len(Raw) long: header, entries and, for
// tree blocks, the tail. Bytes past the entries are kept from Raw. Callers
// that add or remove entries also set Header.Entries.
func (n *ExtentNode) Encode() []byte {
	b := append([]byte(nil), n.Raw...)
	layout.Encode(b, n.Header.fields())
	for k := range n.Extents {
		off := ExtentHeaderSize + k*ExtentEntrySize
		if off+ExtentEntrySize <= len(b) {
			layout.Encode(b[off:off+ExtentEntrySize], n.Extents[k].fields())
		}
	}
	for k := range n.Index {
		off := ExtentHeaderSize + k*ExtentEntrySize
		if off+ExtentEntrySize <= len(b) {
			layout.Encode(b[off:off+ExtentEntrySize], n.Index[k].fields())
		}
	}
	if off := n.tailOffset(); off+ExtentTailSize <= len(b) && len(b) > BlockBytes {
		binary.LittleEndian.PutUint32(b[off:], n.Tail)
	}
	return b
}

// ExtentBlockChecksum is ext4_extent_block_csum: crc32c from the inode's
// seed over the block up to the tail (header and eh_max entry slots).
func ExtentBlockChecksum(seed uint32, block []byte) uint32 {
	end := len(block)
	if len(block) >= ExtentHeaderSize {
		max := int(binary.LittleEndian.Uint16(block[4:]))
		end = min(ExtentHeaderSize+ExtentEntrySize*max, len(block))
	}
	return super.Crc32c(seed, block[:end])
}

// Checksum computes et_checksum of a tree block node.
func (n *ExtentNode) Checksum(seed uint32) uint32 { return ExtentBlockChecksum(seed, n.Encode()) }

// VerifyChecksum reports whether the tail matches; true when csum is off.
func (n *ExtentNode) VerifyChecksum(csum bool, seed uint32) bool {
	return !csum || n.Checksum(seed) == n.Tail
}

// SetChecksum stores the tail checksum when csum is on.
func (n *ExtentNode) SetChecksum(csum bool, seed uint32) {
	if csum {
		n.Tail = n.Checksum(seed)
	}
}

// NodeCheck says where a node sits in its tree, for Validate.
type NodeCheck struct {
	Root  bool   // the node is i_block, not a tree block
	Depth int    // the depth the parent expects (the root's own eh_depth for the root)
	Block uint64 // the tree block's number, super.NoBlock for the root
	First uint32 // for tree blocks: the parent's ei_block, which must equal the first entry's block
}

// Validate checks one node as the kernel's __ext4_ext_check does: magic,
// depth, eh_max against the space, eh_entries against eh_max, entries
// sorted and non-overlapping with nonzero lengths and physical blocks in
// range, the first entry starting where the parent said, and the tail
// checksum of tree blocks.
func (n *ExtentNode) Validate(p MapParams, c NodeCheck) error {
	bad := func(off int64, format string, args ...any) error {
		return p.errf(super.ErrCorrupt, c.Block, off, format, args...)
	}
	h := n.Header
	if h.Magic != ExtentMagic {
		return bad(0, "bad extent magic %#04x", h.Magic)
	}
	if int(h.Depth) != c.Depth || c.Depth > MaxExtentDepth {
		return bad(6, "eh_depth %d, expected %d (at most %d)", h.Depth, c.Depth, MaxExtentDepth)
	}
	space := BlockMaxEntries(p.BlockSize)
	if c.Root {
		space = RootMaxEntries
	}
	if h.Max == 0 || int(h.Max) > space || len(n.Raw) < ExtentHeaderSize+int(h.Max)*ExtentEntrySize {
		return bad(4, "eh_max %d is invalid (room for %d)", h.Max, space)
	}
	if h.Entries > h.Max || n.Count() != int(h.Entries) {
		return bad(2, "eh_entries %d exceeds eh_max %d", h.Entries, h.Max)
	}
	if h.Entries == 0 && h.Depth > 0 {
		return bad(2, "index node without entries")
	}
	if err := n.validateEntries(p, c, bad); err != nil {
		return err
	}
	if !c.Root && !n.VerifyChecksum(p.Csum, p.Seed) {
		return p.errf(super.ErrChecksum, c.Block, int64(n.tailOffset()),
			"extent block checksum %#08x does not match (computed %#08x)", n.Tail, n.Checksum(p.Seed))
	}
	return nil
}

func (n *ExtentNode) validateEntries(p MapParams, c NodeCheck, bad func(int64, string, ...any) error) error {
	var next uint64 // first logical block the next entry may start at
	for k := 0; k < n.Count(); k++ {
		off := int64(ExtentHeaderSize + k*ExtentEntrySize)
		lblk, phys, length := n.entry(k)
		if k == 0 && !c.Root && lblk != c.First {
			return bad(off, "first entry starts at %d, the index says %d", lblk, c.First)
		}
		if uint64(lblk) < next {
			return bad(off, "entry at logical block %d overlaps or is out of order", lblk)
		}
		if n.IsLeaf() && (length == 0 || uint64(lblk)+uint64(length) > 1<<32-1) {
			return bad(off, "extent at %d has invalid length %d", lblk, length)
		}
		if !p.validRange(phys, uint64(length)) {
			return bad(off, "entry points at blocks [%d,+%d) outside [%d,%d)", phys, length, p.FirstDataBlock, p.BlocksCount)
		}
		next = uint64(lblk) + uint64(length)
		if !n.IsLeaf() {
			next = uint64(lblk) + 1
		}
	}
	return nil
}

// entry returns entry k's logical start, physical start and length (1 for
// index entries).
func (n *ExtentNode) entry(k int) (lblk uint32, phys uint64, length uint32) {
	if n.IsLeaf() {
		e := &n.Extents[k]
		return e.Block, e.Start(), e.Length()
	}
	x := &n.Index[k]
	return x.Block, x.Leaf(), 1
}

// NewExtentRoot returns i_block for an empty extent tree, as
// ext4_ext_tree_init writes it.
func NewExtentRoot() [BlockBytes]byte {
	var b [BlockBytes]byte
	n := &ExtentNode{Raw: b[:], Header: ExtentHeader{Magic: ExtentMagic, Max: RootMaxEntries}}
	copy(b[:], n.Encode())
	return b
}
