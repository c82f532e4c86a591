package journal_test

import (
	"testing"

	"github.com/ext4relink/ext4relink/fixtures"
)

func TestExplore(t *testing.T) {
	for _, n := range fixtures.Names() {
		img := fixtures.Get(t, n)
		im := openImage(t, img.Path)
		j := im.load(t)
		ov, err := j.Recover()
		if err != nil {
			t.Errorf("%s: %v", n, err)
			continue
		}
		l := ov.Log
		t.Logf("%s: fm=%+v first=%d last=%d seq=%d start=%d end=%d ntx=%d stop=%v@%d blocks=%d stats=%+v", n, j.Format, j.First, j.Last, l.FirstSequence, l.Start, l.End, len(l.Transactions), l.Stop.Reason, l.Stop.Block, len(ov.Blocks()), j.Stats())
		for _, tx := range l.Transactions {
			t.Logf("   tx %d start %d desc %v data %d rev %v/%d commit %v@%d %v csum %v meta %v replay %v", tx.Sequence, tx.Start, tx.Descriptors, tx.DataBlocks, tx.RevokeBlocks, tx.Revokes, tx.Committed, tx.CommitBlock, tx.CommitTime, tx.Checksum, tx.MetaChecksum, tx.Replay)
		}
		if fc := l.FastCommit; fc != nil {
			t.Logf("   fc %d..%d exp %d read %d valid %d stop %s err %v", fc.First, fc.Last, fc.ExpectedTID, fc.BlocksRead, fc.Valid, fc.Stop, fc.Err)
			for _, tg := range fc.Tags {
				t.Logf("      %v", tg)
			}
			t.Logf("   pending: %v", ov.Pending())
		}
		if err := ov.Verify(); err != nil {
			t.Errorf("%s: verify %v", n, err)
		}
	}
}
