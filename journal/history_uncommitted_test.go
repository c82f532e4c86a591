package journal

import "testing"

// TestDropUncommitted: with the log empty, a transaction at or past
// s_sequence (a commit interrupted before its commit point) is removed;
// the copies it overwrote stay dropped, older transactions stay. With a
// live log nothing is removed.
func TestDropUncommitted(t *testing.T) {
	hj := newHistJournal(t, IncompatCsumV3, 0)
	hj.tx(3, 0, lb(10, 1), lb(11, 1), lb(12, 1))
	hj.tx(4, 0, lb(13, 4))
	hj.tx(5, 0, lb(20, 5), lb(13, 5))
	hj.setLive(0, 5)
	h := mustHistory(t, hj.j)
	if len(h.Transactions()) != 3 {
		t.Fatalf("before: %+v", h.Transactions())
	}
	if n := h.DropUncommitted(); n != 1 {
		t.Fatalf("dropped %d", n)
	}
	if len(h.Versions(20)) != 0 || len(h.Transactions()) != 2 || len(h.Versions(12)) != 1 ||
		len(h.Versions(13)) != 1 || h.Versions(13)[0].Sequence != 4 {
		t.Fatalf("%+v %v", h.Transactions(), h.Blocks())
	}
	hj.setLive(1, 3)
	h = mustHistory(t, hj.j)
	if n := h.DropUncommitted(); n != 0 {
		t.Fatalf("live log: dropped %d", n)
	}
}
