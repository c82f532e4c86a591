package dirent

import (
	"encoding/binary"

	"github.com/ext4relink/ext4relink/internal/layout"
	"github.com/ext4relink/ext4relink/super"
)

// Sizes and offsets of the htree index structures.
const (
	DxEntrySize    = 8          // sizeof(struct dx_entry)
	DxTailSize     = 8          // sizeof(struct dx_tail)
	DxRootInfoSize = 8          // sizeof(struct dx_root_info), the only info_length known
	DxRootCountOff = 32         // dx_countlimit in a dx_root: after '.', '..' and the info
	DxNodeCountOff = 8          // dx_countlimit in a dx_node: after the fake record header
	DxBlockMask    = 0x0fffffff // dx_get_block ignores the top four bits
	// HtreeLevelCompat and HtreeLevel are the most index levels (root
	// included) without and with INCOMPAT_LARGEDIR.
	HtreeLevelCompat = 2
	HtreeLevel       = 3
)

// FakeDirent is struct fake_dirent: a record header with no name, used by
// the '.' and '..' of a dx_root and at the start of a dx_node.
type FakeDirent struct {
	Inode    uint32
	RecLen   uint16 // as stored
	NameLen  uint8
	FileType uint8
}

func (f *FakeDirent) fields(off int) []layout.Field {
	return []layout.Field{
		layout.F(off, &f.Inode), layout.F(off+4, &f.RecLen), layout.F(off+6, &f.NameLen), layout.F(off+7, &f.FileType),
	}
}

// DxRootInfo is struct dx_root_info.
type DxRootInfo struct {
	ReservedZero   uint32 // reserved_zero
	HashVersion    uint8  // hash_version (DX_HASH_*)
	InfoLength     uint8  // info_length: 8
	IndirectLevels uint8  // indirect_levels: index levels below the root
	UnusedFlags    uint8  // unused_flags
}

// DxCountLimit is struct dx_countlimit; it overlays the hash of dx_entry 0.
type DxCountLimit struct {
	Limit uint16 // limit: how many dx_entry fit
	Count uint16 // count: how many are used
}

// DxEntry is struct dx_entry: the first hash of a child and its logical block.
type DxEntry struct {
	Hash  uint32 // hash; meaningless (the count/limit) for entry 0
	Block uint32 // block, a directory logical block (mask with DxBlockMask)
}

// DxTail is struct dx_tail, after the limit entries under metadata_csum.
type DxTail struct {
	Reserved uint32 // dt_reserved
	Checksum uint32 // dt_checksum
}

// DxRoot is struct dx_root, logical block 0 of an indexed directory.
type DxRoot struct {
	Dot        FakeDirent
	DotName    [4]byte
	DotDot     FakeDirent
	DotDotName [4]byte
	Info       DxRootInfo
	CountLimit DxCountLimit
	Entries    []DxEntry // Count entries
	Tail       *DxTail   // nil without metadata_csum
	Raw        []byte    // the whole block, so that Encode reproduces unused bytes
}

// DxNode is struct dx_node, an interior index block.
type DxNode struct {
	Fake       FakeDirent // inode 0, rec_len the whole block
	CountLimit DxCountLimit
	Entries    []DxEntry // Count entries
	Tail       *DxTail   // nil without metadata_csum
	Raw        []byte
}

// RootLimit is dx_root_limit: how many dx_entry fit in a root block.
func RootLimit(p Params) int {
	space := p.BlockSize - RecLen(1) - RecLen(2) - DxRootInfoSize
	if p.Csum {
		space -= DxTailSize
	}
	return space / DxEntrySize
}

// NodeLimit is dx_node_limit: how many dx_entry fit in an interior node.
func NodeLimit(p Params) int {
	space := p.BlockSize - RecLen(0)
	if p.Csum {
		space -= DxTailSize
	}
	return space / DxEntrySize
}

// MaxLevels is ext4_dir_htree_level: the most index levels a tree may have.
func MaxLevels(p Params) int {
	if p.Largedir {
		return HtreeLevel
	}
	return HtreeLevelCompat
}

func le16(b []byte, off int) int    { return int(binary.LittleEndian.Uint16(b[off:])) }
func le32(b []byte, off int) uint32 { return binary.LittleEndian.Uint32(b[off:]) }

// dxCount and dxLimit read the dx_countlimit at off.
func dxLimit(b []byte, off int) int { return le16(b, off) }
func dxCount(b []byte, off int) int { return le16(b, off+2) }

// dxHash and dxBlock read dx_entry i of the array starting at off.
func dxHash(b []byte, off, i int) uint32 {
	if i == 0 {
		return 0
	}
	return le32(b, off+DxEntrySize*i)
}
func dxBlock(b []byte, off, i int) uint32 { return le32(b, off+DxEntrySize*i+4) & DxBlockMask }

func decodeDxEntries(b []byte, off int, cl *DxCountLimit) []DxEntry {
	es := make([]DxEntry, cl.Count)
	for i := range es {
		es[i] = DxEntry{Hash: dxHash(b, off, i), Block: le32(b, off+DxEntrySize*i+4)}
	}
	return es
}

func encodeDxEntries(b []byte, off int, cl *DxCountLimit, es []DxEntry) {
	binary.LittleEndian.PutUint16(b[off:], cl.Limit)
	binary.LittleEndian.PutUint16(b[off+2:], cl.Count)
	for i, e := range es {
		at := off + DxEntrySize*i
		if at+DxEntrySize > len(b) {
			return
		}
		if i > 0 {
			binary.LittleEndian.PutUint32(b[at:], e.Hash)
		}
		binary.LittleEndian.PutUint32(b[at+4:], e.Block)
	}
}

func (r *DxRoot) fields() []layout.Field {
	f := r.Dot.fields(0)
	f = append(f, layout.F(8, r.DotName[:]))
	f = append(f, r.DotDot.fields(12)...)
	f = append(f, layout.F(20, r.DotDotName[:]),
		layout.F(24, &r.Info.ReservedZero), layout.F(28, &r.Info.HashVersion), layout.F(29, &r.Info.InfoLength),
		layout.F(30, &r.Info.IndirectLevels), layout.F(31, &r.Info.UnusedFlags))
	return f
}

// DecodeDxRoot decodes and validates a dx_root block (CheckDxRoot). It does
// not verify the checksum; see VerifyDxChecksum.
func DecodeDxRoot(block []byte, p Params) (*DxRoot, error) {
	if err := CheckDxRoot(block, p); err != nil {
		return nil, err
	}
	r := &DxRoot{Raw: append([]byte(nil), block...)}
	layout.Decode(block, r.fields())
	r.CountLimit = DxCountLimit{Limit: uint16(dxLimit(block, DxRootCountOff)), Count: uint16(dxCount(block, DxRootCountOff))}
	r.Entries = decodeDxEntries(block, DxRootCountOff, &r.CountLimit)
	r.Tail = decodeDxTail(block, DxRootCountOff, p)
	return r, nil
}

// Encode returns the block: Raw with every field written over it.
func (r *DxRoot) Encode() []byte {
	b := append([]byte(nil), r.Raw...)
	layout.Encode(b, r.fields())
	if len(b) >= DxRootCountOff+4 {
		encodeDxEntries(b, DxRootCountOff, &r.CountLimit, r.Entries)
		encodeDxTail(b, DxRootCountOff, int(r.CountLimit.Limit), r.Tail)
	}
	return b
}

// DecodeDxNode decodes and validates a dx_node block (CheckDxNode).
func DecodeDxNode(block []byte, p Params) (*DxNode, error) {
	if err := CheckDxNode(block, p); err != nil {
		return nil, err
	}
	n := &DxNode{Raw: append([]byte(nil), block...)}
	layout.Decode(block, n.Fake.fields(0))
	n.CountLimit = DxCountLimit{Limit: uint16(dxLimit(block, DxNodeCountOff)), Count: uint16(dxCount(block, DxNodeCountOff))}
	n.Entries = decodeDxEntries(block, DxNodeCountOff, &n.CountLimit)
	n.Tail = decodeDxTail(block, DxNodeCountOff, p)
	return n, nil
}

// Encode returns the block: Raw with every field written over it.
func (n *DxNode) Encode() []byte {
	b := append([]byte(nil), n.Raw...)
	layout.Encode(b, n.Fake.fields(0))
	if len(b) >= DxNodeCountOff+4 {
		encodeDxEntries(b, DxNodeCountOff, &n.CountLimit, n.Entries)
		encodeDxTail(b, DxNodeCountOff, int(n.CountLimit.Limit), n.Tail)
	}
	return b
}

func decodeDxTail(b []byte, countOff int, p Params) *DxTail {
	if !p.Csum {
		return nil
	}
	at := countOff + DxEntrySize*dxLimit(b, countOff)
	return &DxTail{Reserved: le32(b, at), Checksum: le32(b, at+4)}
}

func encodeDxTail(b []byte, countOff, limit int, t *DxTail) {
	at := countOff + DxEntrySize*limit
	if t == nil || at+DxTailSize > len(b) {
		return
	}
	binary.LittleEndian.PutUint32(b[at:], t.Reserved)
	binary.LittleEndian.PutUint32(b[at+4:], t.Checksum)
}

// CheckDxRoot validates a dx_root the way the kernel's ext4_check_dx_root and
// dx_probe do, plus e2fsck's hash order: '.' and '..' shaped as the root
// needs them, info_length 8, a known hash version, no unknown flags, depth
// within what the features allow, limit equal to the room in the block,
// 1 <= count <= limit, non-decreasing hashes and no child pointing at block 0.
func CheckDxRoot(block []byte, p Params) error {
	if err := p.checkBlock(block, "dx_root"); err != nil {
		return err
	}
	bad := func(sentinel error, off int, format string, args ...any) error {
		return super.Errorf(sentinel, "dx_root", super.NoBlock, int64(off), format, args...)
	}
	bs := p.BlockSize
	if block[6] != 1 || block[8] != '.' || RecLenFromDisk(uint16(le16(block, 4)), bs) != RecLen(1) {
		return bad(super.ErrCorrupt, 0, "'.' record is not a 12-byte '.'")
	}
	if block[18] != 2 || block[20] != '.' || block[21] != '.' || RecLenFromDisk(uint16(le16(block, 16)), bs) != bs-RecLen(1) {
		return bad(super.ErrCorrupt, 12, "'..' record does not span the rest of the block")
	}
	if err := checkRootInfo(block, p, bad); err != nil {
		return err
	}
	if l := dxLimit(block, DxRootCountOff); l != RootLimit(p) {
		return bad(super.ErrCorrupt, DxRootCountOff, "limit %d is not the root limit %d", l, RootLimit(p))
	}
	return checkDxEntries(block, DxRootCountOff, "dx_root")
}

func checkRootInfo(block []byte, p Params, bad func(error, int, string, ...any) error) error {
	hv, levels := block[28], int(block[30])
	switch {
	case le32(block, 24) != 0:
		return bad(super.ErrCorrupt, 24, "reserved_zero is %#x", le32(block, 24))
	case block[29] != DxRootInfoSize:
		return bad(super.ErrCorrupt, 29, "info_length %d, expected %d", block[29], DxRootInfoSize)
	case hv == HashSiphash:
		return bad(super.ErrUnsupported, 28, "hash version SipHash (casefold with encryption) is not supported")
	case hv > HashTea:
		return bad(super.ErrCorrupt, 28, "unknown hash version %d", hv)
	case block[31]&1 != 0:
		return bad(super.ErrCorrupt, 31, "unimplemented hash flags %#x", block[31])
	}
	if levels >= MaxLevels(p) {
		if levels < HtreeLevel {
			return bad(super.ErrCorrupt, 30, "indirect_levels %d needs the large_dir feature, which is off", levels)
		}
		return bad(super.ErrCorrupt, 30, "indirect_levels %d exceeds the maximum %d", levels, MaxLevels(p)-1)
	}
	return nil
}

// CheckDxNode validates a dx_node: a fake record (inode 0, no name) spanning
// the block, limit equal to the room in the block, 1 <= count <= limit,
// non-decreasing hashes and no child pointing at block 0.
func CheckDxNode(block []byte, p Params) error {
	if err := p.checkBlock(block, "dx_node"); err != nil {
		return err
	}
	bad := func(off int, format string, args ...any) error {
		return super.Errorf(super.ErrCorrupt, "dx_node", super.NoBlock, int64(off), format, args...)
	}
	if le32(block, 0) != 0 || block[6] != 0 || RecLenFromDisk(uint16(le16(block, 4)), p.BlockSize) != p.BlockSize {
		return bad(0, "the fake record is not an empty record spanning the block")
	}
	if l := dxLimit(block, DxNodeCountOff); l != NodeLimit(p) {
		return bad(DxNodeCountOff, "limit %d is not the node limit %d", l, NodeLimit(p))
	}
	return checkDxEntries(block, DxNodeCountOff, "dx_node")
}

// checkDxEntries checks count against limit, the hash order and the child
// block numbers of the dx_entry array at off (limit already checked to fit).
func checkDxEntries(block []byte, off int, structure string) error {
	bad := func(at int, format string, args ...any) error {
		return super.Errorf(super.ErrCorrupt, structure, super.NoBlock, int64(at), format, args...)
	}
	count, limit := dxCount(block, off), dxLimit(block, off)
	if count == 0 || count > limit {
		return bad(off+2, "count %d is not between 1 and limit %d", count, limit)
	}
	prev := uint32(0)
	for i := range count {
		h := dxHash(block, off, i) &^ 1
		if h < prev {
			return bad(off+DxEntrySize*i, "dx_entry %d hash %#08x is below the previous %#08x", i, h, prev)
		}
		prev = h
		if dxBlock(block, off, i) == 0 {
			return bad(off+DxEntrySize*i+4, "dx_entry %d points at logical block 0 (the root)", i)
		}
	}
	return nil
}

// dxCountOffset locates the dx_countlimit of an index block like the
// kernel's get_dx_countlimit: 8 in a node (first record spans the block), 32
// in a root ('.' of 12 bytes, '..' to the end, sane root info).
func dxCountOffset(block []byte, bs int) (int, bool) {
	if len(block) != bs || bs < 64 {
		return 0, false
	}
	switch RecLenFromDisk(uint16(le16(block, 4)), bs) {
	case bs:
		return DxNodeCountOff, block[6] == 0
	case RecLen(1):
		ok := RecLenFromDisk(uint16(le16(block, 16)), bs) == bs-RecLen(1) &&
			le32(block, 24) == 0 && block[29] == DxRootInfoSize
		return DxRootCountOff, ok
	}
	return 0, false
}

// DxChecksum is ext4_dx_csum: crc32c over the block up to the last used
// dx_entry, then over dt_reserved and four zero bytes in place of
// dt_checksum, seeded with the directory seed.
func DxChecksum(block []byte, seed uint32) (uint32, error) {
	off, ok := dxCountOffset(block, len(block))
	if !ok {
		return 0, super.Errorf(super.ErrCorrupt, "htree index block", super.NoBlock, -1, "no dx_countlimit found")
	}
	limit, count := dxLimit(block, off), dxCount(block, off)
	tail := off + DxEntrySize*limit
	if tail > len(block)-DxTailSize || count > limit {
		return 0, super.Errorf(super.ErrCorrupt, "htree index block", super.NoBlock, int64(off),
			"limit %d / count %d leave no room for the dx_tail", limit, count)
	}
	c := super.Crc32c(seed, block[:off+DxEntrySize*count])
	c = super.Crc32c(c, block[tail:tail+4])
	return super.Crc32c(c, make([]byte, 4)), nil
}

// VerifyDxChecksum reports whether an index block's dx_tail holds the right
// checksum; true when metadata_csum is off.
func VerifyDxChecksum(block []byte, p Params) bool {
	if !p.Csum {
		return true
	}
	c, err := DxChecksum(block, p.Seed)
	if err != nil {
		return false
	}
	off, _ := dxCountOffset(block, len(block))
	return le32(block, off+DxEntrySize*dxLimit(block, off)+4) == c
}

// SetDxChecksum stores the checksum in the index block's dx_tail (in place);
// a no-op without metadata_csum.
func SetDxChecksum(block []byte, p Params) error {
	if !p.Csum {
		return nil
	}
	c, err := DxChecksum(block, p.Seed)
	if err != nil {
		return err
	}
	off, _ := dxCountOffset(block, len(block))
	binary.LittleEndian.PutUint32(block[off+DxEntrySize*dxLimit(block, off)+4:], c)
	return nil
}

// VerifyBlockChecksum checks any directory block the way e2fsprogs'
// ext2fs_dir_block_csum_verify does: a leaf if its records lead exactly to a
// tail, else an index block if it has a dx_countlimit. True without
// metadata_csum; false for a block that is neither.
func VerifyBlockChecksum(block []byte, p Params) bool {
	if !p.Csum {
		return true
	}
	if p.checkBlock(block, "directory block") != nil {
		return false
	}
	if chainReachesTail(block, p.BlockSize) {
		return VerifyLeafChecksum(block, p)
	}
	if _, ok := dxCountOffset(block, p.BlockSize); ok {
		return VerifyDxChecksum(block, p)
	}
	return false
}

// chainReachesTail walks rec_len from the start and reports whether it lands
// exactly on a valid tail (e2fsprogs' __get_dirent_tail).
func chainReachesTail(block []byte, bs int) bool {
	top := len(block) - TailSize
	off := 0
	for off < top {
		rlen := RecLenFromDisk(uint16(le16(block, off+4)), bs)
		if rlen < 8 || rlen&3 != 0 {
			return false
		}
		off += rlen
	}
	return off == top && HasTail(block)
}
