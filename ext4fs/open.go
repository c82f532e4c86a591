package ext4fs

import (
	"errors"
	"fmt"

	"github.com/ext4relink/ext4relink/journal"
	"github.com/ext4relink/ext4relink/super"
)

// Load reads and validates the superblock, loads the journal and, when
// recovery is needed, replays it into an in-memory overlay, the journal
// layer (nothing is written). Every later read goes through the overlay.
// Fast commits are not replayed here: that is the fastcommit package's
// job, whose result the caller pushes with SetFastCommit (see
// PendingFastCommits).
func Load(dev Dev) (*FS, error) {
	sb, err := ReadSuper(dev)
	if err != nil {
		return nil, err
	}
	fs := &FS{dev: &devSource{dev: dev, bs: sb.BlockSize()}, SB: sb, DiskSB: sb, bs: sb.BlockSize(),
		top: LayerFastCommit, gds: map[uint64]*super.GroupDesc{}, Journal: &JournalState{}}
	if err := fs.loadJournal(); err != nil {
		return nil, err
	}
	return fs, nil
}

// SuperblockLocation is the block holding the primary superblock and its
// offset inside that block.
func (fs *FS) SuperblockLocation() (uint64, uint32) {
	if fs.bs == super.Offset {
		return 1, 0
	}
	return 0, super.Offset
}

func (fs *FS) loadJournal() error {
	sb := fs.SB
	st := fs.Journal
	if !sb.HasCompat(super.CompatHasJournal) {
		if sb.HasIncompat(super.IncompatRecover) {
			return super.Errorf(super.ErrCorrupt, "superblock", super.NoBlock, super.Offset, "needs_recovery is set but the filesystem has no journal")
		}
		return nil
	}
	st.Present = true
	st.NeedsRecovery = sb.HasIncompat(super.IncompatRecover)
	if sb.JournalInum == 0 {
		st.External = true
		if st.NeedsRecovery {
			return super.Errorf(super.ErrUnsupported, "journal", super.NoBlock, -1,
				"the filesystem uses an external journal device (s_journal_dev %#x) that holds pending transactions; ext4relink does not read external journals, and replaying it with e2fsck or a mount would delete the orphans", sb.JournalDev)
		}
		return nil
	}
	j, err := fs.openJournal()
	if err != nil {
		return err
	}
	fs.jrnl = j
	if !st.NeedsRecovery {
		if j.SB.Start != 0 {
			st.StopReason = "needs_recovery is clear, so the log is ignored (as the kernel and e2fsck ignore it)"
		}
		return nil
	}
	return fs.replay(j)
}

// openJournal maps the journal inode (read from the device itself, as the
// kernel does before replay) and validates the journal superblock.
func (fs *FS) openJournal() (*journal.Journal, error) {
	ino := fs.SB.JournalInum
	in, _, err := fs.ReadInode(ino)
	if err != nil {
		return nil, fmt.Errorf("journal inode: %w", err)
	}
	if !in.IsReg() {
		return nil, super.Errorf(super.ErrCorrupt, fmt.Sprintf("journal inode %d", ino), super.NoBlock, -1, "is not a regular file")
	}
	m, err := fs.BlockMap(ino, in)
	if err != nil {
		return nil, fmt.Errorf("journal inode: %w", err)
	}
	jm := &journalMap{ino: ino, m: m}
	j, err := journal.Load(fs.dev.dev, fs.bs, jm.mapBlock, in.Size()/uint64(fs.bs))
	if err != nil {
		return nil, err
	}
	j.InodeSize = fs.SB.InodeSizeBytes()
	return j, nil
}

func (fs *FS) replay(j *journal.Journal) error {
	ov, err := j.Recover()
	if err != nil {
		return err
	}
	if err := ov.CheckRange(fs.SB.BlocksCount()); err != nil {
		return err
	}
	fs.Log = ov.Log
	st := fs.Journal
	st.Transactions = len(ov.Log.Replayed())
	st.Blocks = ov.NumBlocks()
	st.StopReason = ov.Log.Stop.Reason.String()
	if ov.Log.Stop.Detail != "" {
		st.StopReason += ": " + ov.Log.Stop.Detail
	}
	fs.jov = ov
	fs.gds = map[uint64]*super.GroupDesc{}
	return fs.reloadSuper()
}

// PendingFastCommits returns the fast-commit records newer than the last
// full commit that a replay would apply, and why they are pending (nil
// when there are none).
func (fs *FS) PendingFastCommits() ([]journal.FCTag, error) {
	if fs.jov == nil {
		return nil, nil
	}
	pending := fs.jov.Pending()
	if pending == nil {
		return nil, nil
	}
	return fs.jov.Log.FastCommit.Replay(), pending
}

// reloadSuper reads the superblock again through the overlay: the journal
// may hold a newer copy (with the orphan list head the kernel last wrote).
func (fs *FS) reloadSuper() error {
	blk, off := fs.SuperblockLocation()
	b, err := fs.ReadBlock(blk)
	if err != nil {
		return err
	}
	sb, err := super.Decode(b[off : off+super.Size])
	if err != nil {
		return err
	}
	if err := sb.Validate(); err != nil {
		var fe *super.FormatError
		if errors.As(err, &fe) {
			fe.Struct = "superblock (as replayed from the journal)"
		}
		return err
	}
	if sb.BlocksCount() != fs.DiskSB.BlocksCount() || sb.BlockSize() != fs.DiskSB.BlockSize() {
		return super.Errorf(super.ErrCorrupt, "superblock (as replayed from the journal)", blk, int64(off),
			"geometry differs from the on-disk superblock (%d vs %d blocks); a resize was in flight, which ext4relink does not handle", sb.BlocksCount(), fs.DiskSB.BlocksCount())
	}
	fs.SB = sb
	return nil
}

// CheckJournalForWrite refuses to build on a replay the kernel would not
// accept cleanly: a logged copy failing its data checksum (the kernel
// replays the rest and refuses to mount), or a transaction whose commit
// block failed its checksum (the kernel marks the filesystem as having
// errors). Reading every logged block here is what writing the replay home
// needs anyway.
func (fs *FS) CheckJournalForWrite() error {
	ov := fs.jov
	if ov == nil {
		return nil
	}
	if err := ov.Verify(); err != nil {
		return err
	}
	if l := ov.Log; l.HasFailedCommit {
		structure, blk := "journal", super.NoBlock
		for _, t := range l.Transactions {
			if t.Sequence == l.FailedCommit && t.Committed {
				structure = fmt.Sprintf("journal commit block %d", t.CommitBlock)
				if fs.jrnl != nil {
					if b, err := fs.jrnl.Map(t.CommitBlock); err == nil {
						blk = b
					}
				}
			}
		}
		return super.Errorf(super.ErrCorrupt, structure, blk, -1,
			"transaction %d failed its commit checksum: the kernel would replay up to it and mark the filesystem as having errors; ext4relink will not write on top of that", l.FailedCommit)
	}
	return nil
}
