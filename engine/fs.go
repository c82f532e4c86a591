package engine

import (
	"fmt"

	"github.com/ext4relink/ext4relink/journal"

	"github.com/ext4relink/ext4relink/super"
)

// Overlay is the replayed journal: blocks it holds override the device.
type Overlay interface {
	ReadBlock(fsblk uint64) (data []byte, ok bool, err error)
}

// FS is a read view of an ext4 filesystem: the device seen through the
// replayed journal. It reads only what it is asked for and caches group
// descriptors.
type FS struct {
	dev     Dev
	SB      *super.Superblock // the superblock as recovery would leave it
	DiskSB  *super.Superblock // the superblock as it is on the device
	bs      uint32
	overlay Overlay
	gds     map[uint64]*super.GroupDesc
	// Journal state, filled by loadJournal.
	Journal *JournalState
	jrnl    *journal.Journal // nil without an internal journal
	Log     *journal.Log     // the recovery scan, when recovery was needed
	// fc holds the blocks a fast-commit replay changed, on top of the
	// journal overlay; Commit writes them home with the replay.
	fc map[uint64][]byte
	// cache keeps device blocks already read (callers never modify what
	// ReadBlock returns); writes through writeBlock drop their entry.
	cache map[uint64][]byte
}

// cacheLimit bounds the device block cache (entries).
const cacheLimit = 1 << 14

// readSuper reads and validates the primary superblock from the device.
func readSuper(dev Dev) (*super.Superblock, error) {
	raw := make([]byte, super.Size)
	if dev.Size() < super.Offset+super.Size {
		return nil, super.Errorf(super.ErrCorrupt, "superblock", super.NoBlock, super.Offset,
			"the device is only %d bytes, too small to hold an ext4 superblock", dev.Size())
	}
	if _, err := dev.ReadAt(raw, super.Offset); err != nil {
		return nil, err
	}
	sb, err := super.Decode(raw)
	if err != nil {
		return nil, err
	}
	if err := sb.Validate(); err != nil {
		return nil, err
	}
	if need := sb.BlocksCount() * uint64(sb.BlockSize()); need > uint64(dev.Size()) {
		return nil, super.Errorf(super.ErrCorrupt, "superblock", super.NoBlock, super.Offset,
			"the filesystem has %d blocks (%d bytes) but the device is only %d bytes: a truncated image or the wrong partition; refusing to touch it",
			sb.BlocksCount(), need, dev.Size())
	}
	return sb, nil
}

// BlockSize is the filesystem block size in bytes.
func (fs *FS) BlockSize() uint32 { return fs.bs }

// ReadBlock returns block n as recovery would leave it: from the journal
// overlay when it holds the block, else from the device. Block numbers
// outside the filesystem are refused.
func (fs *FS) ReadBlock(n uint64) ([]byte, error) {
	if n >= fs.SB.BlocksCount() {
		return nil, super.Errorf(super.ErrCorrupt, "block reference", n, -1,
			"block %d is beyond the end of the filesystem (%d blocks)", n, fs.SB.BlocksCount())
	}
	if b, ok := fs.fc[n]; ok {
		return b, nil
	}
	if fs.overlay != nil {
		b, ok, err := fs.overlay.ReadBlock(n)
		if err != nil {
			return nil, err
		}
		if ok {
			return b, nil
		}
	}
	return fs.readDevBlock(n)
}

func (fs *FS) readDevBlock(n uint64) ([]byte, error) {
	if b, ok := fs.cache[n]; ok {
		return b, nil
	}
	b := make([]byte, fs.bs)
	if _, err := fs.dev.ReadAt(b, int64(n)*int64(fs.bs)); err != nil {
		return nil, err
	}
	if fs.cache == nil || len(fs.cache) >= cacheLimit {
		fs.cache = map[uint64][]byte{}
	}
	fs.cache[n] = b
	return b, nil
}

// GroupDesc returns group g's descriptor, verified against its checksum.
func (fs *FS) GroupDesc(g uint64) (*super.GroupDesc, error) {
	if gd, ok := fs.gds[g]; ok {
		return gd, nil
	}
	if g >= fs.SB.GroupCount() {
		return nil, super.Errorf(super.ErrCorrupt, "group descriptor", super.NoBlock, -1, "group %d does not exist (%d groups)", g, fs.SB.GroupCount())
	}
	blk, off := fs.SB.DescLocation(g)
	b, err := fs.ReadBlock(blk)
	if err != nil {
		return nil, err
	}
	gd, err := super.DecodeGroupDesc(b[off : off+fs.SB.DescSizeBytes()])
	if err != nil {
		return nil, err
	}
	if err := fs.validateDesc(g, gd, blk, off); err != nil {
		return nil, err
	}
	fs.gds[g] = gd
	return gd, nil
}

func (fs *FS) validateDesc(g uint64, gd *super.GroupDesc, blk uint64, off uint32) error {
	name := fmt.Sprintf("group descriptor %d", g)
	if !gd.VerifyChecksum(fs.SB, uint32(g)) {
		return super.Errorf(super.ErrChecksum, name, blk, int64(off), "checksum %#04x does not match (computed %#04x)", gd.Csum, gd.Checksum(fs.SB, uint32(g)))
	}
	n := fs.SB.BlocksCount()
	for what, b := range map[string]uint64{"block bitmap": gd.BlockBitmap(), "inode bitmap": gd.InodeBitmap(), "inode table": gd.InodeTable()} {
		if b < uint64(fs.SB.FirstDataBlock) || b >= n {
			return super.Errorf(super.ErrCorrupt, name, blk, int64(off), "%s at block %d is outside the filesystem", what, b)
		}
	}
	itBlocks := fs.SB.InodeTableBlocks()
	if gd.InodeTable()+itBlocks > n {
		return super.Errorf(super.ErrCorrupt, name, blk, int64(off), "inode table %d+%d runs past the end of the filesystem", gd.InodeTable(), itBlocks)
	}
	if gd.FreeInodesCount() > fs.SB.InodesPerGroup || gd.FreeBlocksCount() > fs.SB.ClustersPerGroupN() {
		return super.Errorf(super.ErrCorrupt, name, blk, int64(off), "free counts (%d inodes, %d blocks) exceed the group size", gd.FreeInodesCount(), gd.FreeBlocksCount())
	}
	return nil
}

// JournalState summarises the journal as ext4relink found it.
type JournalState struct {
	Present       bool   // has_journal
	External      bool   // the journal lives on another device
	NeedsRecovery bool   // needs_recovery was set
	Transactions  int    // committed transactions the replay applies
	Blocks        int    // distinct filesystem blocks the replay overrides
	StopReason    string // where and why the scan stopped
	FastCommits   int    // fast-commit records replayed on top of the log
	// FastCommitsRefused says why valid fast commits newer than the last
	// full commit are pending and were NOT replayed (nil when there were
	// none, or they were replayed): list warns, a relink refuses.
	FastCommitsRefused error
}
