package engine

import (
	"time"

	"github.com/ext4relink/ext4relink/journal"
	"github.com/ext4relink/ext4relink/super"
)

// Commit writes the plan to the device so that a crash at any moment
// leaves either the old state (the orphans still orphans: run the same
// command again) or the new one:
//
//  1. A journal that needs recovery is first replayed to its home blocks
//     and marked empty (idempotent until the mark: a crash just means the
//     replay runs again). Orphans are not reaped, unlike the kernel's and
//     e2fsck's recovery.
//  2. The plan's blocks go into one jbd2 transaction in the journal's own
//     format: descriptors and data, flush, commit block, flush.
//  3. needs_recovery is set in the superblock, flush; then the journal
//     superblock points at the transaction, flush. This single-sector
//     write is the commit point: from here on any replay (ours, the
//     kernel's, e2fsck's) gives the new state.
//  4. The blocks are written home (the superblock still with
//     needs_recovery), flush; the journal is marked empty, flush; the final
//     superblock (needs_recovery clear) is written, flush.
func (fs *FS) Commit(p *Plan) error {
	changes, err := p.Changes()
	if err != nil {
		return err
	}
	if len(changes) == 0 {
		return fs.WriteReplay()
	}
	if p.Ordered {
		return fs.commitOrdered(p)
	}
	if err := fs.finishRecovery(); err != nil {
		return err
	}
	return fs.commitJournaled(p, changes)
}

// WriteReplay writes a pending journal replay to its home blocks (the
// orphans are not reaped), marks the journal empty and clears
// needs_recovery. It is safe to interrupt at any moment: until the journal
// is marked empty the replay simply runs again.
func (fs *FS) WriteReplay() error {
	if err := fs.CheckJournalForWrite(); err != nil {
		return err
	}
	if err := fs.finishRecovery(); err != nil {
		return err
	}
	if err := fs.clearRecoverOnDisk(); err != nil {
		return err
	}
	return fs.wipeStaleLog()
}

// wipeStaleLog marks empty a log that needs_recovery does not ask to replay
// (what the kernel's jbd2_journal_wipe does on a read-write mount; a
// read-only mount cannot, and refuses). Such a log is left by a power cut
// that kept needs_recovery's clearing but lost the journal superblock's.
func (fs *FS) wipeStaleLog() error {
	if fs.JournalFile() == nil || fs.Journal.NeedsRecovery || fs.JournalFile().SB.Start == 0 {
		return nil
	}
	l, err := fs.JournalFile().Scan()
	if err != nil {
		return err
	}
	if err := fs.writeJournalSuper(0, l.NextSequence()); err != nil {
		return err
	}
	return fs.Dev().Sync()
}

// finishRecovery writes a pending replay home and marks the journal empty,
// keeping needs_recovery set (harmless with an empty log); commitJournaled
// clears it at the very end. Replayed fast commits are first staged as a
// full transaction appended to the log (stageFastCommits), so that what is
// written home is exactly a journal replay, safe to repeat.
func (fs *FS) finishRecovery() error {
	ov := fs.JournalOverlay()
	if ov == nil {
		return nil
	}
	if len(fs.FastCommitBlocks()) > 0 {
		var err error
		if ov, err = fs.stageFastCommits(ov); err != nil {
			return err
		}
	}
	for _, b := range ov.Blocks() {
		data, ok, err := ov.ReadBlock(b)
		if err != nil {
			return err
		}
		if !ok {
			continue // every copy failed its checksum: the kernel skips it too
		}
		if err := fs.WriteBlock(b, data); err != nil {
			return err
		}
	}
	if err := fs.Dev().Sync(); err != nil {
		return err
	}
	seq := ov.Log.NextSequence()
	if err := fs.writeJournalSuper(0, seq); err != nil {
		return err
	}
	if err := fs.Dev().Sync(); err != nil {
		return err
	}
	fs.SetJournalOverlay(nil)
	return nil
}

// stageFastCommits appends the blocks the fast-commit replay produced to the
// log as one full transaction with the fast commits' own tid (Log.End),
// right after the last transaction: descriptors and data, flush, commit
// block, flush. Once its commit block is durable any replay (ours, the
// kernel's, e2fsck's) applies it and then ignores the now stale fast
// commits; before that the log and the fast commits are as they were.
// Writing the fast-commit result home directly instead would leave, after
// a crash, blocks that a repeated replay no longer agrees with.
func (fs *FS) stageFastCommits(ov *journal.Overlay) (*journal.Overlay, error) {
	j, l := fs.JournalFile(), ov.Log
	var logged []journal.LoggedBlock
	for _, b := range fs.FastCommitBlocks() {
		data, _ := fs.FastCommitBlock(b)
		logged = append(logged, journal.LoggedBlock{FSBlock: b, Data: data})
	}
	writes, err := j.EncodeTransaction(l.End, logged, l.HeadBlock, time.Now())
	if err != nil {
		return nil, err
	}
	if free := logFree(j, l); uint64(len(writes)) >= free {
		return nil, super.Errorf(super.ErrUnsupported, "journal", super.NoBlock, -1,
			"the fast-commit replay needs %d journal blocks but only %d are free after the log", len(writes), free)
	}
	if err := fs.writeLog(writes[:len(writes)-1]); err != nil {
		return nil, err
	}
	if err := fs.Dev().Sync(); err != nil {
		return nil, err
	}
	if err := fs.writeLog(writes[len(writes)-1:]); err != nil {
		return nil, err
	}
	if err := fs.Dev().Sync(); err != nil {
		return nil, err
	}
	staged, err := j.Recover()
	if err != nil {
		return nil, err
	}
	if staged.Log.End != l.End+1 || staged.Pending() != nil {
		return nil, super.Errorf(super.ErrCorrupt, "journal", super.NoBlock, -1,
			"the staged fast-commit transaction %d is not replayed as expected (log now ends before %d)", l.End, staged.Log.End)
	}
	fs.SetJournalOverlay(staged)
	return staged, nil
}

// logFree is the number of free blocks in the circular log from where the
// log ends up to where it starts.
func logFree(j *journal.Journal, l *journal.Log) uint64 {
	size := j.Last - j.First
	start, head := uint64(j.SB.Start), l.HeadBlock
	if head >= start {
		return size - (head - start)
	}
	return start - head
}

func (fs *FS) commitJournaled(p *Plan, changes []Change) error {
	j := fs.JournalFile()
	// As jbd2 does after loading a clean journal: continue one past
	// s_sequence, never reusing a number a half-written transaction may carry.
	seq := fs.commitSequence()
	var logged []journal.LoggedBlock
	for _, c := range changes {
		logged = append(logged, journal.LoggedBlock{FSBlock: c.Block, Data: c.New})
	}
	start := j.First
	if p.JournalStart >= j.First && p.JournalStart < j.Last {
		start = p.JournalStart // after the newest history (see logPlace)
	}
	writes, err := j.EncodeTransaction(seq, logged, start, p.Now)
	if err != nil {
		return err
	}
	// Recovery must stop after our commit block, wherever it lies.
	if err := fs.checkLogEnd(j.Advance(start, uint64(len(writes))), seq); err != nil {
		return err
	}
	// Barrier 1: the whole transaction (nothing points at it yet) and
	// needs_recovery (harmless while the log is empty) are durable.
	if err := fs.writeLog(writes); err != nil {
		return err
	}
	sbBlk, sbOff := fs.SuperblockLocation()
	if err := fs.setRecoverFlag(); err != nil {
		return err
	}
	if err := fs.Dev().Sync(); err != nil {
		return err
	}
	// Barrier 2, the commit point: the journal superblock points at it.
	if err := fs.writeJournalSuper(start, seq); err != nil {
		return err
	}
	if err := fs.Dev().Sync(); err != nil {
		return err
	}
	// Barrier 3: every block home (the superblock keeps needs_recovery).
	for _, c := range changes {
		data := c.New
		if c.Block == sbBlk {
			if data, err = withRecover(data, sbOff, true); err != nil {
				return err
			}
		}
		if err := fs.WriteBlock(c.Block, data); err != nil {
			return err
		}
	}
	if err := fs.Dev().Sync(); err != nil {
		return err
	}
	// Barrier 4: the journal is empty. Only then, barrier 5, needs_recovery
	// is cleared: the other order could leave a log that nothing asks to
	// replay, which a read-only mount cannot wipe and refuses.
	if err := fs.writeJournalSuper(0, seq+1); err != nil {
		return err
	}
	if err := fs.Dev().Sync(); err != nil {
		return err
	}
	if err := fs.clearRecoverFlag(p); err != nil {
		return err
	}
	return fs.Dev().Sync()
}

// writeLog writes the transaction's journal blocks. No barrier is needed
// between the data and the commit block: nothing refers to the transaction
// until the journal superblock is written after the next flush.
func (fs *FS) writeLog(writes []journal.JournalWrite) error {
	for _, w := range writes {
		blk, err := fs.JournalFile().Map(w.JBlock)
		if err != nil {
			return err
		}
		if err := fs.WriteBlock(blk, w.Data); err != nil {
			return err
		}
	}
	return nil
}

// writeJournalSuper writes the journal superblock (s_start, s_sequence);
// the caller flushes.
func (fs *FS) writeJournalSuper(start uint64, seq uint32) error {
	b, err := fs.JournalFile().SuperblockBytes(start, seq)
	if err != nil {
		return err
	}
	return fs.WriteBlock(fs.JournalFile().SuperblockFSBlock(), b)
}

// setRecoverFlag sets needs_recovery in the superblock on the device; the
// caller flushes.
func (fs *FS) setRecoverFlag() error {
	return fs.writeSuper(fs.ReadDeviceBlock, true)
}

// clearRecoverFlag writes the plan's final superblock block with
// needs_recovery clear; the caller flushes.
func (fs *FS) clearRecoverFlag(p *Plan) error {
	return fs.writeSuper(p.Read, false)
}

// clearRecoverOnDisk clears needs_recovery in the device's superblock (used
// when there is nothing to commit but a replay was written home).
func (fs *FS) clearRecoverOnDisk() error {
	if !fs.Journal.NeedsRecovery {
		return nil
	}
	if err := fs.writeSuper(fs.ReadDeviceBlock, false); err != nil {
		return err
	}
	return fs.Dev().Sync()
}

// writeSuper reads the superblock's block with read, sets or clears
// needs_recovery and writes the block.
func (fs *FS) writeSuper(read func(uint64) ([]byte, error), set bool) error {
	blk, off := fs.SuperblockLocation()
	b, err := read(blk)
	if err != nil {
		return err
	}
	nb, err := withRecover(b, off, set)
	if err != nil {
		return err
	}
	return fs.WriteBlock(blk, nb)
}

// withRecover returns a copy of the block holding the superblock at off
// with needs_recovery set (or cleared) and the checksum updated.
func withRecover(block []byte, off uint32, set bool) ([]byte, error) {
	b := append([]byte(nil), block...)
	sb, err := super.Decode(b[off : off+super.Size])
	if err != nil {
		return nil, err
	}
	if set {
		sb.FeatureIncompat |= super.IncompatRecover
	} else {
		sb.FeatureIncompat &^= super.IncompatRecover
	}
	sb.SetChecksum()
	copy(b[off:], sb.Encode())
	return b, nil
}
