package journal_test

import (
	"bytes"
	"testing"

	"github.com/ext4relink/ext4relink/fixtures"
	"github.com/ext4relink/ext4relink/journal"
)

// TestHistoryHoldsTheReplay: on genuine kernel-made images the History
// holds every copy the recovery overlay replays, with the same content
// for the newest one, marks exactly the replayed transactions live, and
// rejects nothing.
func TestHistoryHoldsTheReplay(t *testing.T) {
	for _, name := range []string{"ext4-4k-journal", "ext4-1k-journal", "ext3", "ext3-1k-journal",
		"ext4-orphanfile-journal", "ext4-htree-1k", "ext4-inline", "demo", "ext4-nodirindex"} {
		t.Run(name, func(t *testing.T) {
			im := openImage(t, fixtures.Get(t, name).Path)
			j := im.load(t)
			ov, err := j.Recover()
			if err != nil {
				t.Fatal(err)
			}
			h, err := j.History()
			if err != nil {
				t.Fatal(err)
			}
			live := 0
			for _, tx := range h.Transactions() {
				if tx.Live {
					live++
				}
			}
			if want := len(ov.Log.Replayed()); live != want {
				t.Errorf("%d live transactions, recovery replays %d", live, want)
			}
			if h.Skipped != 0 || h.BadMeta != 0 {
				t.Errorf("skipped %d, bad metadata blocks %d", h.Skipped, h.BadMeta)
			}
			for _, b := range ov.Blocks() {
				vs := h.Versions(b)
				cs := ov.Copies(b)
				for _, c := range cs {
					if !hasCopy(vs, c.JBlock, c.Sequence) {
						t.Fatalf("block %d: copy in journal block %d (transaction %d) missing from the history", b, c.JBlock, c.Sequence)
					}
				}
				want, ok, err := ov.ReadBlock(b)
				if err != nil || !ok {
					continue
				}
				var newest *journalLogged
				for i := len(cs) - 1; i >= 0; i-- {
					if !cs[i].Revoked {
						newest = &journalLogged{cs[i].JBlock, cs[i].Sequence}
						break
					}
				}
				for _, v := range vs {
					if v.JBlock == newest.jblk && v.Sequence == newest.seq {
						got, err := h.Read(v)
						if err != nil || !bytes.Equal(got, want) {
							t.Fatalf("block %d: history copy differs from the replay (%v)", b, err)
						}
					}
				}
			}
			t.Logf("%d transactions (%d live), %d copies of %d blocks; overlay %d blocks; incomplete %d, overwritten %d",
				len(h.Transactions()), live, h.Len(), len(h.Blocks()), ov.NumBlocks(), h.Incomplete, h.Overwritten)
		})
	}
}

type journalLogged struct {
	jblk uint64
	seq  uint32
}

func hasCopy(vs []journal.Logged, jblk uint64, seq uint32) bool {
	for _, v := range vs {
		if v.JBlock == jblk && v.Sequence == seq {
			return true
		}
	}
	return false
}
