package inode

import (
	"errors"
	"fmt"

	"github.com/ext4relink/ext4relink/super"
)

// ReadFunc returns the content of filesystem block phys, exactly one block
// long. Codecs never read anything else.
type ReadFunc func(phys uint64) ([]byte, error)

// AllocFunc allocates one block near goal and returns its number. The
// caller's allocator does the bitmap and counter bookkeeping.
type AllocFunc func(goal uint64) (uint64, error)

// ErrNeedBlock is returned (joined with a FormatError wrapping
// super.ErrUnsupported) when adding a block to a map needs a new tree or
// indirect block and no AllocFunc was given.
var ErrNeedBlock = errors.New("a new metadata block would be needed")

// ErrNoSpace is returned (joined with a FormatError wrapping
// super.ErrUnsupported) when an in-inode value does not fit.
var ErrNoSpace = errors.New("no space left in the inode")

// FS is what the inode codecs need to know about the filesystem.
type FS struct {
	InodeSize      uint32
	BlockSize      uint32
	ClusterSize    uint32 // bytes per cluster (the block size without bigalloc)
	FirstDataBlock uint64
	BlocksCount    uint64
	CsumSeed       uint32 // the superblock's CsumSeed()
	MetadataCsum   bool
	HugeFile       bool
	Bit64          bool
	Extents        bool
	InlineData     bool
	Casefold       bool
	Encrypt        bool
	Verity         bool
	EAInode        bool
}

// NewFS takes the facts from a (validated) superblock.
func NewFS(sb *super.Superblock) FS {
	return FS{
		InodeSize:      sb.InodeSizeBytes(),
		BlockSize:      sb.BlockSize(),
		ClusterSize:    sb.BlockSize() << sb.ClusterBits(),
		FirstDataBlock: uint64(sb.FirstDataBlock),
		BlocksCount:    sb.BlocksCount(),
		CsumSeed:       sb.CsumSeed(),
		MetadataCsum:   sb.HasMetadataCsum(),
		HugeFile:       sb.HasRoCompat(super.RoCompatHugeFile),
		Bit64:          sb.Is64Bit(),
		Extents:        sb.HasIncompat(super.IncompatExtents),
		InlineData:     sb.HasIncompat(super.IncompatInlineData),
		Casefold:       sb.HasIncompat(super.IncompatCasefold),
		Encrypt:        sb.HasIncompat(super.IncompatEncrypt),
		Verity:         sb.HasRoCompat(super.RoCompatVerity),
		EAInode:        sb.HasIncompat(super.IncompatEAInode),
	}
}

// MapParams carries what the block-map codecs (extent trees, indirect
// blocks) need for one inode.
type MapParams struct {
	BlockSize      uint32
	FirstDataBlock uint64 // lowest valid block number
	BlocksCount    uint64 // one past the highest valid block number
	Csum           bool   // metadata_csum: verify and set extent block tails
	Seed           uint32 // the inode's CsumSeed
	Ino            uint32 // for error messages only
}

// Params returns the MapParams of inode in with number ino.
func (fs FS) Params(ino uint32, in *Inode) MapParams {
	return MapParams{
		BlockSize: fs.BlockSize, FirstDataBlock: fs.FirstDataBlock, BlocksCount: fs.BlocksCount,
		Csum: fs.MetadataCsum, Seed: in.Seed(fs.CsumSeed, ino), Ino: ino,
	}
}

// validRange reports whether blocks [b, b+n) are inside the filesystem.
func (p MapParams) validRange(b, n uint64) bool {
	return n != 0 && b >= p.FirstDataBlock && b < p.BlocksCount && n <= p.BlocksCount-b
}

func (p MapParams) check() error {
	if p.BlockSize < 1024 || p.BlockSize > 65536 || p.BlockSize&(p.BlockSize-1) != 0 {
		return p.errf(super.ErrCorrupt, super.NoBlock, -1, "block size %d is invalid", p.BlockSize)
	}
	if p.BlocksCount <= p.FirstDataBlock {
		return p.errf(super.ErrCorrupt, super.NoBlock, -1, "no valid block range [%d,%d)", p.FirstDataBlock, p.BlocksCount)
	}
	return nil
}

func (p MapParams) errf(sentinel error, blk uint64, off int64, format string, args ...any) error {
	return super.Errorf(sentinel, fmt.Sprintf("block map of inode %d", p.Ino), blk, off, format, args...)
}

// read fetches one block and checks its length.
func (p MapParams) read(read ReadFunc, blk uint64) ([]byte, error) {
	if read == nil {
		return nil, p.errf(super.ErrUnsupported, blk, -1, "no block reader given")
	}
	b, err := read(blk)
	if err != nil {
		return nil, fmt.Errorf("block map of inode %d: reading block %d: %w", p.Ino, blk, err)
	}
	if len(b) != int(p.BlockSize) {
		return nil, p.errf(super.ErrCorrupt, blk, -1, "reader returned %d bytes for a %d-byte block", len(b), p.BlockSize)
	}
	return b, nil
}

func needBlock(p MapParams, what string) error {
	return errors.Join(ErrNeedBlock, p.errf(super.ErrUnsupported, super.NoBlock, -1, "%s needs a new block and no allocator was given", what))
}

func inodeErr(sentinel error, ino uint32, format string, args ...any) error {
	return super.Errorf(sentinel, fmt.Sprintf("inode %d", ino), super.NoBlock, -1, format, args...)
}
