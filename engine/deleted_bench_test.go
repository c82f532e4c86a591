package engine

import (
	"fmt"
	"os/exec"
	"testing"
	"time"

	"github.com/ext4relink/ext4relink/fixtures"
)

// BenchmarkDeleted: `ext4relink deleted` on the 1 GiB journal (about 70%
// full, files and a tree removed with rm) against ext4magic's journal
// search on the same image. ext4magic cannot open the image before the
// journal is replayed (its bitmaps fail their checksums until then), so it
// runs on a copy replayed with e2fsck -E journal_only; ext4relink reads
// the crash image itself (replaying in memory, then reading the whole log
// area). Both in turn, so that both see the same load on a shared
// machine; the medians and their ratio are reported. ext4magic's
// recovering modes (-m, -M, -R) crash (SIGSEGV) on this image; its
// listing of a directory's deleted names from the journal (-f DIR -l) and
// its journal transaction list (-T) complete. Run:
//
//	go test -run '^$' -bench BenchmarkDeleted -benchtime 5x ./engine/
func BenchmarkDeleted(b *testing.B) {
	img := fixtures.Get(b, "bench-bigjournal-deleted")
	if _, err := exec.LookPath("ext4magic"); err != nil {
		b.Fatal("ext4magic is not installed (apt-get install ext4magic)")
	}
	replayed := img.Copy(b)
	if out, err := exec.Command("e2fsck", "-E", "journal_only", "-p", replayed).CombinedOutput(); err != nil {
		b.Fatalf("e2fsck -E journal_only: %v\n%s", err, out)
	}
	b.Run("phases", benchDeletedPhases(img))
	now := time.Now().Unix()
	window := []string{"-a", fmt.Sprint(now - 30*86400), "-b", fmt.Sprint(now + 86400)}
	cli := []string{buildCLI(b), "deleted", "--dev", img.Path}
	for _, em := range []struct {
		name string
		args []string
	}{
		{"ext4magic-f-l", append(append([]string{"ext4magic", replayed}, window...), "-f", "gone", "-l")},
		{"ext4magic-T", append(append([]string{"ext4magic", replayed}, window...), "-T")},
	} {
		b.Run("deleted-vs-"+em.name, func(b *testing.B) {
			timeExec(b, cli) // the first run reads the new binary into the page cache
			timeExec(b, em.args)
			var tc, te []float64
			for b.Loop() {
				tc = append(tc, timeExec(b, cli).Seconds()*1e3)
				te = append(te, timeExec(b, em.args).Seconds()*1e3)
			}
			mc, me := median(tc), median(te)
			b.ReportMetric(mc, "deleted-ms")
			b.ReportMetric(me, "ext4magic-ms")
			b.ReportMetric(me/mc, "speedup")
		})
	}
}

// benchDeletedPhases times the phases of deleted in this process.
func benchDeletedPhases(img *fixtures.Image) func(b *testing.B) {
	return func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			t0 := time.Now()
			op, err := OpenFS(img.Path, Options{Mode: ReadOnly})
			if err != nil {
				b.Fatal(err)
			}
			t1 := time.Now()
			h, err := op.FS.DeletedHistory()
			if err != nil {
				b.Fatal(err)
			}
			t2 := time.Now()
			l, err := op.FS.Deleted(h)
			if err != nil || len(l.Files) < len(img.Deleted) {
				b.Fatalf("%d files (%d deleted), %v", len(l.Files), len(img.Deleted), err)
			}
			t3 := time.Now()
			op.Dev.Close()
			b.ReportMetric(t1.Sub(t0).Seconds()*1e3, "open-ms")
			b.ReportMetric(t2.Sub(t1).Seconds()*1e3, "history-ms")
			b.ReportMetric(t3.Sub(t2).Seconds()*1e3, "deleted-ms")
		}
	}
}
