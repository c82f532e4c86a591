package engine

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ext4relink/ext4relink/fixtures"
)

// BenchmarkBigJournal: finding the orphan on a crash image whose 1 GiB
// journal is ~60% full (bench-bigjournal), against reading the same log
// with debugfs logdump, and replaying it with debugfs jr and e2fsck -E
// journal_only on a fresh copy. Run:
//
//	go test -run '^$' -bench BigJournal -benchtime 5x ./engine/
//	go test -run '^$' -bench 'BigJournal/(ext4relink|debugfs-logdump|cli-vs)' -benchtime 20x -count 5 ./engine/
//
// ext4relink-list runs in process (allocations are reported);
// ext4relink-list-cli and debugfs-logdump run the built binary and debugfs
// on the image itself, reporting the peak RSS of the child (maxRSS_MB);
// cli-vs-logdump runs the two in turn and reports their ratio.
// MB_read is what each reads: ext4relink counts its own device reads; the
// tools are measured with strace (read/pread64 return values) in a separate,
// untimed run.
func BenchmarkBigJournal(b *testing.B) {
	img := fixtures.Get(b, "bench-bigjournal")
	b.Run("ext4relink-list", func(b *testing.B) {
		b.ReportAllocs()
		var read int64
		for b.Loop() {
			fsOp, err := OpenFS(img.Path, Options{Mode: ReadOnly})
			if err != nil {
				b.Fatal(err)
			}
			fs, dev := fsOp.FS, fsOp.Dev
			l, err := fs.Orphans()
			if err != nil || len(l.Orphans) != 1 {
				b.Fatalf("orphans %v, %v", l, err)
			}
			read = dev.BytesRead()
			dev.Close()
		}
		b.ReportMetric(float64(read)/1e6, "MB_read")
	})
	// -n: the crash image's bitmaps fail their checksums until the
	// journal is replayed; without it debugfs refuses to open it.
	logdump := []string{"debugfs", "-n", "-R", "logdump", img.Path}
	b.Run("ext4relink-list-cli", func(b *testing.B) {
		benchExec(b, append([]string{buildCLI(b), "list", "--dev"}, img.Path))
	})
	b.Run("debugfs-logdump", func(b *testing.B) {
		benchExec(b, logdump)
		if mb, ok := straceRead(b, img, logdump[:4]); ok {
			b.ReportMetric(mb, "MB_read")
		}
	})
	b.Run("cli-vs-logdump", func(b *testing.B) {
		// Both in turn, so that both see the same load on a shared
		// machine: the median time of each, and the ratio of the medians.
		list := []string{buildCLI(b), "list", "--dev", img.Path}
		timeExec(b, list) // the first run reads the new binary into the page cache
		timeExec(b, logdump)
		var tl, td []float64
		for b.Loop() {
			tl = append(tl, timeExec(b, list).Seconds()*1e3)
			td = append(td, timeExec(b, logdump).Seconds()*1e3)
		}
		ml, md := median(tl), median(td)
		b.ReportMetric(ml, "list-ms")
		b.ReportMetric(md, "logdump-ms")
		b.ReportMetric(ml/md, "list/logdump")
	})
	for _, tool := range []struct {
		name string
		args []string
	}{
		{"debugfs-jr", []string{"debugfs", "-w", "-n", "-R", "jr"}},
		{"e2fsck-journal_only", []string{"e2fsck", "-E", "journal_only", "-y"}},
	} {
		b.Run(tool.name, func(b *testing.B) { benchTool(b, img, tool.args) })
	}
}

// buildCLI builds cmd/ext4relink into a temporary directory as the README
// says to build it for rescue media: static (CGO_ENABLED=0), which also
// starts 2-3 ms faster than a binary the dynamic loader links to libc.
func buildCLI(b *testing.B) string {
	bin := filepath.Join(b.TempDir(), "ext4relink")
	cmd := exec.Command("go", "build", "-trimpath", "-o", bin, "github.com/ext4relink/ext4relink/cmd/ext4relink")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		b.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// benchExec runs a read-only command once per iteration, its output
// discarded, then once more untimed under GNU time to report its peak RSS
// (the rusage of a child started from this process would count the test
// binary's own memory: Linux charges the pre-exec address space to it).
func benchExec(b *testing.B, args []string) {
	timeExec(b, args) // the first run of a new binary reads it into the page cache
	for b.Loop() {
		timeExec(b, args)
	}
	out, err := exec.Command("/usr/bin/time", append([]string{"-f", "%M"}, args...)...).CombinedOutput()
	if err != nil {
		b.Fatalf("/usr/bin/time %v: %v\n%s", args, err, out)
	}
	lines := strings.Fields(string(out))
	if len(lines) == 0 {
		b.Fatalf("/usr/bin/time printed nothing")
	}
	kb, err := strconv.ParseFloat(lines[len(lines)-1], 64)
	if err != nil {
		b.Fatalf("/usr/bin/time: %q: %v", out, err)
	}
	b.ReportMetric(kb*1024/1e6, "maxRSS_MB")
}

func median(v []float64) float64 {
	slices.Sort(v)
	if n := len(v); n%2 == 0 {
		return (v[n/2-1] + v[n/2]) / 2
	}
	return v[len(v)/2]
}

// timeExec runs a read-only command, its output discarded, and returns
// how long it took.
func timeExec(b *testing.B, args []string) time.Duration {
	start := time.Now()
	if err := exec.Command(args[0], args[1:]...).Run(); err != nil {
		b.Fatalf("%v: %v", args, err)
	}
	return time.Since(start)
}

func benchTool(b *testing.B, img *fixtures.Image, args []string) {
	for b.Loop() {
		b.StopTimer()
		p := img.Copy(b)
		b.StartTimer()
		out, err := exec.Command(args[0], append(args[1:], p)...).CombinedOutput()
		if err != nil && args[0] != "e2fsck" { // e2fsck exits 1 when it fixed something
			b.Fatalf("%v: %v\n%s", args, err, out)
		}
		b.StopTimer()
		os.Remove(p)
		b.StartTimer()
	}
	if mb, ok := straceRead(b, img, args); ok {
		b.ReportMetric(mb, "MB_read")
	}
}

var straceRet = regexp.MustCompile(`(?:read|pread64)\(.*\) = (\d+)$`)

// straceRead runs the tool once under strace and sums what read/pread64 returned.
func straceRead(b *testing.B, img *fixtures.Image, args []string) (float64, bool) {
	if _, err := exec.LookPath("strace"); err != nil {
		return 0, false
	}
	p := img.Copy(b)
	defer os.Remove(p)
	log := p + ".strace"
	cmd := exec.Command("strace", append([]string{"-f", "-qq", "-e", "trace=read,pread64", "-o", log}, append(args, p)...)...)
	cmd.Run()
	f, err := os.Open(log)
	if err != nil {
		return 0, false
	}
	defer f.Close()
	var total int64
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if m := straceRet.FindStringSubmatch(sc.Text()); m != nil {
			n, _ := strconv.ParseInt(m[1], 10, 64)
			total += n
		}
	}
	return float64(total) / 1e6, true
}

// BenchmarkRelink16T: the whole relink (open, load, list, plan, commit,
// verify) on a 16 TiB sparse filesystem with one kernel-made orphan, against
// the debugfs recipe (link, sif links_count 1, sif dtime 0, ssv
// last_orphan 0) on a fresh copy of the same image. Run:
//
//	go test -run '^$' -bench Relink16T -benchtime 5x ./engine/
func BenchmarkRelink16T(b *testing.B) {
	img := fixtures.Get(b, "bench-16t")
	o := img.Orphans[0]
	b.Run("ext4relink", func(b *testing.B) {
		var read, written int64
		for b.Loop() {
			b.StopTimer()
			p := img.Copy(b)
			materializeJournal(b, p)
			b.StartTimer()
			r, err := relinkRun(p, Request{Inode: uint32(o.Inode), Name: "/data/rescued.qcow2"})
			if err != nil {
				b.Fatal(err)
			}
			read, written = r.read, r.written
			b.StopTimer()
			os.Remove(p)
			b.StartTimer()
		}
		b.ReportMetric(float64(read)/1e6, "MB_read")
		b.ReportMetric(float64(written)/1e6, "MB_written")
	})
	b.Run("debugfs-recipe", func(b *testing.B) {
		cmds := fmt.Sprintf("link <%d> /data/rescued.qcow2\nsif <%d> links_count 1\nsif <%d> dtime 0\nssv last_orphan 0\n", o.Inode, o.Inode, o.Inode)
		script := filepath.Join(b.TempDir(), "recipe")
		if err := os.WriteFile(script, []byte(cmds), 0o644); err != nil {
			b.Fatal(err)
		}
		benchTool(b, img, []string{"debugfs", "-w", "-f", script})
	})
}

// materializeJournal writes the journal's blocks of a sparse image copy
// back in place, so that they are allocated in the image file as they are
// on a real disk. Without it the first flush after writing into the
// journal pays for the host filesystem allocating those blocks (300 ms on
// this machine), which says nothing about ext4relink.
func materializeJournal(b *testing.B, p string) {
	fsOp, err := OpenFS(p, Options{Mode: ReadOnly})
	if err != nil {
		b.Fatal(err)
	}
	fs, dev := fsOp.FS, fsOp.Dev
	defer dev.Close()
	jin, _, err := fs.ReadInode(fs.SB.JournalInum)
	if err != nil {
		b.Fatal(err)
	}
	m, err := fs.BlockMap(fs.SB.JournalInum, jin)
	if err != nil {
		b.Fatal(err)
	}
	f, err := os.OpenFile(p, os.O_WRONLY, 0)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	for _, r := range m.Runs {
		for blk := r.Physical; blk < r.Physical+uint64(r.Len); blk++ {
			data, err := fs.ReadBlock(blk)
			if err != nil {
				b.Fatal(err)
			}
			f.WriteAt(data, int64(blk)*int64(fs.BlockSize()))
		}
	}
	if err := f.Sync(); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkRelinkAll: the whole --all (open, load, list, plan every orphan
// into /lost+found as #INODE, commit through the journal, verify from
// scratch) on images where one process leaked n deleted temp files
// (bench-leak-N: n orphans on the chain), on a fresh copy each iteration.
// ns/orphan shows whether the cost is linear in the count. Run:
//
//	go test -run '^$' -bench RelinkAll -benchtime 3x ./engine/
func BenchmarkRelinkAll(b *testing.B) {
	for _, n := range []int{300, 3000, 30000} {
		b.Run(strconv.Itoa(n), func(b *testing.B) {
			img := fixtures.Get(b, fmt.Sprintf("bench-leak-%d", n))
			b.ReportAllocs()
			var cpu time.Duration // user+system CPU time of the timed part
			for b.Loop() {
				b.StopTimer()
				p := img.Copy(b)
				materializeJournal(b, p)
				cpu -= cpuTime(b)
				b.StartTimer()
				r, err := relinkRun(p, Request{All: true})
				if err != nil {
					b.Fatal(err)
				}
				if len(r.plan.Relinks) != n || len(r.skipped) != 0 {
					b.Fatalf("relinked %d, skipped %d; want %d orphans relinked", len(r.plan.Relinks), len(r.skipped), n)
				}
				b.StopTimer()
				cpu += cpuTime(b)
				os.Remove(p)
				b.StartTimer()
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n), "ns/orphan")
			// CPU time is steadier than wall time on a shared machine.
			b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N)/float64(n), "cpu-ns/orphan")
		})
	}
}

// cpuTime is the process's user+system CPU time so far.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
