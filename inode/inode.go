// Package inode decodes, validates and encodes ext4 inodes and the block
// maps they carry: extent trees, ext2/ext3 indirect blocks and inline data
// (i_block plus the system.data extended attribute). It is a pure codec
// package: block reads and allocations go through caller-supplied functions
// and every change is returned as bytes for the caller to write.
package inode

import (
	"slices"

	"github.com/ext4relink/ext4relink/internal/layout"
	"github.com/ext4relink/ext4relink/super"
)

// Sizes of struct ext4_inode.
const (
	GoodOldSize = 128 // EXT4_GOOD_OLD_INODE_SIZE: the fixed base of every inode
	NBlocks     = 15  // EXT4_N_BLOCKS: 32-bit words in i_block
	BlockBytes  = 60  // sizeof(i_block)
	// ExtraKnownEnd is the offset just past i_projid, the last field of the
	// extra area that this package decodes.
	ExtraKnownEnd = 0xA0

	// OffsetDtime is where i_dtime, an orphan chain link, lies in an inode
	// (errors about the chain name it).
	OffsetDtime = 0x14

	offBlock      = 0x28
	offChecksumLo = 0x7C
	offExtraIsize = 0x80
	offChecksumHi = 0x82
)

// Inode flags (i_flags).
const (
	SecrmFl        = 0x00000001
	UnrmFl         = 0x00000002
	ComprFl        = 0x00000004
	SyncFl         = 0x00000008
	ImmutableFl    = 0x00000010
	AppendFl       = 0x00000020
	NodumpFl       = 0x00000040
	NoatimeFl      = 0x00000080
	DirtyFl        = 0x00000100
	ComprblkFl     = 0x00000200
	NocomprFl      = 0x00000400
	EncryptFl      = 0x00000800
	IndexFl        = 0x00001000 // hashed (htree) directory
	ImagicFl       = 0x00002000
	JournalDataFl  = 0x00004000
	NotailFl       = 0x00008000
	DirsyncFl      = 0x00010000
	TopdirFl       = 0x00020000
	HugeFileFl     = 0x00040000 // i_blocks counts filesystem blocks, not sectors
	ExtentsFl      = 0x00080000
	VerityFl       = 0x00100000
	EAInodeFl      = 0x00200000 // the inode holds a large extended attribute value
	DaxFl          = 0x02000000
	InlineDataFl   = 0x10000000
	ProjinheritFl  = 0x20000000
	CasefoldFl     = 0x40000000
	ReservedFl     = 0x80000000
	userVisibleFls = 0x705BDFFF
)

// File type bits of i_mode.
const (
	ModeFmt  = 0xF000
	ModeSock = 0xC000
	ModeLnk  = 0xA000
	ModeReg  = 0x8000
	ModeBlk  = 0x6000
	ModeDir  = 0x4000
	ModeChr  = 0x2000
	ModeFifo = 0x1000
)

// Directory entry file_type codes (EXT4_FT_*).
const (
	FtUnknown = 0
	FtRegFile = 1
	FtDir     = 2
	FtChrdev  = 3
	FtBlkdev  = 4
	FtFifo    = 5
	FtSock    = 6
	FtSymlink = 7
)

// Inode is struct ext4_inode: the 128-byte base and the extra fields that
// 128+i_extra_isize covers. Raw keeps all s_inode_size on-disk bytes so that
// everything past the known fields (in-inode extended attributes) survives
// Encode unchanged. Extra fields the inode is too small to hold decode as 0
// and are not written back.
type Inode struct {
	Mode        uint16   // 0x00 i_mode
	UIDLo       uint16   // 0x02 i_uid
	SizeLo      uint32   // 0x04 i_size_lo
	Atime       uint32   // 0x08 i_atime
	Ctime       uint32   // 0x0C i_ctime
	Mtime       uint32   // 0x10 i_mtime
	Dtime       uint32   // 0x14 i_dtime (next orphan's number while on the orphan list)
	GIDLo       uint16   // 0x18 i_gid
	LinksCount  uint16   // 0x1A i_links_count
	BlocksLo    uint32   // 0x1C i_blocks_lo
	Flags       uint32   // 0x20 i_flags
	Version     uint32   // 0x24 l_i_version
	Block       [60]byte // 0x28 i_block[15], raw
	Generation  uint32   // 0x64 i_generation
	FileACLLo   uint32   // 0x68 i_file_acl_lo
	SizeHigh    uint32   // 0x6C i_size_high
	ObsoFaddr   uint32   // 0x70 i_obso_faddr
	BlocksHigh  uint16   // 0x74 l_i_blocks_high
	FileACLHigh uint16   // 0x76 l_i_file_acl_high
	UIDHigh     uint16   // 0x78 l_i_uid_high
	GIDHigh     uint16   // 0x7A l_i_gid_high
	ChecksumLo  uint16   // 0x7C l_i_checksum_lo
	Reserved    uint16   // 0x7E l_i_reserved
	ExtraIsize  uint16   // 0x80 i_extra_isize
	ChecksumHi  uint16   // 0x82 i_checksum_hi
	CtimeExtra  uint32   // 0x84 i_ctime_extra
	MtimeExtra  uint32   // 0x88 i_mtime_extra
	AtimeExtra  uint32   // 0x8C i_atime_extra
	Crtime      uint32   // 0x90 i_crtime
	CrtimeExtra uint32   // 0x94 i_crtime_extra
	VersionHi   uint32   // 0x98 i_version_hi
	Projid      uint32   // 0x9C i_projid

	Raw []byte // the whole on-disk inode, s_inode_size bytes

	// tab holds the field tables, which point into this Inode: built once
	// instead of on every Decode, Encode and Checksum. A copy of the
	// struct builds its own (tab.owner is not the copy).
	tab *fieldTables
}

type fieldTables struct {
	owner       *Inode
	base, extra []layout.Field
}

func (i *Inode) tables() *fieldTables {
	if i.tab == nil || i.tab.owner != i {
		i.tab = &fieldTables{owner: i, base: i.newBaseFields(), extra: i.newExtraFields()}
	}
	return i.tab
}

// baseFields lists the fields of the first 128 bytes. The table is shared:
// do not modify it (appending is fine: its capacity is its length).
func (i *Inode) baseFields() []layout.Field { return i.tables().base }

// extraFields lists the fields of the extra area, i_extra_isize included
// (shared like baseFields).
func (i *Inode) extraFields() []layout.Field { return i.tables().extra }

func (i *Inode) newBaseFields() []layout.Field {
	return []layout.Field{
		layout.F(0x00, &i.Mode), layout.F(0x02, &i.UIDLo), layout.F(0x04, &i.SizeLo),
		layout.F(0x08, &i.Atime), layout.F(0x0C, &i.Ctime), layout.F(0x10, &i.Mtime),
		layout.F(OffsetDtime, &i.Dtime), layout.F(0x18, &i.GIDLo), layout.F(0x1A, &i.LinksCount),
		layout.F(0x1C, &i.BlocksLo), layout.F(0x20, &i.Flags), layout.F(0x24, &i.Version),
		layout.F(offBlock, i.Block[:]), layout.F(0x64, &i.Generation), layout.F(0x68, &i.FileACLLo),
		layout.F(0x6C, &i.SizeHigh), layout.F(0x70, &i.ObsoFaddr), layout.F(0x74, &i.BlocksHigh),
		layout.F(0x76, &i.FileACLHigh), layout.F(0x78, &i.UIDHigh), layout.F(0x7A, &i.GIDHigh),
		layout.F(offChecksumLo, &i.ChecksumLo), layout.F(0x7E, &i.Reserved),
	}
}

func (i *Inode) newExtraFields() []layout.Field {
	return []layout.Field{
		layout.F(offExtraIsize, &i.ExtraIsize), layout.F(offChecksumHi, &i.ChecksumHi),
		layout.F(0x84, &i.CtimeExtra), layout.F(0x88, &i.MtimeExtra), layout.F(0x8C, &i.AtimeExtra),
		layout.F(0x90, &i.Crtime), layout.F(0x94, &i.CrtimeExtra), layout.F(0x98, &i.VersionHi),
		layout.F(0x9C, &i.Projid),
	}
}

// presentExtra returns the extra fields that exist in this inode: those
// inside both Raw and 128+i_extra_isize (i_extra_isize itself exists as soon
// as the inode is larger than 128 bytes).
func (i *Inode) presentExtra() []layout.Field {
	all := i.extraFields()
	present := func(f layout.Field) bool { return f.Off == offExtraIsize || i.fits(f.End()) }
	// The fields are in offset order, so those present are a prefix of
	// the table: return it without copying when they are.
	k := 0
	for k < len(all) && present(all[k]) {
		k++
	}
	if !slices.ContainsFunc(all[k:], present) {
		return all[:k:k]
	}
	var out []layout.Field
	for _, f := range all {
		if present(f) {
			out = append(out, f)
		}
	}
	return out
}

// fits is EXT4_FITS_IN_INODE: the field ending at end lies inside the
// inode and inside 128+i_extra_isize.
func (i *Inode) fits(end int) bool {
	return len(i.Raw) > GoodOldSize && end <= len(i.Raw) && end <= GoodOldSize+int(i.ExtraIsize)
}

// Decode parses an on-disk inode of len(b) bytes (s_inode_size, at least
// 128). It only checks the length; see Validate.
func Decode(b []byte) (*Inode, error) {
	if len(b) < GoodOldSize {
		return nil, super.Errorf(super.ErrCorrupt, "inode", super.NoBlock, -1,
			"short inode: %d bytes, need at least %d", len(b), GoodOldSize)
	}
	i := &Inode{Raw: append([]byte(nil), b...)}
	i.tables()
	layout.Decode(i.Raw, i.baseFields())
	if len(i.Raw) > GoodOldSize {
		layout.Decode(i.Raw, i.extraFields()[:1])
	}
	layout.Decode(i.Raw, i.presentExtra())
	return i, nil
}

// Encode returns the on-disk bytes, len(Raw) long. It does not update the
// checksum; call SetChecksum first.
func (i *Inode) Encode() []byte {
	b := append([]byte(nil), i.Raw...)
	layout.Encode(b, i.baseFields())
	layout.Encode(b, i.presentExtra())
	return b
}

// Clone returns an independent copy of the inode.
func (i *Inode) Clone() *Inode {
	c := *i
	c.Raw = slices.Clone(i.Raw)
	c.tab = nil
	return &c
}

// sync refreshes Raw from the fields, for helpers that work on raw bytes.
func (i *Inode) sync() { i.Raw = i.Encode() }

// Size joins i_size_lo and i_size_high.
func (i *Inode) Size() uint64 { return uint64(i.SizeHigh)<<32 | uint64(i.SizeLo) }

// SetSize splits v into i_size_lo and i_size_high.
func (i *Inode) SetSize(v uint64) { i.SizeLo, i.SizeHigh = uint32(v), uint32(v>>32) }

// UID joins i_uid and l_i_uid_high.
func (i *Inode) UID() uint32 { return uint32(i.UIDHigh)<<16 | uint32(i.UIDLo) }

// GID joins i_gid and l_i_gid_high.
func (i *Inode) GID() uint32 { return uint32(i.GIDHigh)<<16 | uint32(i.GIDLo) }

// FileACL is the extended attribute block: i_file_acl_lo, plus
// l_i_file_acl_high when the filesystem has the 64bit feature.
func (i *Inode) FileACL(bit64 bool) uint64 {
	if bit64 {
		return uint64(i.FileACLHigh)<<32 | uint64(i.FileACLLo)
	}
	return uint64(i.FileACLLo)
}

// BlocksCount is i_blocks in 512-byte units, as the kernel's ext4_inode_blocks
// reads it: 32 bits without huge_file; 48 bits with it, in filesystem blocks
// when the inode has HUGE_FILE_FL.
func (i *Inode) BlocksCount(hugeFile bool, blockSize uint32) uint64 {
	if !hugeFile {
		return uint64(i.BlocksLo)
	}
	n := uint64(i.BlocksHigh)<<32 | uint64(i.BlocksLo)
	if i.Flags&HugeFileFl != 0 {
		return n * uint64(blockSize/512)
	}
	return n
}

// SetBlocks stores n 512-byte units like ext4_inode_blocks_set: 32 bits
// when they suffice, 48 bits with huge_file, and filesystem-block units with
// HUGE_FILE_FL beyond that. It fails when the value cannot be represented.
func (i *Inode) SetBlocks(n uint64, hugeFile bool, blockSize uint32) error {
	per := uint64(blockSize / 512)
	switch {
	case n <= 0xFFFFFFFF:
		i.BlocksLo, i.BlocksHigh = uint32(n), 0
	case !hugeFile:
		return super.Errorf(super.ErrUnsupported, "inode", super.NoBlock, -1, "i_blocks %d needs the huge_file feature", n)
	case n <= 0xFFFFFFFFFFFF:
		i.BlocksLo, i.BlocksHigh = uint32(n), uint16(n>>32)
	case per == 0 || n/per > 0xFFFFFFFFFFFF:
		return super.Errorf(super.ErrUnsupported, "inode", super.NoBlock, -1, "i_blocks %d is too large", n)
	default:
		i.Flags |= HugeFileFl
		i.BlocksLo, i.BlocksHigh = uint32(n/per), uint16((n/per)>>32)
		return nil
	}
	i.Flags &^= HugeFileFl
	return nil
}

// Type is the file type bits of i_mode.
func (i *Inode) Type() uint16 { return i.Mode & ModeFmt }

// IsReg, IsDir and IsSymlink test the file type.
func (i *Inode) IsReg() bool     { return i.Type() == ModeReg }
func (i *Inode) IsDir() bool     { return i.Type() == ModeDir }
func (i *Inode) IsSymlink() bool { return i.Type() == ModeLnk }

// fileTypes maps i_mode file types to directory entry file_type codes
// (EXT4_FT_*), both ways.
var fileTypes = []struct {
	mode uint16
	ft   uint8
}{
	{ModeReg, FtRegFile}, {ModeDir, FtDir}, {ModeChr, FtChrdev}, {ModeBlk, FtBlkdev},
	{ModeFifo, FtFifo}, {ModeSock, FtSock}, {ModeLnk, FtSymlink},
}

// FileType is the directory entry file_type code (EXT4_FT_*) for i_mode,
// FtUnknown when the mode names no valid type.
func (i *Inode) FileType() uint8 {
	for _, t := range fileTypes {
		if t.mode == i.Type() {
			return t.ft
		}
	}
	return FtUnknown
}

// ModeOfFileType is the i_mode file type a directory entry's file_type
// code names, 0 for FtUnknown or an invalid code.
func ModeOfFileType(ft uint8) uint16 {
	for _, t := range fileTypes {
		if t.ft == ft {
			return t.mode
		}
	}
	return 0
}

// HasFlag reports whether every bit of f is set in i_flags.
func (i *Inode) HasFlag(f uint32) bool { return i.Flags&f == f }

// HasExtents, HasInlineData report EXTENTS_FL and INLINE_DATA_FL.
func (i *Inode) HasExtents() bool    { return i.Flags&ExtentsFl != 0 }
func (i *Inode) HasInlineData() bool { return i.Flags&InlineDataFl != 0 }

// HasChecksumHi reports whether the inode is large enough to hold
// i_checksum_hi (s_inode_size > 128 and i_extra_isize >= 4); otherwise the
// inode checksum is 16 bits.
func (i *Inode) HasChecksumHi() bool { return i.fits(offChecksumHi + 2) }

// XattrStart is the offset of the in-inode extended attribute area
// (128 + i_extra_isize), or 0 when the inode has no extra area.
func (i *Inode) XattrStart() int {
	if len(i.Raw) <= GoodOldSize {
		return 0
	}
	return GoodOldSize + int(i.ExtraIsize)
}
