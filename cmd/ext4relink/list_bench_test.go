package main

import (
	"io"
	"testing"

	"github.com/ext4relink/ext4relink/fixtures"
)

// BenchmarkListCommand runs the whole `list` command in process (flag
// parsing, opening the device safely, the journal replay, the orphans,
// the original paths, the table) on bench-bigjournal, its output
// discarded, so that -cpuprofile sees everything a `list` run pays for
// but the process start. Issue 9 compares the command with `debugfs -n -R
// logdump` (BenchmarkBigJournal/cli-vs-logdump in engine/).
func BenchmarkListCommand(b *testing.B) {
	img := fixtures.Get(b, "bench-bigjournal")
	b.ReportAllocs()
	for b.Loop() {
		if code := run([]string{"list", "--dev", img.Path}, io.Discard, io.Discard); code != exitOK {
			b.Fatalf("list: exit %d", code)
		}
	}
}
