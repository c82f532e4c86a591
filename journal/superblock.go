package journal

import (
	"github.com/ext4relink/ext4relink/super"
)

// SuperblockSize is sizeof(journal_superblock_t). The journal superblock
// lives at the start of journal block 0; the rest of that block is unused.
const SuperblockSize = 1024

// Journal feature flags.
const (
	CompatChecksum = 0x1 // JBD2_FEATURE_COMPAT_CHECKSUM: checksum v1 (crc32_be per transaction)

	IncompatRevoke      = 0x01 // JBD2_FEATURE_INCOMPAT_REVOKE
	Incompat64Bit       = 0x02 // JBD2_FEATURE_INCOMPAT_64BIT
	IncompatAsyncCommit = 0x04 // JBD2_FEATURE_INCOMPAT_ASYNC_COMMIT
	IncompatCsumV2      = 0x08 // JBD2_FEATURE_INCOMPAT_CSUM_V2
	IncompatCsumV3      = 0x10 // JBD2_FEATURE_INCOMPAT_CSUM_V3
	IncompatFastCommit  = 0x20 // JBD2_FEATURE_INCOMPAT_FAST_COMMIT

	// KnownIncompat is JBD2_KNOWN_INCOMPAT_FEATURES; KnownRoCompat is
	// JBD2_KNOWN_ROCOMPAT_FEATURES (none).
	KnownIncompat = IncompatRevoke | Incompat64Bit | IncompatAsyncCommit |
		IncompatCsumV2 | IncompatCsumV3 | IncompatFastCommit
	KnownRoCompat = 0
)

// Checksum types (s_checksum_type, h_chksum_type).
const (
	ChecksumCRC32  = 1 // JBD2_CRC32_CHKSUM
	ChecksumMD5    = 2 // JBD2_MD5_CHKSUM
	ChecksumSHA1   = 3 // JBD2_SHA1_CHKSUM
	ChecksumCRC32C = 4 // JBD2_CRC32C_CHKSUM

	crc32ChksumSize = 4 // JBD2_CRC32_CHKSUM_SIZE
)

const (
	minJournalBlocks     = 1024 // JBD2_MIN_JOURNAL_BLOCKS
	defaultFastCommitBlk = 256  // JBD2_DEFAULT_FAST_COMMIT_BLOCKS
	offSBChecksum        = 0xFC
)

// Superblock is journal_superblock_t (1024 bytes, big-endian). Field names
// are the kernel's without the s_ prefix. Fields after Errno exist only in
// version 2 superblocks; a version 1 journal has no features.
type Superblock struct {
	Header                   // s_header (BlockType 3 or 4)
	BlockSize       uint32   // 0x0C s_blocksize
	MaxLen          uint32   // 0x10 s_maxlen: blocks in the journal
	First           uint32   // 0x14 s_first: first block of the log
	Sequence        uint32   // 0x18 s_sequence: first transaction expected in the log
	Start           uint32   // 0x1C s_start: journal block of the log start; 0 = empty
	Errno           uint32   // 0x20 s_errno (a signed errno, see ErrnoValue)
	FeatureCompat   uint32   // 0x24
	FeatureIncompat uint32   // 0x28
	FeatureRoCompat uint32   // 0x2C
	UUID            [16]byte // 0x30 s_uuid
	NrUsers         uint32   // 0x40 s_nr_users
	DynSuper        uint32   // 0x44 s_dynsuper
	MaxTransaction  uint32   // 0x48 s_max_transaction
	MaxTransData    uint32   // 0x4C s_max_trans_data
	ChecksumType    uint8    // 0x50 s_checksum_type
	Padding2        [3]byte  // 0x51 s_padding2
	NumFCBlocks     uint32   // 0x54 s_num_fc_blks (0 = the default 256)
	Head            uint32   // 0x58 s_head (newer kernels; padding before)
	Padding         [160]byte
	Checksum        uint32    // 0xFC s_checksum
	Users           [768]byte // 0x100 s_users
}

func (s *Superblock) fields() []field {
	return append(s.Header.fields(),
		f(0x0C, &s.BlockSize), f(0x10, &s.MaxLen), f(0x14, &s.First), f(0x18, &s.Sequence),
		f(0x1C, &s.Start), f(0x20, &s.Errno), f(0x24, &s.FeatureCompat), f(0x28, &s.FeatureIncompat),
		f(0x2C, &s.FeatureRoCompat), f(0x30, s.UUID[:]), f(0x40, &s.NrUsers), f(0x44, &s.DynSuper),
		f(0x48, &s.MaxTransaction), f(0x4C, &s.MaxTransData), f(0x50, &s.ChecksumType),
		f(0x51, s.Padding2[:]), f(0x54, &s.NumFCBlocks), f(0x58, &s.Head), f(0x5C, s.Padding[:]),
		f(offSBChecksum, &s.Checksum), f(0x100, s.Users[:]),
	)
}

// DecodeSuperblock parses a journal superblock. It checks only the length;
// see Validate.
func DecodeSuperblock(b []byte) (*Superblock, error) {
	if len(b) < SuperblockSize {
		return nil, super.Errorf(super.ErrCorrupt, "journal superblock", super.NoBlock, -1,
			"short read: %d of %d bytes", len(b), SuperblockSize)
	}
	s := new(Superblock)
	decodeBE(b[:SuperblockSize], s.fields())
	return s, nil
}

// Encode returns the 1024 on-disk bytes. It does not update the checksum.
func (s *Superblock) Encode() []byte {
	b := make([]byte, SuperblockSize)
	encodeBE(b, s.fields())
	return b
}

// Version is the superblock format: 1 or 2 (0 when the block type is neither).
func (s *Superblock) Version() int {
	switch s.BlockType {
	case BlockSuperblockV1:
		return 1
	case BlockSuperblockV2:
		return 2
	}
	return 0
}

// ErrnoValue is s_errno as the signed value jbd2 stores (e.g. -22 for
// -EINVAL, set by e2fsck when a transaction failed its commit checksum).
func (s *Superblock) ErrnoValue() int32 { return int32(s.Errno) }

// Format returns the features that govern the on-disk layout. A version 1
// superblock has none, whatever its feature words hold (jbd2 only honours
// features in version 2 superblocks).
func (s *Superblock) Format() Format {
	fm := Format{BlockSize: int(s.BlockSize)}
	if s.Version() == 2 {
		fm.Compat, fm.Incompat = s.FeatureCompat, s.FeatureIncompat
	}
	return fm
}

// ChecksumValue computes the superblock checksum (jbd2_superblock_csum):
// crc32c(~0) over the 1024-byte superblock with s_checksum zeroed.
func (s *Superblock) ChecksumValue() uint32 {
	t := *s
	t.Checksum = 0
	return super.Crc32c(^uint32(0), t.Encode())
}

// VerifyChecksum reports whether s_checksum matches; true when the journal
// has no checksum v2/v3.
func (s *Superblock) VerifyChecksum() bool {
	if !s.Format().CsumV2or3() {
		return true
	}
	return s.Checksum == s.ChecksumValue()
}

// SetChecksum updates s_checksum when the journal has checksum v2/v3.
func (s *Superblock) SetChecksum() {
	if s.Format().CsumV2or3() {
		s.Checksum = s.ChecksumValue()
	}
}

// FastCommitBlocks is jbd2_journal_get_num_fc_blks: s_num_fc_blks, or 256
// when it is zero. Meaningful only with IncompatFastCommit.
func (s *Superblock) FastCommitBlocks() uint32 {
	if s.NumFCBlocks == 0 {
		return defaultFastCommitBlk
	}
	return s.NumFCBlocks
}

// Validate checks the superblock the way the kernel's
// journal_check_superblock / load_superblock and e2fsck's
// e2fsck_journal_load do before any recovery. fsBlockSize is the
// filesystem block size; totalLen is the journal inode's size in blocks.
// Nothing is guessed: the first problem is returned as a FormatError.
func (s *Superblock) Validate(fsBlockSize uint32, totalLen uint64) error {
	bad := func(sentinel error, format string, args ...any) error {
		return super.Errorf(sentinel, "journal superblock", super.NoBlock, -1, format, args...)
	}
	if s.Magic != Magic {
		return bad(super.ErrCorrupt, "bad magic %#08x (want %#08x): the journal inode does not hold a journal", s.Magic, uint32(Magic))
	}
	switch s.BlockType {
	case BlockSuperblockV1, BlockSuperblockV2:
	case BlockDescriptor, BlockCommit, BlockRevoke:
		return bad(super.ErrCorrupt, "block type %d (%s) where the superblock belongs", s.BlockType, BlockTypeName(s.BlockType))
	default:
		return bad(super.ErrUnsupported, "unknown superblock format %d", s.BlockType)
	}
	if s.BlockSize != fsBlockSize {
		return bad(super.ErrCorrupt, "s_blocksize %d differs from the filesystem block size %d", s.BlockSize, fsBlockSize)
	}
	if uint64(s.MaxLen) > totalLen {
		return bad(super.ErrCorrupt, "s_maxlen %d is larger than the journal inode (%d blocks)", s.MaxLen, totalLen)
	}
	if s.First == 0 || s.First >= s.MaxLen {
		return bad(super.ErrCorrupt, "s_first %d is outside the journal (1..%d)", s.First, s.MaxLen)
	}
	fm := s.Format()
	if s.Version() == 2 {
		if s.FeatureIncompat&^KnownIncompat != 0 {
			return bad(super.ErrUnsupported, "unknown incompatible journal features %#x", s.FeatureIncompat&^KnownIncompat)
		}
		if s.FeatureRoCompat&^KnownRoCompat != 0 {
			return bad(super.ErrUnsupported, "unknown read-only-compatible journal features %#x", s.FeatureRoCompat&^KnownRoCompat)
		}
		if s.NrUsers > 1 {
			return bad(super.ErrUnsupported, "journal shared by %d filesystems", s.NrUsers)
		}
	}
	var fc uint32
	if fm.FastCommit() {
		fc = s.FastCommitBlocks()
	}
	if s.MaxLen < minJournalBlocks || s.MaxLen-minJournalBlocks < fc {
		return bad(super.ErrCorrupt, "journal too short: s_maxlen %d with %d fast-commit blocks leaves fewer than %d log blocks",
			s.MaxLen, fc, minJournalBlocks)
	}
	if fm.Incompat&IncompatCsumV2 != 0 && fm.Incompat&IncompatCsumV3 != 0 {
		return bad(super.ErrCorrupt, "both checksum v2 and v3 are set")
	}
	if fm.CsumV2or3() && fm.Compat&CompatChecksum != 0 {
		return bad(super.ErrCorrupt, "both checksum v1 and v2/v3 are set")
	}
	if fm.CsumV2or3() {
		if s.ChecksumType != ChecksumCRC32C {
			return bad(super.ErrCorrupt, "s_checksum_type %d is not crc32c", s.ChecksumType)
		}
		if !s.VerifyChecksum() {
			return bad(super.ErrChecksum, "checksum %#08x does not match contents (computed %#08x)", s.Checksum, s.ChecksumValue())
		}
	}
	return nil
}

// Format describes the journal features that decide how blocks are laid
// out and checksummed, as jbd2_has_feature_* sees them.
type Format struct {
	BlockSize int    // journal block size in bytes
	Compat    uint32 // effective s_feature_compat (0 for a v1 superblock)
	Incompat  uint32 // effective s_feature_incompat (0 for a v1 superblock)
}

// CsumV2or3 is jbd2_journal_has_csum_v2or3.
func (fm Format) CsumV2or3() bool { return fm.Incompat&(IncompatCsumV2|IncompatCsumV3) != 0 }

// CsumV3 reports checksum v3 (32-bit tag checksums in journal_block_tag3_t).
func (fm Format) CsumV3() bool { return fm.Incompat&IncompatCsumV3 != 0 }

// CsumV1 reports checksum v1 (COMPAT_CHECKSUM: crc32_be in the commit block).
func (fm Format) CsumV1() bool { return fm.Compat&CompatChecksum != 0 }

// Is64Bit reports 64-bit block numbers in tags and revoke records.
func (fm Format) Is64Bit() bool { return fm.Incompat&Incompat64Bit != 0 }

// AsyncCommit reports JBD2_FEATURE_INCOMPAT_ASYNC_COMMIT.
func (fm Format) AsyncCommit() bool { return fm.Incompat&IncompatAsyncCommit != 0 }

// FastCommit reports JBD2_FEATURE_INCOMPAT_FAST_COMMIT.
func (fm Format) FastCommit() bool { return fm.Incompat&IncompatFastCommit != 0 }

// TagBytes is journal_tag_bytes(): 16 with checksum v3 (journal_block_tag3_t);
// otherwise 12 (journal_block_tag_t), plus 2 with checksum v2, minus 4
// without 64-bit block numbers.
func (fm Format) TagBytes() int {
	if fm.CsumV3() {
		return 16
	}
	sz := 12
	if fm.Incompat&IncompatCsumV2 != 0 {
		sz += 2
	}
	if fm.Is64Bit() {
		return sz
	}
	return sz - 4
}

// tailSize is the size of the checksum tail of descriptor and revoke blocks.
func (fm Format) tailSize() int {
	if fm.CsumV2or3() {
		return TailSize
	}
	return 0
}

// revokeRecordSize is 8 with 64-bit block numbers, else 4.
func (fm Format) revokeRecordSize() int {
	if fm.Is64Bit() {
		return 8
	}
	return 4
}
