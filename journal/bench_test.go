package journal_test

import (
	"testing"

	"github.com/ext4relink/ext4relink/fixtures"
	"github.com/ext4relink/ext4relink/journal"
)

// BenchmarkRecover scans a fixture's journal (Load + Recover) and reports
// how much it read: the lazy scan reads the journal superblock and the
// descriptor, revoke and commit blocks only, never the logged data blocks
// (log-B/op is the size of the whole log it walks, for comparison).
func BenchmarkRecover(b *testing.B) {
	for _, name := range []string{"ext4-many", "ext3-1k-journal", "ext4-htree"} {
		b.Run(name, func(b *testing.B) {
			im := openImage(b, fixtures.Get(b, name).Path)
			var st journal.Stats
			var logBlocks, dataBlocks uint64
			for b.Loop() {
				j, err := journal.Load(im.f, im.sb.BlockSize(), im.bmap, im.nblocks)
				if err != nil {
					b.Fatal(err)
				}
				ov, err := j.Recover()
				if err != nil {
					b.Fatal(err)
				}
				st = j.Stats()
				logBlocks, dataBlocks = 0, 0
				for _, tx := range ov.Log.Transactions {
					logBlocks += uint64(len(tx.Descriptors) + len(tx.RevokeBlocks) + tx.DataBlocks)
					if tx.Committed {
						logBlocks++
					}
					dataBlocks += uint64(tx.DataBlocks)
				}
			}
			bs := float64(im.sb.BlockSize())
			b.ReportMetric(float64(st.Bytes), "read-B/op")
			b.ReportMetric(float64(st.Reads), "reads/op")
			b.ReportMetric(float64(logBlocks)*bs, "log-B/op")
			b.ReportMetric(float64(dataBlocks)*bs, "data-B/op")
		})
	}
}

// BenchmarkReadBlock reads every replayed block through the overlay.
func BenchmarkReadBlock(b *testing.B) {
	im := openImage(b, fixtures.Get(b, "ext3-1k-journal").Path)
	j, err := journal.Load(im.f, im.sb.BlockSize(), im.bmap, im.nblocks)
	if err != nil {
		b.Fatal(err)
	}
	ov, err := j.Recover()
	if err != nil {
		b.Fatal(err)
	}
	blocks := ov.Blocks()
	b.SetBytes(int64(len(blocks)) * int64(im.sb.BlockSize()))
	for b.Loop() {
		for _, blk := range blocks {
			if _, ok, err := ov.ReadBlock(blk); err != nil || !ok {
				b.Fatal(blk, ok, err)
			}
		}
	}
}
