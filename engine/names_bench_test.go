package engine

import (
	"testing"

	"github.com/ext4relink/ext4relink/fixtures"
)

// BenchmarkOriginalPaths: the journal's history and the original paths
// on a 1 GiB journal full of transactions, a 16 TiB filesystem (every
// group descriptor is read) and 3,000 orphans.
func BenchmarkOriginalPaths(b *testing.B) {
	for _, name := range []string{"bench-bigjournal", "bench-16t", "bench-leak-3000"} {
		b.Run(name, func(b *testing.B) {
			img := fixtures.Get(b, name)
			op, err := OpenFS(img.Path, Options{Mode: ReadOnly})
			if err != nil {
				b.Fatal(err)
			}
			defer op.Dev.Close()
			l, err := op.FS.Orphans()
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			var read uint64
			for b.Loop() {
				before := uint64(0)
				if j := op.FS.JournalFile(); j != nil {
					before = j.Stats().Bytes
				}
				h, err := op.FS.JournalHistory()
				if err != nil {
					b.Fatal(err)
				}
				res, err := op.FS.OriginalPaths(l, h)
				if err != nil || len(res) != len(l.Orphans) {
					b.Fatalf("%d results for %d orphans: %v", len(res), len(l.Orphans), err)
				}
				if j := op.FS.JournalFile(); j != nil {
					read += j.Stats().Bytes - before
				}
			}
			b.ReportMetric(float64(read)/float64(b.N)/(1<<20), "journal-MB/op")
		})
	}
}
