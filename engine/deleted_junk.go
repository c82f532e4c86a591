package engine

import (
	"slices"

	"github.com/ext4relink/ext4relink/journal"
)

// committedSeq reports whether a transaction of the History with sequence
// seq was ever part of the log. With the log empty (s_start 0), the next
// transaction jbd2 would write is s_sequence: one at or past it in the log
// area was written but never committed by the journal superblock (an
// interrupted commit of ours, before its commit point), and is no
// evidence of anything.
func (fs *FS) committedSeq(seq uint32) bool {
	j := fs.JournalFile()
	if j == nil || j.SB.Start != 0 {
		return true
	}
	return int32(seq-j.SB.Sequence) < 0
}

// versions is h.Versions(b) without never-committed transactions.
func (fs *FS) versions(h *journal.History, b uint64) []journal.Logged {
	return slices.DeleteFunc(h.Versions(b), func(l journal.Logged) bool { return !fs.committedSeq(l.Sequence) })
}

// transactions is h.Transactions() without never-committed ones.
func (fs *FS) transactions(h *journal.History) []journal.HistTx {
	return slices.DeleteFunc(h.Transactions(), func(t journal.HistTx) bool { return !fs.committedSeq(t.Sequence) })
}

// DeletedHistory reads the journal's log area for Deleted and undelete:
// JournalHistory without the transactions an interrupted commit wrote
// but never committed (journal.History.DropUncommitted), so that a re-run
// after a crash sees only what the filesystem held. nil without an
// internal journal.
func (fs *FS) DeletedHistory() (*journal.History, error) {
	h, err := fs.JournalHistory()
	if h != nil {
		h.DropUncommitted()
	}
	return h, err
}
