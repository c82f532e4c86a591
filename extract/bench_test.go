package extract_test

import (
	"crypto/sha256"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/ext4relink/ext4relink/engine"
	"github.com/ext4relink/ext4relink/extract"
	"github.com/ext4relink/ext4relink/fixtures"
	"github.com/ext4relink/ext4relink/internal/testfs"
)

// extractOnce opens the image read-only, loads the filesystem and copies
// inode ino to out: what `ext4relink extract --inode` does.
func extractOnce(b *testing.B, img string, ino uint32, out string) *extract.Report {
	dev, _, err := engine.Open(img, engine.Options{Mode: engine.ReadOnly})
	if err != nil {
		b.Fatal(err)
	}
	defer dev.Close()
	fs, err := engine.LoadFS(dev)
	if err != nil {
		b.Fatal(err)
	}
	in, _, err := fs.ReadInode(ino)
	if err != nil {
		b.Fatal(err)
	}
	src := extract.Source{Ino: ino, Inode: in, FS: fs.InodeFS(), Read: fs.ReadBlock, Blocks: fs}
	rep, err := extract.Write(src, out, extract.WriteOptions{Force: true})
	if err != nil {
		b.Fatal(err)
	}
	return rep
}

// byteRuns are the image byte ranges holding the file's written data.
func byteRuns(b *testing.B, img string, ino uint32) [][2]int64 {
	dev, _, err := engine.Open(img, engine.Options{Mode: engine.ReadOnly})
	if err != nil {
		b.Fatal(err)
	}
	defer dev.Close()
	fs, err := engine.LoadFS(dev)
	if err != nil {
		b.Fatal(err)
	}
	in, _, err := fs.ReadInode(ino)
	if err != nil {
		b.Fatal(err)
	}
	m, err := fs.BlockMap(ino, in)
	if err != nil {
		b.Fatal(err)
	}
	bs := int64(fs.BlockSize())
	var out [][2]int64
	for _, r := range m.Runs {
		if n := len(out); n > 0 && out[n-1][0]+out[n-1][1] == int64(r.Physical)*bs {
			out[n-1][1] += int64(r.Len) * bs
			continue
		}
		out = append(out, [2]int64{int64(r.Physical) * bs, int64(r.Len) * bs})
	}
	return out
}

// cost is a command's wall-clock and CPU (user + system) time.
type cost struct{ wall, cpu time.Duration }

func (c *cost) add(d cost) { c.wall += d.wall; c.cpu += d.cpu }

func timed(b *testing.B, name string, args ...string) cost {
	t0 := time.Now()
	cmd := exec.Command(name, args...)
	if out, err := cmd.CombinedOutput(); err != nil {
		b.Fatalf("%s %v: %v\n%s", name, args, err, out)
	}
	st := cmd.ProcessState
	return cost{time.Since(t0), st.UserTime() + st.SystemTime()}
}

// inProcess times fn, with the CPU time of the whole test process (nothing
// else runs in it meanwhile).
func inProcess(fn func()) cost {
	cpu := func() time.Duration {
		var ru syscall.Rusage
		syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
		return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	t0, c0 := time.Now(), cpu()
	fn()
	return cost{time.Since(t0), cpu() - c0}
}

// ddRuns reads (of=/dev/null) or copies (of=FILE) the same image bytes as
// the file's extents with dd, 1 MiB blocks.
func ddRuns(b *testing.B, img string, runs [][2]int64, of string) cost {
	var total cost
	for _, r := range runs {
		args := []string{"if=" + img, "of=" + of, "bs=1M", "iflag=skip_bytes,count_bytes", "status=none",
			fmt.Sprintf("skip=%d", r[0]), fmt.Sprintf("count=%d", r[1])}
		if of != "/dev/null" {
			args = append(args, "oflag=seek_bytes", fmt.Sprintf("seek=%d", r[0]), "conv=notrunc")
		}
		total.add(timed(b, "dd", args...))
	}
	return total
}

// BenchmarkExtract1G copies a 1 GiB kernel-made orphan (bench-extract-1g)
// with extract, and reads the same bytes with dd and dumps the file with
// debugfs in the same run, warm cache, output on tmpfs (/dev/shm) so that
// the output disk's speed is not what is measured. The tools take turns in
// each iteration, in reverse order every other iteration, so that they see
// the same load. Metrics, on wall-clock time and (cpu_*) on CPU time, the
// fair measure on a loaded machine: extract's time over dd's reading the
// same bytes to /dev/null (x_dd_read; the goal is <= 2) and over dd
// copying them to a file (x_dd_copy), debugfs dump's time over extract's
// (debugfs_over_extract; the goal is >= 3), sha256 of 1 GiB in memory
// alone, and extract's MB/s.
func BenchmarkExtract1G(b *testing.B) {
	img := fixtures.Get(b, "bench-extract-1g")
	o := img.Orphans[0]
	ino := uint32(o.Inode)
	dir, err := os.MkdirTemp("/dev/shm", "ext4relink-bench-")
	if err != nil {
		b.Fatal(err)
	}
	defer os.RemoveAll(dir)
	out, dump, ddOut := filepath.Join(dir, "extract"), filepath.Join(dir, "dump"), filepath.Join(dir, "dd")
	runs := byteRuns(b, img.Path, ino)
	ddRuns(b, img.Path, runs, "/dev/null") // warm the cache
	if rep := extractOnce(b, img.Path, ino, out); rep.SHA256 != o.SHA256 {
		b.Fatalf("sha256 %s, manifest %s", rep.SHA256, o.SHA256)
	}
	var tx, tdd, tcopy, tdbg, tsha cost
	buf := make([]byte, 64<<20)
	tools := []func(){
		func() {
			os.Remove(out)
			tx.add(inProcess(func() { extractOnce(b, img.Path, ino, out) }))
		},
		func() { tdd.add(ddRuns(b, img.Path, runs, "/dev/null")) },
		func() {
			os.Remove(ddOut)
			tcopy.add(ddRuns(b, img.Path, runs, ddOut))
		},
		func() {
			os.Remove(dump)
			tdbg.add(timed(b, "debugfs", "-R", fmt.Sprintf("dump <%d> %s", ino, dump), img.Path))
		},
		func() {
			tsha.add(inProcess(func() {
				h := sha256.New()
				for range o.Size / int64(len(buf)) {
					h.Write(buf)
				}
			}))
		},
	}
	for i := 0; b.Loop(); i++ {
		for k := range tools {
			if i%2 == 1 {
				k = len(tools) - 1 - k
			}
			tools[k]()
		}
	}
	if testfs.FileSHA256(b, dump) != o.SHA256 {
		b.Fatal("debugfs dump differs from the manifest")
	}
	n := float64(b.N)
	for _, m := range []struct {
		unit string
		get  func(cost) time.Duration
	}{{"", func(c cost) time.Duration { return c.wall }}, {"cpu_", func(c cost) time.Duration { return c.cpu }}} {
		x := m.get(tx).Seconds()
		b.ReportMetric(x/m.get(tdd).Seconds(), m.unit+"x_dd_read")
		b.ReportMetric(x/m.get(tcopy).Seconds(), m.unit+"x_dd_copy")
		b.ReportMetric(m.get(tdbg).Seconds()/x, m.unit+"debugfs_over_extract")
		b.ReportMetric(x/n, m.unit+"extract_s")
		b.ReportMetric(m.get(tdd).Seconds()/n, m.unit+"dd_read_s")
		b.ReportMetric(m.get(tcopy).Seconds()/n, m.unit+"dd_copy_s")
		b.ReportMetric(m.get(tdbg).Seconds()/n, m.unit+"debugfs_s")
		b.ReportMetric(m.get(tsha).Seconds()/n, m.unit+"sha256_only_s")
	}
	b.ReportMetric(float64(o.Size)/(tx.wall.Seconds()/n)/1e6, "extract_MB/s")
}

// BenchmarkExtractAll copies every orphan of bench-leak-N (N files of
// 1,000 bytes a leaking process held open) into a directory on the
// machine's disk, as extract --all does: each file flushed and read back,
// the directory flushed once.
func BenchmarkExtractAll(b *testing.B) {
	for _, n := range []int{300, 3000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			img := fixtures.Get(b, fmt.Sprintf("bench-leak-%d", n))
			for b.Loop() {
				dir := b.TempDir()
				dev, _, err := engine.Open(img.Path, engine.Options{Mode: engine.ReadOnly})
				if err != nil {
					b.Fatal(err)
				}
				fs, err := engine.LoadFS(dev)
				if err != nil {
					b.Fatal(err)
				}
				l, err := fs.Orphans()
				if err != nil || len(l.Orphans) != n {
					b.Fatalf("%v: %d orphans", err, len(l.Orphans))
				}
				for _, o := range l.Orphans {
					in, _, err := fs.ReadInode(o.Inode)
					if err != nil {
						b.Fatal(err)
					}
					src := extract.Source{Ino: o.Inode, Inode: in, FS: fs.InodeFS(), Read: fs.ReadBlock, Blocks: fs}
					if _, err := extract.Write(src, filepath.Join(dir, fmt.Sprint(o.Inode)), extract.WriteOptions{NoDirSync: true}); err != nil {
						b.Fatal(err)
					}
				}
				extract.SyncDir(dir)
				dev.Close()
			}
			b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N*n), "µs/file")
		})
	}
}
