package engine

import (
	"errors"
	"fmt"
	"os/exec"
	"testing"
	"time"

	"github.com/ext4relink/ext4relink/fixtures"
)

// BenchmarkScan16T: list --scan on a 16 TiB sparse filesystem
// (bench-16t) reads only the inode tables the kernel initialised, against
// e2fsck -fn, which walks every group. Run:
//
//	go test -run '^$' -bench Scan16T -benchtime 3x ./engine/
//
// in-process: open, list and scan (MB_read: what the scan read).
// cli-vs-e2fsck: the built binary's 'list --scan' and 'e2fsck -fn' in
// turn on the same image; their median times and e2fsck/scan (the
// speed-up; at least 10 is the goal).
func BenchmarkScan16T(b *testing.B) {
	img := fixtures.Get(b, "bench-16t")
	benchScan(b, img)
	b.Run("cli-vs-e2fsck", func(b *testing.B) {
		benchScanVs(b, img, "e2fsck", [][]string{{"e2fsck", "-fn", img.Path}})
	})
}

// BenchmarkScanPopulated: list --scan on a filesystem with 300,000 used
// inodes (bench-populated) against dd reading the same inode-table ranges
// (one dd per contiguous run, 1 MiB reads): the scan should cost little
// more than the reading. Run:
//
//	go test -run '^$' -bench ScanPopulated -benchtime 10x ./engine/
//
// cli-vs-dd reports scan/dd (1.5 at most is the goal). Both read from the
// page cache once warm: the ratio is the scan's own overhead.
func BenchmarkScanPopulated(b *testing.B) {
	img := fixtures.Get(b, "bench-populated")
	benchScan(b, img)
	b.Run("cli-vs-dd", func(b *testing.B) {
		var dd [][]string
		for _, r := range usedTableRuns(b, img.Path) {
			dd = append(dd, []string{"dd", "if=" + img.Path, "of=/dev/null", "bs=1M", "iflag=skip_bytes,count_bytes",
				fmt.Sprintf("skip=%d", r[0]), fmt.Sprintf("count=%d", r[1])})
		}
		b.Logf("dd: %d runs", len(dd))
		benchScanVs(b, img, "dd", dd)
	})
}

// benchScan times the scan in process.
func benchScan(b *testing.B, img *fixtures.Image) {
	b.Run("in-process", func(b *testing.B) {
		var read int64
		var st *ScanStats
		for b.Loop() {
			op, err := OpenFS(img.Path, Options{Mode: ReadOnly})
			if err != nil {
				b.Fatal(err)
			}
			l, err := op.FS.Orphans()
			if err != nil {
				b.Fatal(err)
			}
			before := op.Dev.BytesRead()
			if st, err = op.FS.ScanOrphans(l, nil); err != nil {
				b.Fatal(err)
			}
			read = op.Dev.BytesRead() - before
			op.Dev.Close()
			if st.Found != 0 {
				b.Fatalf("the scan found %d orphans on no list on an intact image", st.Found)
			}
		}
		b.ReportMetric(float64(read)/1e6, "MB_read")
		b.ReportMetric(float64(st.Elapsed.Microseconds())/1e3, "last-scan-ms")
		b.ReportMetric(float64(st.Groups), "groups_read")
		b.ReportMetric(float64(st.UninitSkip), "groups_skipped")
	})
}

// benchScanVs runs, in turn each iteration, the scan in process (only
// ScanOrphans is timed), the built binary's 'list --scan' and plain
// 'list', and the peer commands, and reports their median times and
// ratios: scan/PEER (the scan's own cost), cli-increment/PEER ('list
// --scan' minus 'list': what --scan adds to the command, without the
// fixed cost of starting and of opening the device safely, which plain
// list pays too), cli/PEER (the whole command) and PEER/cli.
func benchScanVs(b *testing.B, img *fixtures.Image, peer string, cmds [][]string) {
	bin := buildCLI(b)
	scan := []string{bin, "list", "--scan", "--dev", img.Path}
	list := []string{bin, "list", "--dev", img.Path}
	runPeer := func() time.Duration {
		var d time.Duration
		for _, c := range cmds {
			d += timeTolerant(b, c)
		}
		return d
	}
	timeTolerant(b, scan) // page cache: the binary and the image
	runPeer()
	var tin, ts, tl, tp []float64
	for b.Loop() {
		tin = append(tin, scanInProcess(b, img.Path).Seconds()*1e3)
		ts = append(ts, timeTolerant(b, scan).Seconds()*1e3)
		tl = append(tl, timeTolerant(b, list).Seconds()*1e3)
		tp = append(tp, runPeer().Seconds()*1e3)
	}
	min, ms, ml, mp := median(tin), median(ts), median(tl), median(tp)
	b.ReportMetric(min, "scan-ms")
	b.ReportMetric(ms, "cli-scan-ms")
	b.ReportMetric(ml, "cli-list-ms")
	b.ReportMetric(mp, peer+"-ms")
	b.ReportMetric(min/mp, "scan/"+peer)
	b.ReportMetric((ms-ml)/mp, "cli-increment/"+peer)
	b.ReportMetric(ms/mp, "cli/"+peer)
	b.ReportMetric(mp/ms, peer+"/cli")
}

// scanInProcess opens the image, lists and scans, and returns how long
// ScanOrphans took.
func scanInProcess(b *testing.B, path string) time.Duration {
	op, err := OpenFS(path, Options{Mode: ReadOnly})
	if err != nil {
		b.Fatal(err)
	}
	defer op.Dev.Close()
	l, err := op.FS.Orphans()
	if err != nil {
		b.Fatal(err)
	}
	st, err := op.FS.ScanOrphans(l, nil)
	if err != nil {
		b.Fatal(err)
	}
	return st.Elapsed
}

// timeTolerant runs a read-only command and returns how long it took; an
// exit status below 8 is accepted (e2fsck -n exits 4 on a crash image,
// whose orphans it reports).
func timeTolerant(b *testing.B, args []string) time.Duration {
	start := time.Now()
	err := exec.Command(args[0], args[1:]...).Run()
	var ee *exec.ExitError
	if err != nil && !(errors.As(err, &ee) && ee.ExitCode() < 8) {
		b.Fatalf("%v: %v", args, err)
	}
	return time.Since(start)
}

// usedTableRuns is what the scan reads, as (byte offset, length) runs
// with adjacent groups' ranges merged.
func usedTableRuns(b *testing.B, path string) [][2]int64 {
	op, err := OpenFS(path, Options{Mode: ReadOnly})
	if err != nil {
		b.Fatal(err)
	}
	defer op.Dev.Close()
	groups, err := op.FS.scanGroups(&ScanStats{})
	if err != nil {
		b.Fatal(err)
	}
	bs := int64(op.FS.BlockSize())
	var runs [][2]int64
	for _, sg := range groups {
		off, n := int64(sg.table)*bs, int64(sg.blocks)*bs
		if k := len(runs) - 1; k >= 0 && runs[k][0]+runs[k][1] == off {
			runs[k][1] += n
			continue
		}
		runs = append(runs, [2]int64{off, n})
	}
	return runs
}
