package engine

import (
	"fmt"

	"github.com/ext4relink/ext4relink/journal"
	"github.com/ext4relink/ext4relink/super"
)

// Where a journaled commit writes its transaction. The log area still
// holds older copies of blocks (journal.History): the evidence original
// paths (--original, list), deleted files (deleted, undelete) come from.
// The transaction goes where it destroys the least of it: right after the
// newest committed transaction (where jbd2 would write next), wrapping
// from the end of the log to its first block, so that it overwrites the
// oldest copies first, and none at all while the log has room after the
// newest. Recovery (the kernel's, e2fsck's, ours) starts wherever s_start
// points, with s_sequence: the place changes nothing about crash safety,
// provided recovery stops after our commit block (checked: the block
// after it must not continue the log, see RecoveryContinuesAt).

// LogPlace is where the commit writes its journal transaction and what
// older evidence that costs.
type LogPlace struct {
	Start  uint64 // journal block of its first block
	Blocks uint64 // journal blocks it takes
	// After is the newest committed transaction still in the log, which
	// it follows (0 when the log area holds none).
	After uint32
	// Transactions and Copies: the older transactions still in the log
	// area it writes over (their commit block or any of their blocks),
	// and the logged copies they hold, which list --original, deleted and
	// undelete can no longer use.
	Transactions int
	Copies       int
	// Oldest and Newest are the sequences of the first and last of them.
	Oldest uint32
	Newest uint32
}

// Sentence says where the transaction goes and what it overwrites.
func (l LogPlace) Sentence(dryRun bool) string {
	verb := "went"
	if dryRun {
		verb = "goes"
	}
	where := fmt.Sprintf("The journal transaction (%d journal blocks) %s at journal block %d", l.Blocks, verb, l.Start)
	if l.After != 0 {
		where += fmt.Sprintf(", after transaction %d, the newest in the log", l.After)
	}
	if l.Copies == 0 && l.Transactions == 0 {
		return where + "; it overwrites no older logged copy"
	}
	verb = "overwrote"
	if dryRun {
		verb = "overwrites"
	}
	return fmt.Sprintf("%s; it %s the %d oldest logged block copies still in the journal (transactions %d to %d): "+
		"original paths and deleted files known only from them are lost", where, verb, l.Copies, l.Oldest, l.Newest)
}

// commitSequence is the sequence the commit gives its transaction (see
// commitJournaled): one past s_sequence on a clean journal, as jbd2 does,
// or the one after the log that recovery replays.
func (fs *FS) commitSequence() uint32 {
	if fs.Log != nil {
		return fs.Log.NextSequence()
	}
	return fs.JournalFile().SB.Sequence + 1
}

// placeTransaction chooses where the plan's transaction goes (h: the
// History of the log area, nil when it was not read) and records it in
// p.JournalStart and p.LogPlace. Nothing without an internal journal or
// without changes.
func (p *Plan) placeTransaction(h *journal.History) error {
	j := p.fs.JournalFile()
	if p.Ordered || j == nil {
		return nil
	}
	changes, err := p.Changes()
	if err != nil || len(changes) == 0 {
		return err
	}
	lp, err := p.fs.logPlace(h, len(changes))
	if err != nil {
		return err
	}
	p.JournalStart, p.LogPlace = lp.Start, lp
	return nil
}

// logPlace places a transaction of n logged blocks after the newest
// committed transaction of h.
func (fs *FS) logPlace(h *journal.History, n int) (*LogPlace, error) {
	j := fs.JournalFile()
	lp := &LogPlace{Start: j.First, Blocks: j.TransactionLen(n)}
	if lp.Blocks > j.Capacity() {
		return nil, super.Errorf(super.ErrUnsupported, "journal", super.NoBlock, -1,
			"the transaction takes %d journal blocks but the log holds only %d; relink fewer files at a time", lp.Blocks, j.Capacity())
	}
	var txs []journal.HistTx
	if h != nil {
		txs = fs.transactions(h) // newest first, never-committed ones left out
	}
	if len(txs) > 0 {
		lp.After = txs[0].Sequence
		if next := txs[0].CommitBlock + 1; next >= j.First && next < j.Last {
			lp.Start = next
		}
	}
	for _, t := range txs { // the newest too, when the transaction fills the whole log
		if !overlapsLog(j, t.Start, t.CommitBlock, lp.Start, lp.Blocks) {
			continue
		}
		if lp.Transactions == 0 || int32(t.Sequence-lp.Oldest) < 0 {
			lp.Oldest = t.Sequence
		}
		if lp.Transactions == 0 || int32(t.Sequence-lp.Newest) > 0 {
			lp.Newest = t.Sequence
		}
		lp.Transactions++
		lp.Copies += t.Blocks
	}
	if err := fs.checkLogEnd(j.Advance(lp.Start, lp.Blocks), fs.commitSequence()); err != nil {
		return nil, err
	}
	return lp, nil
}

// checkLogEnd refuses a transaction of sequence seq that would end just
// before journal block end when recovery would read on there (a stale
// block of sequence seq+1): after a crash past the commit point, the
// replay would go on into whatever that stale transaction logged.
func (fs *FS) checkLogEnd(end uint64, seq uint32) error {
	j := fs.JournalFile()
	cont, err := j.RecoveryContinuesAt(end, seq)
	if err != nil {
		return err
	}
	if cont {
		blk, _ := j.Map(end)
		return super.Errorf(super.ErrCorrupt, fmt.Sprintf("journal block %d", end), blk, -1,
			"a stale journal block of sequence %d lies right after where the transaction would end: recovery after a crash would read on into it, "+
				"which jbd2 never leaves; nothing was written", seq+1)
	}
	return nil
}

// overlapsLog: does the circular span [s, c] of the log meet the n
// blocks from start?
func overlapsLog(j *journal.Journal, s, c, start, n uint64) bool {
	if n == 0 {
		return false
	}
	last := j.Advance(start, n-1)
	if start <= last {
		return overlaps(s, c, start, last+1)
	}
	return overlaps(s, c, start, j.Last) || overlaps(s, c, j.First, last+1)
}
