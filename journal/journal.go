package journal

import (
	"errors"
	"fmt"
	"io"
	"sync/atomic"

	"github.com/ext4relink/ext4relink/super"
)

// BlockMap maps a journal block (0 is the journal superblock) to the
// filesystem block holding it; for an inode journal it is the inode's block
// map. It must fail for holes and for blocks past the inode.
type BlockMap func(jblk uint64) (fsblk uint64, err error)

// Journal is a loaded, validated jbd2 journal.
type Journal struct {
	SB       *Superblock
	Format   Format
	TotalLen uint64 // j_total_len: journal blocks (min of the inode size and s_maxlen)
	First    uint64 // j_first: first block of the log
	Last     uint64 // j_last: one past the last block of the log (the fast-commit area follows)
	FCFirst  uint64 // j_fc_first (fast commit journals only)
	FCLast   uint64 // j_fc_last (= s_maxlen; the last area block written is FCLast-1)

	// InodeSize is the filesystem's s_inode_size. Fast-commit INODE records
	// are bounded by it (ext4_fc_value_len_isvalid); set it before Recover.
	// Zero bounds them by the block size instead.
	InodeSize uint32

	dev    io.ReaderAt
	bmap   BlockMap
	seed   uint32
	sbRaw  []byte // journal block 0 as read
	sbFS   uint64 // filesystem block of journal block 0
	reads  atomic.Uint64
	nbytes atomic.Uint64
}

// Load reads journal block 0 through bmap and dev and validates the journal
// superblock like the kernel's journal_check_superblock (see
// Superblock.Validate). fsBlockSize is the filesystem block size and
// nblocks the journal inode's size in blocks. Blocks are read with
// dev.ReadAt at fsblk*fsBlockSize.
func Load(dev io.ReaderAt, fsBlockSize uint32, bmap BlockMap, nblocks uint64) (*Journal, error) {
	if fsBlockSize < 1024 || fsBlockSize > 65536 || fsBlockSize&(fsBlockSize-1) != 0 {
		return nil, super.Errorf(super.ErrCorrupt, "journal", super.NoBlock, -1, "block size %d is not a power of two between 1 KiB and 64 KiB", fsBlockSize)
	}
	if dev == nil || bmap == nil {
		return nil, errors.New("journal: Load needs a device and a block map")
	}
	j := &Journal{dev: dev, bmap: bmap, TotalLen: nblocks}
	j.Format.BlockSize = int(fsBlockSize)
	if nblocks == 0 {
		return nil, super.Errorf(super.ErrCorrupt, "journal", super.NoBlock, -1, "the journal inode is empty")
	}
	raw, fsblk, err := j.read(0)
	if err != nil {
		return nil, err
	}
	sb, err := DecodeSuperblock(raw)
	if err != nil {
		return nil, err
	}
	if err := sb.Validate(fsBlockSize, nblocks); err != nil {
		var fe *super.FormatError
		if errors.As(err, &fe) {
			fe.Block = fsblk
		}
		return nil, err
	}
	j.SB, j.sbRaw, j.sbFS = sb, raw, fsblk
	j.Format = sb.Format()
	j.TotalLen = min(nblocks, uint64(sb.MaxLen))
	j.First = uint64(sb.First)
	j.Last = uint64(sb.MaxLen)
	if j.Format.FastCommit() {
		j.FCLast = uint64(sb.MaxLen)
		j.Last = j.FCLast - uint64(sb.FastCommitBlocks())
		j.FCFirst = j.Last + 1
	}
	if j.Format.CsumV2or3() {
		j.seed = CsumSeed(sb.UUID)
	}
	return j, nil
}

// Seed is j_csum_seed (zero without checksum v2/v3).
func (j *Journal) Seed() uint32 { return j.seed }

// BlockSize is the journal (and filesystem) block size.
func (j *Journal) BlockSize() int { return j.Format.BlockSize }

// Map returns the filesystem block holding journal block jblk, refusing
// blocks outside the journal.
func (j *Journal) Map(jblk uint64) (uint64, error) {
	if jblk >= j.TotalLen {
		return 0, super.Errorf(super.ErrCorrupt, "journal", super.NoBlock, -1,
			"journal block %d is past the end of the journal (%d blocks)", jblk, j.TotalLen)
	}
	fsblk, err := j.bmap(jblk)
	if err != nil {
		return 0, fmt.Errorf("journal block %d: %w", jblk, err)
	}
	return fsblk, nil
}

// Stats counts the device reads made so far.
type Stats struct {
	Reads uint64 // ReadAt calls
	Bytes uint64 // bytes read
}

// Stats reports the reads made through this journal (and its overlays).
func (j *Journal) Stats() Stats { return Stats{Reads: j.reads.Load(), Bytes: j.nbytes.Load()} }

// read maps and reads one journal block (the kernel's jread).
func (j *Journal) read(jblk uint64) ([]byte, uint64, error) {
	fsblk, err := j.Map(jblk)
	if err != nil {
		return nil, 0, err
	}
	b, err := j.readFS(fsblk)
	if err != nil {
		return nil, fsblk, fmt.Errorf("journal block %d: %w", jblk, err)
	}
	return b, fsblk, nil
}

// readFS reads one filesystem block with a single ReadAt into a new slice.
func (j *Journal) readFS(fsblk uint64) ([]byte, error) {
	b := make([]byte, j.Format.BlockSize)
	if err := j.readFSInto(b, fsblk); err != nil {
		return nil, err
	}
	return b, nil
}

// readFSInto reads one filesystem block with a single ReadAt into b, which
// must be one block long.
func (j *Journal) readFSInto(b []byte, fsblk uint64) error {
	bs := uint64(j.Format.BlockSize)
	if fsblk > (1<<63-1)/bs {
		return super.Errorf(super.ErrCorrupt, "journal", fsblk, -1, "block number %d is too large", fsblk)
	}
	n, err := j.dev.ReadAt(b[:bs], int64(fsblk*bs))
	j.reads.Add(1)
	j.nbytes.Add(uint64(n))
	if n == int(bs) {
		return nil
	}
	if err == nil || err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return fmt.Errorf("reading filesystem block %d: %w", fsblk, err)
}
