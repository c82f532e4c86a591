package engine

import "github.com/ext4relink/ext4relink/journal"

// maxSkipped bounds the sequence numbers bridged between two adjacent
// transactions (jbd2 skips one after each recovery and each clean mount).
const maxSkipped = 16

// bridgeSkipped marks present the sequence numbers no transaction ever
// used: jbd2 (and a commit of ours after a recovery) continues one past
// the first sequence recovery did not find, so the sequences of the log
// can skip a number although nothing was lost in between. Two
// transactions are known to have nothing between them when the newer one
// starts right after the older one's commit block: jbd2 writes the log in
// order, so a transaction committed in between would lie there. txs is
// newest first.
func bridgeSkipped(present map[uint32]bool, j *journal.Journal, txs []journal.HistTx) {
	for i := 0; i+1 < len(txs); i++ {
		newer, older := txs[i], txs[i+1]
		gap := newer.Sequence - older.Sequence
		if gap < 2 || gap > maxSkipped || j.Advance(older.CommitBlock, 1) != newer.Start {
			continue
		}
		for q := older.Sequence + 1; q != newer.Sequence; q++ {
			present[q] = true
		}
	}
}
