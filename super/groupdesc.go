package super

import (
	"encoding/binary"

	"github.com/ext4relink/ext4relink/internal/layout"
)

// Group descriptor sizes.
const (
	GroupDescSize32 = 32 // EXT2_MIN_DESC_SIZE
	GroupDescSize64 = 64 // EXT2_MIN_DESC_SIZE_64BIT

	offBgChecksum = 0x1E
)

// Group descriptor flags (bg_flags).
const (
	BgInodeUninit = 0x0001
	BgBlockUninit = 0x0002
	BgInodeZeroed = 0x0004
)

// GroupDesc is struct ext4_group_desc: 32 bytes, or s_desc_size (usually 64)
// with the 64bit feature. Raw keeps the full on-disk record so that bytes
// beyond the known fields survive a round trip.
type GroupDesc struct {
	BlockBitmapLo     uint32 // 0x00
	InodeBitmapLo     uint32 // 0x04
	InodeTableLo      uint32 // 0x08
	FreeBlocksCountLo uint16 // 0x0C
	FreeInodesCountLo uint16 // 0x0E
	UsedDirsCountLo   uint16 // 0x10
	Flags             uint16 // 0x12
	ExcludeBitmapLo   uint32 // 0x14
	BlockBitmapCsumLo uint16 // 0x18
	InodeBitmapCsumLo uint16 // 0x1A
	ItableUnusedLo    uint16 // 0x1C
	Csum              uint16 // 0x1E bg_checksum
	BlockBitmapHi     uint32 // 0x20
	InodeBitmapHi     uint32 // 0x24
	InodeTableHi      uint32 // 0x28
	FreeBlocksCountHi uint16 // 0x2C
	FreeInodesCountHi uint16 // 0x2E
	UsedDirsCountHi   uint16 // 0x30
	ItableUnusedHi    uint16 // 0x32
	ExcludeBitmapHi   uint32 // 0x34
	BlockBitmapCsumHi uint16 // 0x38
	InodeBitmapCsumHi uint16 // 0x3A
	Reserved          uint32 // 0x3C

	Raw []byte // the on-disk record, len == descriptor size
}

func (g *GroupDesc) fields() []layout.Field {
	return []layout.Field{
		layout.F(0x00, &g.BlockBitmapLo), layout.F(0x04, &g.InodeBitmapLo), layout.F(0x08, &g.InodeTableLo),
		layout.F(0x0C, &g.FreeBlocksCountLo), layout.F(0x0E, &g.FreeInodesCountLo), layout.F(0x10, &g.UsedDirsCountLo),
		layout.F(0x12, &g.Flags), layout.F(0x14, &g.ExcludeBitmapLo), layout.F(0x18, &g.BlockBitmapCsumLo),
		layout.F(0x1A, &g.InodeBitmapCsumLo), layout.F(0x1C, &g.ItableUnusedLo), layout.F(offBgChecksum, &g.Csum),
		layout.F(0x20, &g.BlockBitmapHi), layout.F(0x24, &g.InodeBitmapHi), layout.F(0x28, &g.InodeTableHi),
		layout.F(0x2C, &g.FreeBlocksCountHi), layout.F(0x2E, &g.FreeInodesCountHi), layout.F(0x30, &g.UsedDirsCountHi),
		layout.F(0x32, &g.ItableUnusedHi), layout.F(0x34, &g.ExcludeBitmapHi), layout.F(0x38, &g.BlockBitmapCsumHi),
		layout.F(0x3A, &g.InodeBitmapCsumHi), layout.F(0x3C, &g.Reserved),
	}
}

// DecodeGroupDesc parses one descriptor of len(b) bytes (32, or s_desc_size).
func DecodeGroupDesc(b []byte) (*GroupDesc, error) {
	if len(b) < GroupDescSize32 {
		return nil, Errorf(ErrCorrupt, "group descriptor", NoBlock, -1, "%d bytes, shorter than %d", len(b), GroupDescSize32)
	}
	g := &GroupDesc{Raw: append([]byte(nil), b...)}
	layout.Decode(b, g.fields())
	return g, nil
}

// Encode returns the on-disk bytes, len(Raw) long.
func (g *GroupDesc) Encode() []byte {
	b := append([]byte(nil), g.Raw...)
	layout.Encode(b, g.fields())
	return b
}

func (g *GroupDesc) wide() bool { return len(g.Raw) >= GroupDescSize64 }

func join32(lo, hi uint32, wide bool) uint64 {
	if wide {
		return uint64(hi)<<32 | uint64(lo)
	}
	return uint64(lo)
}

func join16(lo, hi uint16, wide bool) uint32 {
	if wide {
		return uint32(hi)<<16 | uint32(lo)
	}
	return uint32(lo)
}

// BlockBitmap, InodeBitmap and InodeTable are the block numbers the descriptor points at.
func (g *GroupDesc) BlockBitmap() uint64 { return join32(g.BlockBitmapLo, g.BlockBitmapHi, g.wide()) }
func (g *GroupDesc) InodeBitmap() uint64 { return join32(g.InodeBitmapLo, g.InodeBitmapHi, g.wide()) }
func (g *GroupDesc) InodeTable() uint64  { return join32(g.InodeTableLo, g.InodeTableHi, g.wide()) }

// FreeBlocksCount is in clusters under bigalloc.
func (g *GroupDesc) FreeBlocksCount() uint32 {
	return join16(g.FreeBlocksCountLo, g.FreeBlocksCountHi, g.wide())
}
func (g *GroupDesc) FreeInodesCount() uint32 {
	return join16(g.FreeInodesCountLo, g.FreeInodesCountHi, g.wide())
}
func (g *GroupDesc) UsedDirsCount() uint32 {
	return join16(g.UsedDirsCountLo, g.UsedDirsCountHi, g.wide())
}
func (g *GroupDesc) ItableUnused() uint32 {
	return join16(g.ItableUnusedLo, g.ItableUnusedHi, g.wide())
}

// SetFreeBlocksCount stores v in the lo (and, for 64-byte descriptors, hi) half.
func (g *GroupDesc) SetFreeBlocksCount(v uint32) {
	g.FreeBlocksCountLo = uint16(v)
	if g.wide() {
		g.FreeBlocksCountHi = uint16(v >> 16)
	}
}

// SetFreeInodesCount stores v in the lo (and hi) half.
func (g *GroupDesc) SetFreeInodesCount(v uint32) {
	g.FreeInodesCountLo = uint16(v)
	if g.wide() {
		g.FreeInodesCountHi = uint16(v >> 16)
	}
}

// SetUsedDirsCount stores v in the lo (and hi) half.
func (g *GroupDesc) SetUsedDirsCount(v uint32) {
	g.UsedDirsCountLo = uint16(v)
	if g.wide() {
		g.UsedDirsCountHi = uint16(v >> 16)
	}
}

// SetItableUnused stores v in the lo (and hi) half.
func (g *GroupDesc) SetItableUnused(v uint32) {
	g.ItableUnusedLo = uint16(v)
	if g.wide() {
		g.ItableUnusedHi = uint16(v >> 16)
	}
}

// BlockBitmapCsum / InodeBitmapCsum join the stored bitmap checksums; only
// the low 16 bits exist in 32-byte descriptors.
func (g *GroupDesc) BlockBitmapCsum() uint32 {
	return join16(g.BlockBitmapCsumLo, g.BlockBitmapCsumHi, g.wide())
}
func (g *GroupDesc) InodeBitmapCsum() uint32 {
	return join16(g.InodeBitmapCsumLo, g.InodeBitmapCsumHi, g.wide())
}

// SetBlockBitmapCsum stores a crc32c of the block bitmap (lo, and hi if room).
func (g *GroupDesc) SetBlockBitmapCsum(c uint32) {
	g.BlockBitmapCsumLo = uint16(c)
	if g.wide() {
		g.BlockBitmapCsumHi = uint16(c >> 16)
	}
}

// SetInodeBitmapCsum stores a crc32c of the inode bitmap (lo, and hi if room).
func (g *GroupDesc) SetInodeBitmapCsum(c uint32) {
	g.InodeBitmapCsumLo = uint16(c)
	if g.wide() {
		g.InodeBitmapCsumHi = uint16(c >> 16)
	}
}

// BitmapCsumMask is the part of a bitmap crc32c a descriptor can hold.
func (g *GroupDesc) BitmapCsumMask() uint32 {
	if g.wide() {
		return 0xFFFFFFFF
	}
	return 0xFFFF
}

// Checksum computes bg_checksum for group number group: with metadata_csum
// the low 16 bits of crc32c(seed, group, desc-without-checksum); with
// gdt_csum the crc16 of (uuid, group, desc-without-checksum).
func (g *GroupDesc) Checksum(sb *Superblock, group uint32) uint16 {
	return descChecksum(sb, group, g.Encode())
}

// descChecksum is Checksum of the encoded descriptor b.
func descChecksum(sb *Superblock, group uint32, b []byte) uint16 {
	var le [4]byte
	binary.LittleEndian.PutUint32(le[:], group)
	if sb.HasMetadataCsum() {
		c := Crc32c(sb.CsumSeed(), le[:])
		c = Crc32c(c, b[:offBgChecksum])
		c = Crc32c(c, []byte{0, 0})
		c = Crc32c(c, b[offBgChecksum+2:])
		return uint16(c)
	}
	c := Crc16(0xFFFF, sb.UUID[:])
	c = Crc16(c, le[:])
	c = Crc16(c, b[:offBgChecksum])
	if len(b) > offBgChecksum+2 {
		c = Crc16(c, b[offBgChecksum+2:])
	}
	return c
}

// VerifyChecksum is true when the stored checksum is right, or when neither
// metadata_csum nor gdt_csum is on.
func (g *GroupDesc) VerifyChecksum(sb *Superblock, group uint32) bool {
	return !sb.HasGroupCsum() || g.Checksum(sb, group) == g.Csum
}

// SetChecksum stores the right bg_checksum (no-op without group checksums).
func (g *GroupDesc) SetChecksum(sb *Superblock, group uint32) {
	if sb.HasGroupCsum() {
		g.Csum = g.Checksum(sb, group)
	}
}
