// Package super decodes and encodes the ext4 superblock, group descriptors
// and orphan-file blocks, and holds the checksum primitives and error types
// shared by every on-disk codec of ext4relink.
package super

import (
	"github.com/ext4relink/ext4relink/internal/layout"
)

// Superblock location and size.
const (
	Offset = 1024 // byte offset of the primary superblock on the device
	Size   = 1024 // sizeof(struct ext4_super_block)
	Magic  = 0xEF53

	offChecksum = 0x3FC
)

// OffsetLastOrphan is where s_last_orphan, the head of the orphan chain,
// lies inside the superblock (errors about the chain name it).
const OffsetLastOrphan = 0x0E8

// Superblock is struct ext4_super_block (1024 bytes). Field names follow the
// kernel's, without the s_ prefix; 64-bit quantities split into Lo and Hi
// halves are joined by methods.
type Superblock struct {
	InodesCount       uint32 // 0x000
	BlocksCountLo     uint32 // 0x004
	RBlocksCountLo    uint32 // 0x008
	FreeBlocksCountLo uint32 // 0x00C
	FreeInodesCount   uint32 // 0x010
	FirstDataBlock    uint32 // 0x014
	LogBlockSize      uint32 // 0x018
	LogClusterSize    uint32 // 0x01C
	BlocksPerGroup    uint32 // 0x020
	ClustersPerGroup  uint32 // 0x024
	InodesPerGroup    uint32 // 0x028
	Mtime             uint32 // 0x02C
	Wtime             uint32 // 0x030
	MntCount          uint16 // 0x034
	MaxMntCount       uint16 // 0x036
	Magic             uint16 // 0x038
	State             uint16 // 0x03A
	Errors            uint16 // 0x03C
	MinorRevLevel     uint16 // 0x03E
	Lastcheck         uint32 // 0x040
	Checkinterval     uint32 // 0x044
	CreatorOS         uint32 // 0x048
	RevLevel          uint32 // 0x04C
	DefResuid         uint16 // 0x050
	DefResgid         uint16 // 0x052
	FirstIno          uint32 // 0x054
	InodeSize         uint16 // 0x058
	BlockGroupNr      uint16 // 0x05A
	FeatureCompat     uint32 // 0x05C
	FeatureIncompat   uint32 // 0x060
	FeatureRoCompat   uint32 // 0x064
	UUID              [16]byte
	VolumeName        [16]byte
	LastMounted       [64]byte
	AlgorithmUsage    uint32 // 0x0C8
	PreallocBlocks    uint8  // 0x0CC
	PreallocDirBlocks uint8  // 0x0CD
	ReservedGdtBlocks uint16 // 0x0CE
	JournalUUID       [16]byte
	JournalInum       uint32    // 0x0E0
	JournalDev        uint32    // 0x0E4
	LastOrphan        uint32    // 0x0E8
	HashSeed          [4]uint32 // 0x0EC
	DefHashVersion    uint8     // 0x0FC
	JnlBackupType     uint8     // 0x0FD
	DescSize          uint16    // 0x0FE
	DefaultMountOpts  uint32    // 0x100
	FirstMetaBg       uint32    // 0x104
	MkfsTime          uint32    // 0x108
	JnlBlocks         [17]uint32
	BlocksCountHi     uint32 // 0x150
	RBlocksCountHi    uint32 // 0x154
	FreeBlocksCountHi uint32 // 0x158
	MinExtraIsize     uint16 // 0x15C
	WantExtraIsize    uint16 // 0x15E
	Flags             uint32 // 0x160
	RaidStride        uint16 // 0x164
	MmpInterval       uint16 // 0x166
	MmpBlock          uint64 // 0x168
	RaidStripeWidth   uint32 // 0x170
	LogGroupsPerFlex  uint8  // 0x174
	ChecksumType      uint8  // 0x175
	EncryptionLevel   uint8  // 0x176
	ReservedPad       uint8  // 0x177
	KbytesWritten     uint64 // 0x178
	SnapshotInum      uint32 // 0x180
	SnapshotID        uint32 // 0x184
	SnapshotRBlocks   uint64 // 0x188
	SnapshotList      uint32 // 0x190
	ErrorCount        uint32 // 0x194
	FirstErrorTime    uint32 // 0x198
	FirstErrorIno     uint32 // 0x19C
	FirstErrorBlock   uint64 // 0x1A0
	FirstErrorFunc    [32]byte
	FirstErrorLine    uint32 // 0x1C8
	LastErrorTime     uint32 // 0x1CC
	LastErrorIno      uint32 // 0x1D0
	LastErrorLine     uint32 // 0x1D4
	LastErrorBlock    uint64 // 0x1D8
	LastErrorFunc     [32]byte
	MountOpts         [64]byte
	UsrQuotaInum      uint32    // 0x240
	GrpQuotaInum      uint32    // 0x244
	OverheadClusters  uint32    // 0x248
	BackupBgs         [2]uint32 // 0x24C
	EncryptAlgos      [4]byte   // 0x254
	EncryptPwSalt     [16]byte  // 0x258
	LpfIno            uint32    // 0x268
	PrjQuotaInum      uint32    // 0x26C
	ChecksumSeed      uint32    // 0x270
	WtimeHi           uint8     // 0x274
	MtimeHi           uint8     // 0x275
	MkfsTimeHi        uint8     // 0x276
	LastcheckHi       uint8     // 0x277
	FirstErrorTimeHi  uint8     // 0x278
	LastErrorTimeHi   uint8     // 0x279
	FirstErrorErrcode uint8     // 0x27A
	LastErrorErrcode  uint8     // 0x27B
	Encoding          uint16    // 0x27C
	EncodingFlags     uint16    // 0x27E
	OrphanFileInum    uint32    // 0x280
	Reserved          [94 * 4]byte
	Csum              uint32 // 0x3FC s_checksum
}

func (s *Superblock) fields() []layout.Field {
	f := []layout.Field{
		layout.F(0x000, &s.InodesCount), layout.F(0x004, &s.BlocksCountLo), layout.F(0x008, &s.RBlocksCountLo),
		layout.F(0x00C, &s.FreeBlocksCountLo), layout.F(0x010, &s.FreeInodesCount), layout.F(0x014, &s.FirstDataBlock),
		layout.F(0x018, &s.LogBlockSize), layout.F(0x01C, &s.LogClusterSize), layout.F(0x020, &s.BlocksPerGroup),
		layout.F(0x024, &s.ClustersPerGroup), layout.F(0x028, &s.InodesPerGroup), layout.F(0x02C, &s.Mtime),
		layout.F(0x030, &s.Wtime), layout.F(0x034, &s.MntCount), layout.F(0x036, &s.MaxMntCount), layout.F(0x038, &s.Magic),
		layout.F(0x03A, &s.State), layout.F(0x03C, &s.Errors), layout.F(0x03E, &s.MinorRevLevel), layout.F(0x040, &s.Lastcheck),
		layout.F(0x044, &s.Checkinterval), layout.F(0x048, &s.CreatorOS), layout.F(0x04C, &s.RevLevel),
		layout.F(0x050, &s.DefResuid), layout.F(0x052, &s.DefResgid), layout.F(0x054, &s.FirstIno), layout.F(0x058, &s.InodeSize),
		layout.F(0x05A, &s.BlockGroupNr), layout.F(0x05C, &s.FeatureCompat), layout.F(0x060, &s.FeatureIncompat),
		layout.F(0x064, &s.FeatureRoCompat), layout.F(0x068, s.UUID[:]), layout.F(0x078, s.VolumeName[:]),
		layout.F(0x088, s.LastMounted[:]), layout.F(0x0C8, &s.AlgorithmUsage), layout.F(0x0CC, &s.PreallocBlocks),
		layout.F(0x0CD, &s.PreallocDirBlocks), layout.F(0x0CE, &s.ReservedGdtBlocks), layout.F(0x0D0, s.JournalUUID[:]),
		layout.F(0x0E0, &s.JournalInum), layout.F(0x0E4, &s.JournalDev), layout.F(OffsetLastOrphan, &s.LastOrphan),
	}
	for i := range s.HashSeed {
		f = append(f, layout.F(0x0EC+4*i, &s.HashSeed[i]))
	}
	f = append(f, []layout.Field{
		layout.F(0x0FC, &s.DefHashVersion), layout.F(0x0FD, &s.JnlBackupType), layout.F(0x0FE, &s.DescSize),
		layout.F(0x100, &s.DefaultMountOpts), layout.F(0x104, &s.FirstMetaBg), layout.F(0x108, &s.MkfsTime),
	}...)
	for i := range s.JnlBlocks {
		f = append(f, layout.F(0x10C+4*i, &s.JnlBlocks[i]))
	}
	f = append(f, []layout.Field{
		layout.F(0x150, &s.BlocksCountHi), layout.F(0x154, &s.RBlocksCountHi), layout.F(0x158, &s.FreeBlocksCountHi),
		layout.F(0x15C, &s.MinExtraIsize), layout.F(0x15E, &s.WantExtraIsize), layout.F(0x160, &s.Flags),
		layout.F(0x164, &s.RaidStride), layout.F(0x166, &s.MmpInterval), layout.F(0x168, &s.MmpBlock),
		layout.F(0x170, &s.RaidStripeWidth), layout.F(0x174, &s.LogGroupsPerFlex), layout.F(0x175, &s.ChecksumType),
		layout.F(0x176, &s.EncryptionLevel), layout.F(0x177, &s.ReservedPad), layout.F(0x178, &s.KbytesWritten),
		layout.F(0x180, &s.SnapshotInum), layout.F(0x184, &s.SnapshotID), layout.F(0x188, &s.SnapshotRBlocks),
		layout.F(0x190, &s.SnapshotList), layout.F(0x194, &s.ErrorCount), layout.F(0x198, &s.FirstErrorTime),
		layout.F(0x19C, &s.FirstErrorIno), layout.F(0x1A0, &s.FirstErrorBlock), layout.F(0x1A8, s.FirstErrorFunc[:]),
		layout.F(0x1C8, &s.FirstErrorLine), layout.F(0x1CC, &s.LastErrorTime), layout.F(0x1D0, &s.LastErrorIno),
		layout.F(0x1D4, &s.LastErrorLine), layout.F(0x1D8, &s.LastErrorBlock), layout.F(0x1E0, s.LastErrorFunc[:]),
		layout.F(0x200, s.MountOpts[:]), layout.F(0x240, &s.UsrQuotaInum), layout.F(0x244, &s.GrpQuotaInum),
		layout.F(0x248, &s.OverheadClusters), layout.F(0x24C, &s.BackupBgs[0]), layout.F(0x250, &s.BackupBgs[1]),
		layout.F(0x254, s.EncryptAlgos[:]), layout.F(0x258, s.EncryptPwSalt[:]), layout.F(0x268, &s.LpfIno),
		layout.F(0x26C, &s.PrjQuotaInum), layout.F(0x270, &s.ChecksumSeed), layout.F(0x274, &s.WtimeHi),
		layout.F(0x275, &s.MtimeHi), layout.F(0x276, &s.MkfsTimeHi), layout.F(0x277, &s.LastcheckHi),
		layout.F(0x278, &s.FirstErrorTimeHi), layout.F(0x279, &s.LastErrorTimeHi), layout.F(0x27A, &s.FirstErrorErrcode),
		layout.F(0x27B, &s.LastErrorErrcode), layout.F(0x27C, &s.Encoding), layout.F(0x27E, &s.EncodingFlags),
		layout.F(0x280, &s.OrphanFileInum), layout.F(0x284, s.Reserved[:]), layout.F(offChecksum, &s.Csum),
	}...)
	return f
}

// Decode parses a 1024-byte superblock. It checks nothing; see Validate.
func Decode(b []byte) (*Superblock, error) {
	if len(b) < Size {
		return nil, Errorf(ErrCorrupt, "superblock", NoBlock, Offset, "short read: %d of %d bytes", len(b), Size)
	}
	s := new(Superblock)
	layout.Decode(b[:Size], s.fields())
	return s, nil
}

// Encode returns the 1024 on-disk bytes of s. It does not update the
// checksum; call SetChecksum first.
func (s *Superblock) Encode() []byte {
	b := make([]byte, Size)
	layout.Encode(b, s.fields())
	return b
}

// BlocksCount joins s_blocks_count_lo/hi (hi only with the 64bit feature).
func (s *Superblock) BlocksCount() uint64 { return s.join(s.BlocksCountLo, s.BlocksCountHi) }

// RBlocksCount joins s_r_blocks_count_lo/hi.
func (s *Superblock) RBlocksCount() uint64 { return s.join(s.RBlocksCountLo, s.RBlocksCountHi) }

// FreeBlocksCount joins s_free_blocks_count_lo/hi. Under bigalloc it counts clusters.
func (s *Superblock) FreeBlocksCount() uint64 {
	return s.join(s.FreeBlocksCountLo, s.FreeBlocksCountHi)
}

// SetFreeBlocksCount splits v into s_free_blocks_count_lo/hi.
func (s *Superblock) SetFreeBlocksCount(v uint64) {
	s.FreeBlocksCountLo = uint32(v)
	if s.Is64Bit() {
		s.FreeBlocksCountHi = uint32(v >> 32)
	}
}

func (s *Superblock) join(lo, hi uint32) uint64 {
	if s.Is64Bit() {
		return uint64(hi)<<32 | uint64(lo)
	}
	return uint64(lo)
}

// BlockSize is 1024 << s_log_block_size.
func (s *Superblock) BlockSize() uint32 { return 1024 << (s.LogBlockSize & 31) }

// ClusterBits is log2(blocks per cluster): zero unless bigalloc.
func (s *Superblock) ClusterBits() uint32 {
	if !s.HasRoCompat(RoCompatBigalloc) {
		return 0
	}
	return s.LogClusterSize - s.LogBlockSize
}

// InodeSizeBytes is s_inode_size, or 128 for revision 0 filesystems.
func (s *Superblock) InodeSizeBytes() uint32 {
	if s.RevLevel == 0 {
		return 128
	}
	return uint32(s.InodeSize)
}

// FirstInode is the first non-reserved inode (11 on revision 0).
func (s *Superblock) FirstInode() uint32 {
	if s.RevLevel == 0 {
		return 11
	}
	return s.FirstIno
}

// GroupCount is the number of block groups.
func (s *Superblock) GroupCount() uint64 {
	if s.BlocksPerGroup == 0 {
		return 0
	}
	n := s.BlocksCount() - uint64(s.FirstDataBlock)
	return (n + uint64(s.BlocksPerGroup) - 1) / uint64(s.BlocksPerGroup)
}

// DescSizeBytes is the group descriptor size: s_desc_size with 64bit, else 32.
func (s *Superblock) DescSizeBytes() uint32 {
	if s.Is64Bit() {
		return uint32(s.DescSize)
	}
	return GroupDescSize32
}

// Is64Bit reports INCOMPAT_64BIT.
func (s *Superblock) Is64Bit() bool { return s.HasIncompat(Incompat64Bit) }

// HasMetadataCsum reports RO_COMPAT_METADATA_CSUM.
func (s *Superblock) HasMetadataCsum() bool { return s.HasRoCompat(RoCompatMetadataCsum) }

// HasGdtCsum reports the crc16 group descriptor checksums (RO_COMPAT_GDT_CSUM,
// a.k.a. uninit_bg) without metadata_csum.
func (s *Superblock) HasGdtCsum() bool {
	return !s.HasMetadataCsum() && s.HasRoCompat(RoCompatGdtCsum)
}

// HasGroupCsum reports whether group descriptors carry any checksum (and so
// whether the BLOCK_UNINIT/INODE_UNINIT/ITABLE_ZEROED flags are meaningful).
func (s *Superblock) HasGroupCsum() bool {
	return s.HasMetadataCsum() || s.HasRoCompat(RoCompatGdtCsum)
}

// CsumSeed is the seed of every metadata_csum checksum but the superblock's:
// s_checksum_seed with metadata_csum_seed, else crc32c(~0, s_uuid).
func (s *Superblock) CsumSeed() uint32 {
	if s.HasIncompat(IncompatCsumSeed) {
		return s.ChecksumSeed
	}
	return Crc32c(^uint32(0), s.UUID[:])
}

// Checksum computes the superblock checksum: crc32c(~0) over the first 0x3FC bytes.
func (s *Superblock) Checksum() uint32 {
	return Crc32c(^uint32(0), s.Encode()[:offChecksum])
}

// VerifyChecksum reports whether the stored checksum is right; true when
// metadata_csum is off.
func (s *Superblock) VerifyChecksum() bool {
	return !s.HasMetadataCsum() || s.Checksum() == s.Csum
}

// SetChecksum stores the right checksum when metadata_csum is on.
func (s *Superblock) SetChecksum() {
	if s.HasMetadataCsum() {
		s.Csum = s.Checksum()
	}
}
