// Package dirent decodes, validates, checksums and edits ext4 directories:
// linear blocks of ext4_dir_entry_2 records with their ext4_dir_entry_tail,
// hashed (htree) directories made of dx_root and dx_node index blocks,
// inline directories kept in the inode, and the directory name hashes.
//
// Everything here is a pure function over byte slices: mutations return new
// block contents and never write. The caller (the engine) reads blocks,
// allocates and maps new ones, and writes the results.
package dirent

import (
	"errors"

	"github.com/ext4relink/ext4relink/super"
)

// ErrNoSpace reports that an entry does not fit where it was asked to go: the
// block (or inline region) is full. It is not a format error.
var ErrNoSpace = errors.New("no space for the directory entry")

// ErrExist reports that the name is already present in the directory.
var ErrExist = errors.New("directory entry already exists")

// Params are the facts about the filesystem and the directory that every
// directory codec needs. Build them with NewParams.
type Params struct {
	BlockSize    int       // filesystem block size, 1 KiB .. 64 KiB
	InodesCount  uint32    // s_inodes_count: entries may not name inodes beyond it
	Csum         bool      // RO_COMPAT_METADATA_CSUM: leaf tails and dx tails
	FileType     bool      // INCOMPAT_FILETYPE: entries carry a file type
	Largedir     bool      // INCOMPAT_LARGEDIR: htrees may have three index levels
	HashSeed     [4]uint32 // s_hash_seed
	UnsignedHash bool      // s_flags has EXT2_FLAGS_UNSIGNED_HASH
	// Seed is the directory inode's checksum seed (the kernel's i_csum_seed):
	// crc32c(crc32c(fs seed, le32 ino), le32 i_generation). Only used with Csum.
	Seed uint32
	// Casefold and Encrypted describe the directory inode (EXT4_CASEFOLD_FL,
	// EXT4_ENCRYPT_FL). Names there are folded or enciphered before hashing
	// and comparing; dirent refuses to look up or add names in them.
	Casefold  bool
	Encrypted bool
}

// NewParams fills Params from a validated superblock and the directory's
// checksum seed.
func NewParams(sb *super.Superblock, dirSeed uint32) Params {
	return Params{
		BlockSize:    int(sb.BlockSize()),
		InodesCount:  sb.InodesCount,
		Csum:         sb.HasMetadataCsum(),
		FileType:     sb.HasIncompat(super.IncompatFiletype),
		Largedir:     sb.HasIncompat(super.IncompatLargedir),
		HashSeed:     sb.HashSeed,
		UnsignedHash: sb.Flags&FlagsUnsignedHash != 0,
		Seed:         dirSeed,
	}
}

// DirSeed computes a directory's checksum seed from the filesystem seed
// (super.Superblock.CsumSeed), its inode number and i_generation.
func DirSeed(fsSeed, ino, generation uint32) uint32 {
	return super.Crc32cLE32(super.Crc32cLE32(fsSeed, ino), generation)
}

// csumSize is the room a leaf block keeps for its ext4_dir_entry_tail.
func (p Params) csumSize() int {
	if p.Csum {
		return TailSize
	}
	return 0
}

// check refuses parameters no filesystem can have, so that no decoder ever
// indexes out of range because of them.
func (p Params) check(structure string) error {
	bs := p.BlockSize
	if bs < 1024 || bs > 65536 || bs&(bs-1) != 0 {
		return super.Errorf(super.ErrCorrupt, structure, super.NoBlock, -1, "block size %d is not a power of two between 1 KiB and 64 KiB", bs)
	}
	return nil
}

// checkBlock verifies the parameters and that b is exactly one block.
func (p Params) checkBlock(b []byte, structure string) error {
	if err := p.check(structure); err != nil {
		return err
	}
	if len(b) != p.BlockSize {
		return super.Errorf(super.ErrCorrupt, structure, super.NoBlock, -1, "%d bytes given for a %d-byte block", len(b), p.BlockSize)
	}
	return nil
}

// checkNames refuses directories whose names dirent cannot hash or compare.
func (p Params) checkNames(structure string) error {
	switch {
	case p.Encrypted:
		return super.Errorf(super.ErrUnsupported, structure, super.NoBlock, -1, "the directory is encrypted: its names are ciphertext")
	case p.Casefold:
		return super.Errorf(super.ErrUnsupported, structure, super.NoBlock, -1, "the directory is case-insensitive (casefold): names are folded before hashing and matching")
	}
	return nil
}

// AtBlock records the filesystem block in a *super.FormatError returned by
// this package (which knows only offsets inside the bytes it was given) and
// returns err.
func AtBlock(err error, blk uint64) error {
	var fe *super.FormatError
	if errors.As(err, &fe) && fe.Block == super.NoBlock {
		fe.Block = blk
	}
	return err
}
