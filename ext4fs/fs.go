package ext4fs

import (
	"fmt"

	"github.com/ext4relink/ext4relink/internal/devio"
	"github.com/ext4relink/ext4relink/journal"
	"github.com/ext4relink/ext4relink/super"
)

// Dev is what the filesystem reads (and Commit writes) through.
type Dev = devio.Dev

// FS is a read view of an ext4 filesystem: the device seen through the
// replayed journal and the fast-commit replay (see source.go for the
// stack). It reads only what it is asked for and caches group
// descriptors. A view made by Below reads only the lower layers.
type FS struct {
	SB     *super.Superblock // the superblock as recovery would leave it
	DiskSB *super.Superblock // the superblock as it is on the device
	// Journal state, filled by Load.
	Journal *JournalState
	Log     *journal.Log // the recovery scan, when recovery was needed

	bs   uint32
	dev  *devSource       // LayerDevice
	jov  *journal.Overlay // LayerJournal: nil when no replay is needed
	fc   BlockSet         // LayerFastCommit: nil when nothing was replayed
	top  Layer            // the highest layer this view reads
	gds  map[uint64]*super.GroupDesc
	jrnl *journal.Journal // nil without an internal journal
}

// ReadSuper reads and validates the primary superblock from the device.
func ReadSuper(dev Dev) (*super.Superblock, error) {
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

// ReadBlock returns block n as recovery would leave it: from the highest
// layer of the view that holds it. Block numbers outside the filesystem
// are refused.
func (fs *FS) ReadBlock(n uint64) ([]byte, error) {
	if n >= fs.SB.BlocksCount() {
		return nil, super.Errorf(super.ErrCorrupt, "block reference", n, -1,
			"block %d is beyond the end of the filesystem (%d blocks)", n, fs.SB.BlocksCount())
	}
	for l := fs.top; l >= LayerDevice; l-- {
		src := fs.source(l)
		if src == nil {
			continue
		}
		b, ok, err := src.ReadBlock(n)
		if err != nil {
			return nil, err
		}
		if ok {
			return b, nil
		}
	}
	return nil, fmt.Errorf("%w: block %d: no layer holds it", devio.ErrInternal, n)
}

// source returns layer l of the stack, nil when it is empty.
func (fs *FS) source(l Layer) Source {
	switch l {
	case LayerDevice:
		return fs.dev
	case LayerJournal:
		if fs.jov != nil {
			return fs.jov
		}
	case LayerFastCommit:
		if fs.fc != nil {
			return fs.fc
		}
	}
	return nil
}

// ReadDeviceBlock returns block n as it is on the device (through the cache).
func (fs *FS) ReadDeviceBlock(n uint64) ([]byte, error) {
	b, _, err := fs.dev.ReadBlock(n)
	return b, err
}

// Below returns a read view of the layers under l only (Below(LayerFastCommit)
// is the filesystem as the journal replay alone leaves it), with its own
// group-descriptor cache. It shares the device cache and the superblock.
func (fs *FS) Below(l Layer) *FS {
	v := *fs
	v.top = min(fs.top, l-1)
	v.gds = map[uint64]*super.GroupDesc{}
	return &v
}

// Top is the highest layer the view reads.
func (fs *FS) Top() Layer { return fs.top }

// Dev is the device the filesystem is read from and written to.
func (fs *FS) Dev() Dev { return fs.dev.dev }

// JournalFile is the internal journal, nil without one.
func (fs *FS) JournalFile() *journal.Journal { return fs.jrnl }

// JournalOverlay is the journal layer: the replayed log, nil when no
// recovery is needed (or after it was written home).
func (fs *FS) JournalOverlay() *journal.Overlay { return fs.jov }

// SetJournalOverlay replaces the journal layer (nil: none) once its
// blocks were written home or staged again; the fast-commit layer is
// dropped with it (its blocks are in the new log or home).
func (fs *FS) SetJournalOverlay(ov *journal.Overlay) {
	fs.jov, fs.fc = ov, nil
	if ov != nil {
		fs.Log = ov.Log
	}
}

// SetFastCommit pushes blocks as the fast-commit layer and reads the
// superblock again through it. On error the FS is left as it was.
func (fs *FS) SetFastCommit(blocks BlockSet) error {
	fs.fc = blocks
	fs.gds = map[uint64]*super.GroupDesc{}
	if err := fs.reloadSuper(); err != nil {
		fs.fc = nil
		fs.gds = map[uint64]*super.GroupDesc{}
		return err
	}
	return nil
}

// FastCommitBlocks lists the blocks the fast-commit replay changed (block
// order); Commit writes them home together with the journal replay.
func (fs *FS) FastCommitBlocks() []uint64 { return fs.fc.Blocks() }

// FastCommitBlock returns block n of the fast-commit layer.
func (fs *FS) FastCommitBlock(n uint64) ([]byte, bool) {
	b, ok := fs.fc[n]
	return b, ok
}

// WriteBlock writes block n to the device (dropping its cached copy).
func (fs *FS) WriteBlock(n uint64, data []byte) error {
	if uint32(len(data)) != fs.bs {
		return fmt.Errorf("%w: writing %d bytes to block %d", devio.ErrInternal, len(data), n)
	}
	delete(fs.dev.cache, n)
	_, err := fs.dev.dev.WriteAt(data, int64(n)*int64(fs.bs))
	return err
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
