package fastcommit_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ext4relink/ext4relink/engine"
	"github.com/ext4relink/ext4relink/internal/loopmnt"

	"golang.org/x/sys/unix"

	"github.com/ext4relink/ext4relink/fixtures"
	"github.com/ext4relink/ext4relink/inode"
	"github.com/ext4relink/ext4relink/internal/testfs"
	"github.com/ext4relink/ext4relink/journal"
	"github.com/ext4relink/ext4relink/super"
)

// --- the ext4-fastcommit fixture -------------------------------------------

const fcKeptFile = "keep/entry-00000-with-a-longish-name"

// fcTouched lists the inodes the valid fast commits log an INODE record or
// a range of.
func fcTouched(t *testing.T, fsys *engine.FS) []uint32 {
	t.Helper()
	if fsys.Log == nil || fsys.Log.FastCommit == nil {
		t.Fatal("no fast-commit area was scanned")
	}
	var out []uint32
	for _, tg := range fsys.Log.FastCommit.Replay() {
		switch tg.Tag {
		case journal.FCTagInode, journal.FCTagAddRange, journal.FCTagDelRange:
		default:
			continue
		}
		if !slices.Contains(out, tg.Ino) {
			out = append(out, tg.Ino)
		}
	}
	return out
}

// TestFastCommitFixtureReplay: engine.LoadFS replays the fixture's pending fast
// commit; the kept file reads with its appended content, as e2fsck -fy (which
// replays fast commits) leaves it; after the replay is written home every
// inode the fast commit logged is, byte for byte in debugfs' view, what
// e2fsck's replay made of it.
func TestFastCommitFixtureReplay(t *testing.T) {
	img := fixtures.Get(t, "ext4-fastcommit")
	ours := img.Copy(t)
	fsysOp, err := engine.OpenFS(ours, engine.Options{Mode: engine.ReadWrite})
	if err != nil {
		t.Fatal(err)
	}
	fsys, dev := fsysOp.FS, fsysOp.Dev
	defer dev.Close()
	if fsys.Journal.FastCommitsRefused != nil {
		t.Fatalf("fast commits not replayed: %v", fsys.Journal.FastCommitsRefused)
	}
	if fsys.Journal.FastCommits == 0 {
		t.Fatal("Journal.FastCommits is 0: the fixture has no pending fast commit")
	}
	_, _, kept, err := engine.NewPlan(fsys, time.Now()).Resolve(fcKeptFile)
	if err != nil || kept == 0 {
		t.Fatalf("resolving %s: inode %d, %v", fcKeptFile, kept, err)
	}
	in, _, err := fsys.ReadInode(kept)
	if err != nil {
		t.Fatal(err)
	}
	got, err := inode.Content(in, fsys.InodeFS(), kept, fsys.ReadBlock)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasSuffix(got, []byte(" appended after the last full commit\n")) {
		t.Fatalf("the kept file does not end with the appended text: %q", got[max(0, len(got)-60):])
	}
	touched := fcTouched(t, fsys)
	if !slices.Contains(touched, kept) {
		t.Fatalf("the fast commit does not log the kept file's inode %d (logs %v)", kept, touched)
	}

	theirs := img.Copy(t)
	out, err := exec.Command("e2fsck", "-fy", theirs).CombinedOutput()
	if ee, ok := err.(*exec.ExitError); err != nil && (!ok || ee.ExitCode() > 1) {
		t.Fatalf("e2fsck -fy: %v\n%s", err, out)
	}
	if want := testfs.Cat(t, theirs, uint64(kept)); !bytes.Equal(got, want) {
		t.Fatalf("kept file: %d bytes through the engine, %d after e2fsck -fy", len(got), len(want))
	}

	if err := fsys.WriteReplay(); err != nil {
		t.Fatal(err)
	}
	dev.Close()
	for _, ino := range touched {
		a, b := testfs.Stat(t, ours, uint64(ino)), testfs.Stat(t, theirs, uint64(ino))
		if a != b {
			t.Errorf("inode %d differs from e2fsck's replay:\nours:\n%s\ne2fsck:\n%s", ino, a, b)
		}
		if x, y := testfs.Blocks(t, ours, uint64(ino)), testfs.Blocks(t, theirs, uint64(ino)); !slices.Equal(x, y) {
			t.Errorf("inode %d block map %v, e2fsck's %v", ino, x, y)
		}
	}
}

// --- generated fast-commit images ------------------------------------------

// fcScenario is a fast-commit image built by the running kernel: setup runs
// and is committed (syncfs) together with an orphan (a file held open and
// removed); fc then runs and its fsyncs leave fast commits newer than the
// last full commit; the image is copied while still mounted.
type fcScenario struct {
	name    string
	bs      int
	sizeMiB int
	setup   func(t *testing.T, mnt string)
	fc      func(t *testing.T, mnt string)
	tags    []uint16 // the valid fast commits must hold these
	files   []string // fsync'd files: must read back with the content written
	gone    []string // names the fast commits removed
}

// fcImage is a built scenario.
type fcImage struct {
	path      string
	want      map[string]string // fsync'd file -> sha256 of what was written
	orphan    uint32
	orphanSum string
}

func fcFsync(t *testing.T, path string) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
}

func fcSum(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// buildFCImage builds the scenario's crash image, again (up to three
// times) if its valid fast commits lack a record kind the scenario is
// about: a full commit the kernel was pushed into by something else on the
// machine (a global sync, memory pressure) can absorb them.
func buildFCImage(t *testing.T, sc fcScenario) *fcImage {
	t.Helper()
	if os.Getenv(fixtures.SkipEnv) == "1" {
		t.Skipf("%s=1: real-filesystem test skipped on request", fixtures.SkipEnv)
	}
	var img *fcImage
	for attempt := 1; attempt <= 3; attempt++ {
		img = buildFCImageOnce(t, sc)
		missing := fcMissingTags(t, img.path, sc.tags)
		if len(missing) == 0 {
			return img
		}
		t.Logf("attempt %d: the valid fast commits hold no %v record: building again", attempt, missing)
	}
	return img
}

// fcMissingTags lists the record kinds of want absent from the image's
// valid fast commits.
func fcMissingTags(t *testing.T, path string, want []uint16) []string {
	t.Helper()
	fsys, _ := loadMemFS(t, path)
	have := map[uint16]bool{}
	if fsys.Log != nil && fsys.Log.FastCommit != nil {
		for _, tg := range fsys.Log.FastCommit.Replay() {
			have[tg.Tag] = true
		}
	}
	var missing []string
	for _, w := range want {
		if !have[w] {
			missing = append(missing, journal.FCTagName(w))
		}
	}
	return missing
}

func buildFCImageOnce(t *testing.T, sc fcScenario) *fcImage {
	t.Helper()
	dir := t.TempDir()
	src := filepath.Join(dir, "src.img")
	f, err := os.Create(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(int64(sc.sizeMiB) << 20); err != nil {
		t.Fatal(err)
	}
	f.Close()
	testfs.Exec(t, "mkfs.ext4", "-F", "-q", "-b", fmt.Sprint(sc.bs), "-O", "fast_commit",
		"-E", "lazy_itable_init=0,lazy_journal_init=0", src)
	// A long commit interval: the only full commit after setup is the syncfs.
	m := loopmnt.Must(t, src, "commit=600")
	defer m.Unmount()
	mnt := m.Dir
	sc.setup(t, mnt)
	held := filepath.Join(mnt, "held.bin")
	orphanData := testfs.Random(3*sc.bs+123, 99)
	testfs.WriteFile(t, held, orphanData)
	hf, err := os.Open(held)
	if err != nil {
		t.Fatal(err)
	}
	defer hf.Close()
	var st syscall.Stat_t
	if err := syscall.Fstat(int(hf.Fd()), &st); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(held); err != nil {
		t.Fatal(err)
	}
	if err := unix.Syncfs(int(hf.Fd())); err != nil {
		t.Fatal(err)
	}
	sc.fc(t, mnt)
	img := &fcImage{path: filepath.Join(dir, sc.name+".img"), want: map[string]string{}, orphan: uint32(st.Ino), orphanSum: fcSum(orphanData)}
	for _, p := range sc.files {
		b, err := os.ReadFile(filepath.Join(mnt, p))
		if err != nil {
			t.Fatal(err)
		}
		img.want[p] = fcSum(b)
	}
	testfs.Exec(t, "cp", "--sparse=always", src, img.path) // the crash image
	hf.Close()
	if err := m.Unmount(); err != nil {
		t.Fatal(err)
	}
	return img
}

func (img *fcImage) copy(t *testing.T) string {
	t.Helper()
	dst := filepath.Join(t.TempDir(), filepath.Base(img.path))
	if err := fixtures.CopySparse(img.path, dst); err != nil {
		t.Fatal(err)
	}
	return dst
}

var fcScenarios = []fcScenario{
	{
		name: "ranges", bs: 4096, sizeMiB: 64,
		setup: func(t *testing.T, mnt string) {
			os.Mkdir(filepath.Join(mnt, "data"), 0o755)
			testfs.WriteFile(t, filepath.Join(mnt, "data/append"), testfs.Random(5000, 1))
			testfs.WriteFile(t, filepath.Join(mnt, "data/trunc"), testfs.Random(20*4096, 2))
			testfs.WriteFile(t, filepath.Join(mnt, "data/punch"), testfs.Random(16*4096, 3))
		},
		fc: func(t *testing.T, mnt string) {
			f, err := os.OpenFile(filepath.Join(mnt, "data/append"), os.O_WRONLY|os.O_APPEND, 0)
			if err != nil {
				t.Fatal(err)
			}
			f.Write(testfs.Random(20000, 4))
			f.Sync()
			f.Close()
			os.Truncate(filepath.Join(mnt, "data/trunc"), 9*4096+100)
			fcFsync(t, filepath.Join(mnt, "data/trunc"))
			testfs.Exec(t, "fallocate", "-p", "-o", "16384", "-l", "16384", filepath.Join(mnt, "data/punch"))
			fcFsync(t, filepath.Join(mnt, "data/punch"))
			testfs.WriteFile(t, filepath.Join(mnt, "data/new"), testfs.Random(30000, 5))
			fcFsync(t, filepath.Join(mnt, "data/new"))
		},
		tags:  []uint16{journal.FCTagAddRange, journal.FCTagDelRange, journal.FCTagInode, journal.FCTagCreat},
		files: []string{"data/append", "data/trunc", "data/punch", "data/new"},
	},
	{
		name: "dentries", bs: 4096, sizeMiB: 64,
		setup: func(t *testing.T, mnt string) {
			os.Mkdir(filepath.Join(mnt, "data"), 0o755)
			testfs.WriteFile(t, filepath.Join(mnt, "data/a"), testfs.Random(7000, 6))
			testfs.WriteFile(t, filepath.Join(mnt, "data/b"), testfs.Random(100, 7))
			testfs.WriteFile(t, filepath.Join(mnt, "data/c"), testfs.Random(9000, 8))
			os.Link(filepath.Join(mnt, "data/c"), filepath.Join(mnt, "data/c2"))
		},
		fc: func(t *testing.T, mnt string) {
			testfs.WriteFile(t, filepath.Join(mnt, "data/new"), testfs.Random(12345, 9))
			fcFsync(t, filepath.Join(mnt, "data/new"))
			if err := os.Link(filepath.Join(mnt, "data/a"), filepath.Join(mnt, "data/a-link")); err != nil {
				t.Fatal(err)
			}
			fcFsync(t, filepath.Join(mnt, "data/a"))
			if err := os.Rename(filepath.Join(mnt, "data/b"), filepath.Join(mnt, "data/b-renamed")); err != nil {
				t.Fatal(err)
			}
			fcFsync(t, filepath.Join(mnt, "data/b-renamed"))
			if err := os.Remove(filepath.Join(mnt, "data/c2")); err != nil {
				t.Fatal(err)
			}
			fcFsync(t, filepath.Join(mnt, "data/c"))
		},
		tags:  []uint16{journal.FCTagCreat, journal.FCTagLink, journal.FCTagUnlink, journal.FCTagInode, journal.FCTagAddRange},
		files: []string{"data/new", "data/a", "data/a-link", "data/b-renamed", "data/c"},
		gone:  []string{"data/b", "data/c2"},
	},
	{
		// 1 KiB blocks, eight groups: the big file's ranges reach groups
		// whose block bitmaps are still BLOCK_UNINIT, and punching every
		// other block leaves more extents than i_block holds.
		name: "multigroup-1k", bs: 1024, sizeMiB: 64,
		setup: func(t *testing.T, mnt string) {
			os.Mkdir(filepath.Join(mnt, "data"), 0o755)
			testfs.WriteFile(t, filepath.Join(mnt, "data/holes"), testfs.Random(40*1024, 10))
		},
		fc: func(t *testing.T, mnt string) {
			testfs.WriteFile(t, filepath.Join(mnt, "data/big"), testfs.Random(12<<20, 11))
			fcFsync(t, filepath.Join(mnt, "data/big"))
			for i := 1; i < 40; i += 2 {
				testfs.Exec(t, "fallocate", "-p", "-o", fmt.Sprint(i*1024), "-l", "1024", filepath.Join(mnt, "data/holes"))
			}
			fcFsync(t, filepath.Join(mnt, "data/holes"))
		},
		tags:  []uint16{journal.FCTagAddRange, journal.FCTagDelRange, journal.FCTagInode, journal.FCTagCreat},
		files: []string{"data/big", "data/holes"},
	},
	{
		// Punching every other block of a 1 KiB-block file leaves about
		// 500 extents: six leaves of 84, more than the four entries the
		// root in i_block holds, so the rebuilt tree needs two index
		// levels. (The stress campaign found the replay putting six index
		// entries in the root.)
		name: "deep-tree-1k", bs: 1024, sizeMiB: 64,
		setup: func(t *testing.T, mnt string) {
			os.Mkdir(filepath.Join(mnt, "data"), 0o755)
			testfs.WriteFile(t, filepath.Join(mnt, "data/many"), testfs.Random(1000*1024, 12))
		},
		fc: func(t *testing.T, mnt string) {
			f, err := os.OpenFile(filepath.Join(mnt, "data/many"), os.O_RDWR, 0)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			for i := int64(1); i < 1000; i += 2 {
				if err := unix.Fallocate(int(f.Fd()), unix.FALLOC_FL_PUNCH_HOLE|unix.FALLOC_FL_KEEP_SIZE, i*1024, 1024); err != nil {
					t.Fatal(err)
				}
			}
			if err := f.Sync(); err != nil {
				t.Fatal(err)
			}
		},
		tags:  []uint16{journal.FCTagDelRange, journal.FCTagInode},
		files: []string{"data/many"},
	},
}

// fcTree lists a mounted filesystem: path -> type, size, links, sha256.
func fcTree(t *testing.T, img string, readWrite bool) map[string]string {
	t.Helper()
	opt := "ro"
	if readWrite {
		opt = "rw"
	}
	m := loopmnt.Must(t, img, opt)
	defer m.Unmount()
	mnt := m.Dir
	out := map[string]string{}
	err := filepath.WalkDir(mnt, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(mnt, p)
		fi, err := os.Lstat(p)
		if err != nil {
			return err
		}
		st := fi.Sys().(*syscall.Stat_t)
		desc := fmt.Sprintf("%v size=%d links=%d", fi.Mode().Type(), fi.Size(), st.Nlink)
		if fi.Mode().IsRegular() {
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			desc += " sha256=" + fcSum(b)
		}
		out[rel] = desc
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

var (
	fcInodeRE  = regexp.MustCompile(`[Ii]node (\d+)`)
	fcRangeRE  = regexp.MustCompile(`-\(?(\d+)(?:--(\d+))?\)?`)
	fcBitmapRE = regexp.MustCompile(`(Block|Inode) bitmap differences: (.*)`)
)

// fcFsckOnly runs e2fsck -fn and accepts its complaints only when they are
// about the given inodes (left-over orphans, which e2fsck -n does not
// process) and, in the bitmaps, about those inodes and their blocks.
func fcFsckOnly(t *testing.T, img string, inodes []uint32) {
	t.Helper()
	out, err := exec.Command("e2fsck", "-fn", img).CombinedOutput()
	if err == nil {
		return
	}
	allowedIno := map[uint64]bool{}
	allowedBlk := map[uint64]bool{}
	for _, ino := range inodes {
		allowedIno[uint64(ino)] = true
		for _, b := range testfs.Blocks(t, img, uint64(ino)) {
			allowedBlk[b] = true
		}
	}
	for _, m := range fcInodeRE.FindAllStringSubmatch(string(out), -1) {
		var n uint64
		fmt.Sscan(m[1], &n)
		if !allowedIno[n] {
			t.Fatalf("e2fsck -fn complains about inode %d:\n%s", n, out)
		}
	}
	for _, m := range fcBitmapRE.FindAllStringSubmatch(string(out), -1) {
		allowed := allowedBlk
		if m[1] == "Inode" {
			allowed = allowedIno
		}
		for _, r := range fcRangeRE.FindAllStringSubmatch(m[2], -1) {
			var lo, hi uint64
			fmt.Sscan(r[1], &lo)
			hi = lo
			if r[2] != "" {
				fmt.Sscan(r[2], &hi)
			}
			for x := lo; x <= hi; x++ {
				if !allowed[x] {
					t.Fatalf("e2fsck -fn: %s bitmap difference at %d, which is not the orphans':\n%s", m[1], x, out)
				}
			}
		}
	}
	for _, bad := range []string{"Entry '", "checksum", "uninitialized", "UNINIT", "Unattached", "extent"} {
		if strings.Contains(string(out), bad) {
			t.Fatalf("e2fsck -fn complains (%q):\n%s", bad, out)
		}
	}
}

func TestFastCommitGenerated(t *testing.T) {
	for _, sc := range fcScenarios {
		t.Run(sc.name, func(t *testing.T) {
			img := buildFCImage(t, sc)
			// The fast commits hold what the scenario is about.
			fsysOp, err := engine.OpenFS(img.path, engine.Options{Mode: engine.ReadOnly})
			if err != nil {
				t.Fatal(err)
			}
			fsys, dev := fsysOp.FS, fsysOp.Dev
			if fsys.Journal.FastCommitsRefused != nil {
				dev.Close()
				t.Fatalf("engine.LoadFS did not replay the fast commits: %v", fsys.Journal.FastCommitsRefused)
			}
			var logged []string
			for _, tg := range fsys.Log.FastCommit.Replay() {
				logged = append(logged, tg.String())
			}
			dev.Close()
			// -n: a crash image's on-disk bitmaps may not match their
			// checksums yet (the journal holds the matching ones), and
			// debugfs would not open it.
			dumpOut, err := exec.Command("debugfs", "-n", "-R", "logdump", img.path).CombinedOutput()
			if err != nil {
				t.Fatalf("debugfs logdump: %v\n%s", err, dumpOut)
			}
			dump := string(dumpOut)
			for _, tag := range sc.tags {
				name := journal.FCTagName(tag)
				if !slices.ContainsFunc(logged, func(s string) bool { return strings.HasPrefix(s, name+",") }) {
					t.Fatalf("the valid fast commits hold no %s record:\n%s", name, strings.Join(logged, "\n"))
				}
				if !strings.Contains(dump, "tag "+name) {
					t.Fatalf("debugfs logdump shows no %s tag:\n%s", name, dump)
				}
			}
			t.Logf("fast-commit records:\n%s", strings.Join(logged, "\n"))

			// The kernel's own replay of the crash image.
			kernel := fcTree(t, img.copy(t), true)
			for p, sum := range img.want {
				if !strings.HasSuffix(kernel[p], "sha256="+sum) {
					t.Fatalf("the kernel's replay: %s is %q, want sha256 %s (scenario broken?)", p, kernel[p], sum)
				}
			}

			t.Run("write-replay", func(t *testing.T) {
				p := img.copy(t)
				fsysOp, err := engine.OpenFS(p, engine.Options{Mode: engine.ReadWrite})
				if err != nil {
					t.Fatal(err)
				}
				fsys, dev := fsysOp.FS, fsysOp.Dev
				if fsys.Journal.FastCommitsRefused != nil || fsys.Journal.FastCommits == 0 {
					t.Fatalf("FastCommit %v, %d records", fsys.Journal.FastCommitsRefused, fsys.Journal.FastCommits)
				}
				if err := fsys.Commit(engine.NewPlan(fsys, time.Now())); err != nil {
					t.Fatal(err)
				}
				dev.Close()
				fcFsckOnly(t, p, []uint32{img.orphan})
				ours := fcTree(t, p, false)
				for path, sum := range img.want {
					if !strings.HasSuffix(ours[path], "sha256="+sum) {
						t.Errorf("%s is %q, want sha256 %s", path, ours[path], sum)
					}
				}
				for _, g := range sc.gone {
					if _, ok := ours[g]; ok {
						t.Errorf("%s still exists", g)
					}
				}
				if !maps.Equal(ours, kernel) {
					t.Errorf("our replay and the kernel's differ:\nours:   %v\nkernel: %v", ours, kernel)
				}
				compareWithE2fsck(t, img, p)
			})

			t.Run("relink", func(t *testing.T) {
				p := img.copy(t)
				plan, err := relinkImage(t, p, engine.Request{All: true})
				if err != nil {
					t.Fatal(err)
				}
				if len(plan.Relinks) != 1 || plan.Relinks[0].Inode != img.orphan {
					t.Fatalf("relinked %+v, want just the orphan %d", plan.Relinks, img.orphan)
				}
				testfs.E2fsckClean(t, p)
				want := maps.Clone(img.want)
				want[strings.TrimPrefix(plan.Relinks[0].Path, "/")] = img.orphanSum
				got := testfs.MountRead(t, p, slices.Sorted(maps.Keys(want)))
				for path, sum := range want {
					if got[path] != sum {
						t.Errorf("%s: sha256 %s, want %s", path, got[path], sum)
					}
				}
			})

			t.Run("idempotent", func(t *testing.T) { fcIdempotent(t, img) })
		})
	}
}

var fcStatFields = []string{"Size", "Links", "Blockcount", "Generation", "Flags"}

// compareWithE2fsck: e2fsck -fy replays the fast commits itself (then
// checks and reaps the orphan); every inode the fast commits logged (the
// orphan aside) has the same size, links, i_blocks, generation, flags and
// block map as after our replay.
func compareWithE2fsck(t *testing.T, img *fcImage, ours string) {
	t.Helper()
	theirs := img.copy(t)
	out, err := exec.Command("e2fsck", "-fy", theirs).CombinedOutput()
	if ee, ok := err.(*exec.ExitError); err != nil && (!ok || ee.ExitCode() > 1) {
		t.Fatalf("e2fsck -fy: %v\n%s", err, out)
	}
	fsysOp, err := engine.OpenFS(img.path, engine.Options{Mode: engine.ReadOnly})
	if err != nil {
		t.Fatal(err)
	}
	fsys, dev := fsysOp.FS, fsysOp.Dev
	touched := fcTouched(t, fsys)
	dev.Close()
	for _, ino := range touched {
		if ino == img.orphan {
			continue
		}
		a, b := testfs.Stat(t, ours, uint64(ino)), testfs.Stat(t, theirs, uint64(ino))
		for _, f := range fcStatFields {
			x, y := testfs.StatField(t, a, f), testfs.StatField(t, b, f)
			if f == "Blockcount" {
				// The extent tree's own blocks count too, and a rebuilt
				// tree may take fewer than e2fsck's insert-by-insert one.
				x -= fcTreeSectors(t, ours, ino)
				y -= fcTreeSectors(t, theirs, ino)
			}
			if x != y {
				t.Errorf("inode %d: %s %d, e2fsck's replay gives %d", ino, f, x, y)
			}
		}
		if x, y := fcDataRuns(t, ours, ino), fcDataRuns(t, theirs, ino); !slices.Equal(x, y) {
			t.Errorf("inode %d: block map %v, e2fsck's replay gives %v", ino, x, y)
		}
	}
}

// fcTreeSectors is the 512-byte sectors an inode's mapping blocks (extent
// tree or indirect blocks) take.
func fcTreeSectors(t *testing.T, img string, ino uint32) uint64 {
	t.Helper()
	fsysOp, err := engine.OpenFS(img, engine.Options{Mode: engine.ReadOnly})
	if err != nil {
		t.Fatal(err)
	}
	fsys, dev := fsysOp.FS, fsysOp.Dev
	defer dev.Close()
	in, _, err := fsys.ReadInode(ino)
	if err != nil {
		t.Fatal(err)
	}
	m, err := fsys.BlockMap(ino, in)
	if err != nil {
		return 0 // nothing mapped (inline data, fast symlink)
	}
	return uint64(len(m.Meta)) * uint64(fsys.BlockSize()/512)
}

// fcDataRuns maps an inode's data (extent tree blocks aside: e2fsck and the
// replay may place those differently) on an image with nothing to recover.
func fcDataRuns(t *testing.T, img string, ino uint32) []inode.Run {
	t.Helper()
	fsysOp, err := engine.OpenFS(img, engine.Options{Mode: engine.ReadOnly})
	if err != nil {
		t.Fatal(err)
	}
	fsys, dev := fsysOp.FS, fsysOp.Dev
	defer dev.Close()
	if fsys.Journal.NeedsRecovery {
		t.Fatalf("%s still needs recovery", img)
	}
	in, _, err := fsys.ReadInode(ino)
	if err != nil {
		t.Fatal(err)
	}
	m, err := fsys.BlockMap(ino, in)
	if err != nil {
		t.Fatal(err)
	}
	var runs []inode.Run
	for _, r := range m.Runs { // merge what e2fsck's rewrite merges
		if n := len(runs); n > 0 && runs[n-1].End() == uint64(r.Logical) && runs[n-1].Physical+uint64(runs[n-1].Len) == r.Physical && runs[n-1].Unwritten == r.Unwritten {
			runs[n-1].Len += r.Len
			continue
		}
		runs = append(runs, r)
	}
	return runs
}

// fcIdempotent: records whose effect already reached the home blocks
// (inodes, extent tree blocks, directory blocks written by an interrupted
// earlier run) are harmless when the fast commits are replayed again on top
// of the journal replay; the result is the same filesystem. (Bitmaps,
// descriptors and the superblock are left out: see the report on
// finishRecovery's write order.)
func fcIdempotent(t *testing.T, img *fcImage) {
	p := img.copy(t)
	fsysOp, err := engine.OpenFS(p, engine.Options{Mode: engine.ReadWrite})
	if err != nil {
		t.Fatal(err)
	}
	fsys, dev := fsysOp.FS, fsysOp.Dev
	first := map[uint64][]byte{}
	for _, b := range fsys.FastCommitBlocks() {
		data, _ := fsys.FastCommitBlock(b)
		first[b] = bytes.Clone(data)
	}
	bookkeeping := map[uint64]bool{}
	sbBlk, _ := fsys.SuperblockLocation()
	bookkeeping[sbBlk] = true
	for g := range fsys.SB.GroupCount() {
		gd, err := fsys.GroupDesc(g)
		if err != nil {
			t.Fatal(err)
		}
		blk, _ := fsys.SB.DescLocation(g)
		bookkeeping[blk], bookkeeping[gd.BlockBitmap()], bookkeeping[gd.InodeBitmap()] = true, true, true
	}
	ov := fsys.JournalOverlay()
	for _, b := range ov.Blocks() {
		if data, ok, _ := ov.ReadBlock(b); ok && first[b] == nil {
			if err := fsys.WriteBlock(b, data); err != nil {
				t.Fatal(err)
			}
		}
	}
	wrote := 0
	for b, data := range first {
		if bookkeeping[b] {
			continue
		}
		if err := fsys.WriteBlock(b, data); err != nil {
			t.Fatal(err)
		}
		wrote++
	}
	if wrote == 0 {
		t.Fatal("the replay changed nothing but bookkeeping blocks")
	}
	dev.Close() // crash: the journal still needs recovery
	fsysOp, err = engine.OpenFS(p, engine.Options{Mode: engine.ReadWrite})
	if err != nil {
		t.Fatal(err)
	}
	fsys, dev = fsysOp.FS, fsysOp.Dev
	defer dev.Close()
	if fsys.Journal.FastCommitsRefused != nil {
		t.Fatalf("the second replay was refused: %v", fsys.Journal.FastCommitsRefused)
	}
	for b, want := range first {
		got, err := fsys.ReadBlock(b)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("block %d differs after replaying again", b)
		}
	}
	if err := fsys.WriteReplay(); err != nil {
		t.Fatal(err)
	}
	dev.Close()
	fcFsckOnly(t, p, []uint32{img.orphan})
}

// --- damaged records -------------------------------------------------------

// fcFixCRCs recomputes the tail checksums of the valid fast commits after
// their records were edited in blocks (journal block -> content).
func fcFixCRCs(tags []journal.FCTag, blocks map[uint64][]byte) {
	var crc uint32
	for _, tg := range tags {
		b := blocks[tg.Block]
		switch tg.Tag {
		case journal.FCTagTail:
			crc = super.Crc32c(crc, b[tg.Offset:tg.Offset+8])
			binary.LittleEndian.PutUint32(b[tg.Offset+8:], crc)
			crc = 0
		default:
			crc = super.Crc32c(crc, b[tg.Offset:tg.Offset+4+int(tg.Len)])
		}
	}
}

// fcMemDev is an image in memory.
type fcMemDev struct{ b []byte }

func (m *fcMemDev) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 || off+int64(len(p)) > int64(len(m.b)) {
		return 0, errors.New("read beyond the image")
	}
	return copy(p, m.b[off:]), nil
}
func (m *fcMemDev) WriteAt(p []byte, off int64) (int, error) {
	if off < 0 || off+int64(len(p)) > int64(len(m.b)) {
		return 0, errors.New("write beyond the image")
	}
	return copy(m.b[off:], p), nil
}
func (m *fcMemDev) Sync() error { return nil }
func (m *fcMemDev) Size() int64 { return int64(len(m.b)) }

// fcDamage loads image (bytes), lets edit change the fast-commit blocks of
// the valid fast commits, fixes the tail checksums so that the scan still
// accepts them, and loads the result.
type fcArea struct {
	img    []byte
	tags   []journal.FCTag
	phys   map[uint64]uint64 // journal block -> filesystem block
	bs     int
	blocks map[uint64][]byte
}

// loadMemFS loads a private in-memory copy of the image at path.
func loadMemFS(t testing.TB, path string) (*engine.FS, []byte) {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	fsys, err := engine.LoadFS(&fcMemDev{raw})
	if err != nil {
		t.Fatal(err)
	}
	return fsys, raw
}

func loadFCArea(t testing.TB, path string) *fcArea {
	t.Helper()
	fsys, raw := loadMemFS(t, path)
	a := &fcArea{img: raw, tags: fsys.Log.FastCommit.Replay(), phys: map[uint64]uint64{}, bs: int(fsys.BlockSize()), blocks: map[uint64][]byte{}}
	for _, tg := range a.tags {
		if _, ok := a.phys[tg.Block]; ok {
			continue
		}
		p, err := fsys.JournalFile().Map(tg.Block)
		if err != nil {
			t.Fatal(err)
		}
		a.phys[tg.Block] = p
	}
	return a
}

// with returns a copy of the image after edit changed the fast-commit
// blocks (tails re-checksummed).
func (a *fcArea) with(edit func(blocks map[uint64][]byte)) []byte {
	img := bytes.Clone(a.img)
	blocks := map[uint64][]byte{}
	for j, p := range a.phys {
		blocks[j] = img[int(p)*a.bs : int(p+1)*a.bs]
	}
	edit(blocks)
	fcFixCRCs(a.tags, blocks)
	return img
}

// withDev is with as a read-only device that shares the unchanged blocks.
func (a *fcArea) withDev(edit func(blocks map[uint64][]byte)) engine.Dev {
	blocks := map[uint64][]byte{}
	for j, p := range a.phys {
		blocks[j] = bytes.Clone(a.img[int(p)*a.bs : int(p+1)*a.bs])
	}
	edit(blocks)
	fcFixCRCs(a.tags, blocks)
	d := &fcPatchDev{base: a.img, bs: int64(a.bs), patch: map[int64][]byte{}}
	for j, p := range a.phys {
		d.patch[int64(p)] = blocks[j]
	}
	return d
}

// fcPatchDev reads base with some blocks replaced; it cannot be written.
type fcPatchDev struct {
	base  []byte
	bs    int64
	patch map[int64][]byte
}

func (d *fcPatchDev) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 || off+int64(len(p)) > int64(len(d.base)) {
		return 0, errors.New("read beyond the image")
	}
	copy(p, d.base[off:])
	for b := off / d.bs; b*d.bs < off+int64(len(p)); b++ {
		if data, ok := d.patch[b]; ok {
			lo, hi := max(off, b*d.bs), min(off+int64(len(p)), (b+1)*d.bs)
			copy(p[lo-off:hi-off], data[lo-b*d.bs:hi-b*d.bs])
		}
	}
	return len(p), nil
}
func (d *fcPatchDev) WriteAt([]byte, int64) (int, error) { return 0, errors.New("read-only") }
func (d *fcPatchDev) Sync() error                        { return nil }
func (d *fcPatchDev) Size() int64                        { return int64(len(d.base)) }

// last is the area's last record of kind tag.
func (a *fcArea) last(tag uint16) (journal.FCTag, bool) {
	for k := len(a.tags) - 1; k >= 0; k-- {
		if a.tags[k].Tag == tag {
			return a.tags[k], true
		}
	}
	return journal.FCTag{}, false
}

func (a *fcArea) find(tag uint16) (journal.FCTag, bool) {
	for _, tg := range a.tags {
		if tg.Tag == tag {
			return tg, true
		}
	}
	return journal.FCTag{}, false
}

func loadDamaged(t *testing.T, img []byte, wantValid int) *engine.FS {
	t.Helper()
	fsys, err := engine.LoadFS(&fcMemDev{img})
	if err != nil {
		t.Fatal(err)
	}
	if fsys.Log.FastCommit.Valid != wantValid {
		t.Fatalf("the damaged fast commits no longer scan as valid (%d of %d records): %s",
			fsys.Log.FastCommit.Valid, wantValid, fsys.Log.FastCommit.Stop)
	}
	return fsys
}

// TestFastCommitDamagedRecords: records that still carry valid tail
// checksums but say something impossible make the replay refuse (FastCommit
// stays set, nothing is replayed): a flipped byte in an INODE record's
// inode, an ADD_RANGE past the end of the filesystem, or inside the inode
// tables. An undamaged copy with re-computed checksums still replays.
func TestFastCommitDamagedRecords(t *testing.T) {
	fx := fixtures.Get(t, "ext4-fastcommit")
	a := loadFCArea(t, fx.Path)
	ino, ok := a.find(journal.FCTagInode)
	if !ok {
		t.Fatal("the fixture's fast commit has no INODE record")
	}
	fsys := loadDamaged(t, a.with(func(map[uint64][]byte) {}), len(a.tags))
	if fsys.Journal.FastCommitsRefused != nil {
		t.Fatalf("the re-checksummed original is refused: %v", fsys.Journal.FastCommitsRefused)
	}
	fsys = loadDamaged(t, a.with(func(b map[uint64][]byte) {
		b[ino.Block][ino.Offset+4+4+0x10] ^= 0x40 // i_mtime of the logged inode
	}), len(a.tags))
	if fsys.Journal.FastCommitsRefused == nil || !strings.Contains(fsys.Journal.FastCommitsRefused.Error(), "checksum") {
		t.Fatalf("a damaged INODE record was not refused: %v", fsys.Journal.FastCommitsRefused)
	}
	if len(fsys.FastCommitBlocks()) != 0 {
		t.Fatal("a refused replay left blocks behind")
	}
	t.Log(fsys.Journal.FastCommitsRefused)

	sc := fcScenarios[0]
	img := buildFCImage(t, sc)
	a = loadFCArea(t, img.path)
	add, ok := a.find(journal.FCTagAddRange)
	if !ok {
		t.Fatal("no ADD_RANGE record")
	}
	sb := testfs.Superblock(t, img.path)
	// The range's length (ee_len, less the unwritten flag) decides which
	// start straddles the end of the filesystem.
	n := uint64(binary.LittleEndian.Uint16(a.img[int(a.phys[add.Block])*a.bs+add.Offset+4+8:]))
	if n > 32768 {
		n -= 32768
	}
	for _, target := range []uint64{sb.BlocksCount() + 10, sb.BlocksCount() - n + 1, 1 << 40} {
		fsys := loadDamaged(t, a.with(func(b map[uint64][]byte) {
			v := b[add.Block][add.Offset+4:]
			binary.LittleEndian.PutUint16(v[10:], uint16(target>>32))
			binary.LittleEndian.PutUint32(v[12:], uint32(target))
		}), len(a.tags))
		if fsys.Journal.FastCommitsRefused == nil {
			t.Fatalf("ADD_RANGE to block %d was replayed", target)
		}
		t.Log(fsys.Journal.FastCommitsRefused)
	}
	// Into the inode table of group 0: metadata.
	fsys = loadDamaged(t, a.with(func(map[uint64][]byte) {}), len(a.tags))
	gd, err := fsys.GroupDesc(0)
	if err != nil {
		t.Fatal(err)
	}
	fsys = loadDamaged(t, a.with(func(b map[uint64][]byte) {
		binary.LittleEndian.PutUint32(b[add.Block][add.Offset+4+12:], uint32(gd.InodeTable()))
	}), len(a.tags))
	if fsys.Journal.FastCommitsRefused == nil {
		t.Fatal("ADD_RANGE into the inode table was replayed")
	}
	t.Log(fsys.Journal.FastCommitsRefused)
	// Onto blocks another inode maps: the orphan's data, the journal.
	fsys = loadDamaged(t, a.with(func(map[uint64][]byte) {}), len(a.tags))
	owned := map[string]uint64{}
	for name, ino := range map[string]uint32{"the orphan": img.orphan, "the journal": fsys.SB.JournalInum} {
		in, _, err := fsys.ReadInode(ino)
		if err != nil {
			t.Fatal(err)
		}
		m, err := fsys.BlockMap(ino, in)
		if err != nil {
			t.Fatal(err)
		}
		owned[name] = m.Runs[0].Physical
	}
	for name, target := range owned {
		fsys := loadDamaged(t, a.with(func(b map[uint64][]byte) {
			binary.LittleEndian.PutUint32(b[add.Block][add.Offset+4+12:], uint32(target))
		}), len(a.tags))
		// Which check fires first depends on where the kernel placed the
		// blocks of this freshly built image: the record itself, or the
		// final cross-check of every replayed inode's map.
		if fsys.Journal.FastCommitsRefused == nil || !strings.Contains(fsys.Journal.FastCommitsRefused.Error(), "already maps") && !strings.Contains(fsys.Journal.FastCommitsRefused.Error(), "would both map") {
			t.Fatalf("ADD_RANGE onto %s's block %d: %v", name, target, fsys.Journal.FastCommitsRefused)
		}
		t.Log(fsys.Journal.FastCommitsRefused)
	}
}

// TestFastCommitFlipEveryByte flips, one at a time, every byte of the
// records of the fixture's valid fast commit (tails re-checksummed): the
// load never panics, and either replays or leaves FastCommit set.
func TestFastCommitFlipEveryByte(t *testing.T) {
	fx := fixtures.Get(t, "ext4-fastcommit")
	a := loadFCArea(t, fx.Path)
	gone, refused := 0, 0
	for _, tg := range a.tags {
		if tg.Tag == journal.FCTagTail {
			continue // its checksum is recomputed anyway
		}
		for k := 0; k < 4+int(tg.Len); k++ {
			fsys, err := engine.LoadFS(a.withDev(func(b map[uint64][]byte) { b[tg.Block][tg.Offset+k] ^= 0x5a }))
			switch {
			case err != nil || fsys.Journal.FastCommitsRefused != nil:
				refused++
			case fsys.Log.FastCommit.Valid < len(a.tags):
				gone++ // the scan no longer accepts the fast commit: nothing pending
			default:
				t.Errorf("flipping byte %d of %s: the damaged record was replayed", k, tg)
			}
		}
	}
	t.Logf("%d damaged copies refused, %d no longer scan as a fast commit", refused, gone)
}

// TestFastCommitUninitGroups: an INODE record for an inode of a group
// whose inode and block bitmaps were never initialised (INODE_UNINIT,
// BLOCK_UNINIT) is replayed as ext4_mark_inode_used does: both bitmaps
// initialised, the flags cleared, bg_itable_unused lowered to just above the
// inode, the counts and every checksum right. The record is the multigroup
// scenario's last INODE record moved to the new inode number (its inode
// checksum recomputed for that number), so e2fsck may only complain that
// the new inode has no name.
func TestFastCommitUninitGroups(t *testing.T) {
	img := buildFCImage(t, fcScenarios[2])
	a := loadFCArea(t, img.path)
	last, ok := a.last(journal.FCTagInode)
	if !ok {
		t.Fatal("the scenario's valid fast commits hold no INODE record")
	}
	sb := testfs.Superblock(t, img.path)
	const g = 5
	target := uint32(g)*sb.InodesPerGroup + 10 // index 9 in group 5
	raw := a.with(func(b map[uint64][]byte) {
		v := b[last.Block][last.Offset+4 : last.Offset+4+int(last.Len)]
		binary.LittleEndian.PutUint32(v, target)
		rawIno := v[4:]
		in, err := inode.Decode(append(bytes.Clone(rawIno), make([]byte, int(sb.InodeSizeBytes())-len(rawIno))...))
		if err != nil {
			t.Fatal(err)
		}
		in.SetChecksum(sb, target)
		copy(rawIno, in.Encode()[:len(rawIno)])
	})
	fsys, err := engine.LoadFS(&fcMemDev{raw})
	if err != nil {
		t.Fatal(err)
	}
	before, err := engine.LoadFS(&fcMemDev{a.img})
	if err != nil {
		t.Fatal(err)
	}
	gd0, _ := before.GroupDesc(g)
	if gd0.Flags&(super.BgInodeUninit|super.BgBlockUninit) != super.BgInodeUninit|super.BgBlockUninit {
		t.Fatalf("group %d is not INODE_UNINIT and BLOCK_UNINIT (flags %#x)", g, gd0.Flags)
	}
	if fsys.Journal.FastCommitsRefused != nil {
		t.Fatalf("replay refused: %v", fsys.Journal.FastCommitsRefused)
	}
	gd, err := fsys.GroupDesc(g)
	if err != nil {
		t.Fatal(err)
	}
	if gd.Flags&(super.BgInodeUninit|super.BgBlockUninit) != 0 || gd.ItableUnused() != sb.InodesPerGroup-10 ||
		gd.FreeInodesCount() != sb.InodesPerGroup-1 || gd.FreeBlocksCount() != gd0.FreeBlocksCount() {
		t.Fatalf("group %d after the replay: flags %#x, itable_unused %d, free inodes %d, free blocks %d (was %d)",
			g, gd.Flags, gd.ItableUnused(), gd.FreeInodesCount(), gd.FreeBlocksCount(), gd0.FreeBlocksCount())
	}
	if fsys.SB.FreeInodesCount != before.SB.FreeInodesCount-1 {
		t.Fatalf("superblock free inodes %d, was %d", fsys.SB.FreeInodesCount, before.SB.FreeInodesCount)
	}
	p := filepath.Join(t.TempDir(), "uninit.img")
	if err := os.WriteFile(p, raw, 0o644); err != nil {
		t.Fatal(err)
	}
	dev, _, err := engine.Open(p, engine.Options{Mode: engine.ReadWrite})
	if err != nil {
		t.Fatal(err)
	}
	fsys, err = engine.LoadFS(dev)
	if err == nil {
		err = fsys.WriteReplay()
	}
	dev.Close()
	if err != nil {
		t.Fatal(err)
	}
	// The new inode has a name nowhere: e2fsck -n offers to connect it.
	out, _ := exec.Command("e2fsck", "-fn", p).CombinedOutput()
	if !strings.Contains(string(out), fmt.Sprintf("Unattached inode %d", target)) {
		t.Fatalf("e2fsck -fn does not see the new inode %d:\n%s", target, out)
	}
	filtered := regexp.MustCompile(fmt.Sprintf(`(?m)^Unattached (zero-length )?inode %d.*\n(Connect to /lost\+found\? no\n)?`, target)).ReplaceAllString(string(out), "")
	for _, bad := range []string{"Entry '", "checksum", "uninitialized", "UNINIT", "count wrong for group"} {
		if strings.Contains(filtered, bad) {
			t.Fatalf("e2fsck -fn complains (%q):\n%s", bad, out)
		}
	}
	for _, m := range fcInodeRE.FindAllStringSubmatch(filtered, -1) {
		if m[1] != fmt.Sprint(target) && m[1] != fmt.Sprint(img.orphan) {
			t.Fatalf("e2fsck -fn complains about inode %s:\n%s", m[1], out)
		}
	}
	if m := fcBitmapRE.FindAllStringSubmatch(filtered, -1); len(m) > 0 {
		orphanBlocks := testfs.Blocks(t, p, uint64(img.orphan))
		for _, d := range m {
			for _, r := range fcRangeRE.FindAllStringSubmatch(d[2], -1) {
				var lo, hi uint64
				fmt.Sscan(r[1], &lo)
				hi = lo
				if r[2] != "" {
					fmt.Sscan(r[2], &hi)
				}
				for x := lo; x <= hi; x++ {
					if d[1] == "Inode" && x != uint64(img.orphan) || d[1] == "Block" && !slices.Contains(orphanBlocks, x) {
						t.Fatalf("e2fsck -fn: %s bitmap difference at %d:\n%s", d[1], x, out)
					}
				}
			}
		}
	}
}

// FuzzFastCommitReplay damages the records of the fixture's valid fast
// commit with arbitrary bytes (tails re-checksummed, so the scan accepts
// what still parses) and loads the result: never a panic, and a replay
// either succeeds or leaves FastCommit set.
func FuzzFastCommitReplay(f *testing.F) {
	fx := fixtures.Get(f, "ext4-fastcommit")
	a := loadFCArea(f, fx.Path)
	f.Add(uint16(0), []byte{0})
	f.Add(uint16(12), []byte{0xff, 0xff})
	f.Add(uint16(40), []byte{1, 2, 3, 4})
	f.Add(uint16(140), bytes.Repeat([]byte{0xa5}, 32))
	var span int
	for _, tg := range a.tags {
		span = max(span, tg.Offset+4+int(tg.Len))
	}
	first := a.tags[0]
	f.Fuzz(func(t *testing.T, off uint16, patch []byte) {
		fsys, err := engine.LoadFS(a.withDev(func(b map[uint64][]byte) {
			blk := b[first.Block]
			for i, x := range patch {
				if k := int(off) + i; k < span && k < len(blk) {
					blk[k] ^= x
				}
			}
		}))
		if err != nil {
			return
		}
		if fsys.Journal.FastCommitsRefused == nil && len(fsys.FastCommitBlocks()) > 0 {
			if _, err := fsys.Orphans(); err != nil {
				t.Logf("replayed, orphans unreadable: %v", err)
			}
		}
	})
}
