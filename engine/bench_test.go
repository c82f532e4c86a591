package engine

import (
	"bufio"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"testing"

	"github.com/ext4relink/ext4relink/fixtures"
)

// BenchmarkBigJournal: finding the orphan on a crash image whose 1 GiB
// journal is ~60% full (bench-bigjournal), against replaying the same
// journal with debugfs jr and e2fsck -E journal_only on a fresh copy. Run:
//
//	go test -run '^$' -bench BigJournal -benchtime 5x ./engine/
//
// MB_read is what each reads: ext4relink counts its own device reads; the
// tools are measured with strace (read/pread64 return values) in a separate,
// untimed run.
func BenchmarkBigJournal(b *testing.B) {
	img := fixtures.Get(b, "bench-bigjournal")
	b.Run("ext4relink-list", func(b *testing.B) {
		var read int64
		for b.Loop() {
			fs, dev, _, err := OpenFS(img.Path, Options{Mode: ReadOnly})
			if err != nil {
				b.Fatal(err)
			}
			l, err := fs.Orphans()
			if err != nil || len(l.Orphans) != 1 {
				b.Fatalf("orphans %v, %v", l, err)
			}
			read = dev.BytesRead()
			dev.Close()
		}
		b.ReportMetric(float64(read)/1e6, "MB_read")
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
