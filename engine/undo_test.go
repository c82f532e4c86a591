package engine

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ext4relink/ext4relink/fixtures"
	"github.com/ext4relink/ext4relink/internal/testfs"
	undofile "github.com/ext4relink/ext4relink/internal/undo"
	"github.com/ext4relink/ext4relink/super"
)

func runE2undo(args ...string) (string, error) {
	out, err := exec.Command("e2undo", args...).CombinedOutput()
	return string(out), err
}

// e2undoExact runs the real e2undo and requires the image to be the
// original again, bit for bit.
func e2undoExact(t *testing.T, undo, img, wantSHA string) {
	t.Helper()
	out, err := runE2undo(undo, img)
	if err != nil {
		t.Fatalf("e2undo %s %s: %v\n%s", undo, img, err, out)
	}
	if got := testfs.FileSHA256(t, img); got != wantSHA {
		t.Fatalf("after e2undo the image is not the original (sha256 %s, want %s); e2undo said:\n%s", got, wantSHA, out)
	}
}

// cutDev stops writing after `left` writes: the next write and every later
// one fail without touching the device, as if the power had gone.
type cutDev struct {
	Dev
	left int
}

var errCut = errors.New("simulated power cut")

func (c *cutDev) WriteAt(p []byte, off int64) (int, error) {
	if c.left <= 0 {
		return 0, errCut
	}
	c.left--
	return c.Dev.WriteAt(p, off)
}

func (c *cutDev) Sync() error {
	if c.left <= 0 {
		return errCut
	}
	return c.Dev.Sync()
}

// countDev counts writes and remembers which ones change the primary superblock.
type countDev struct {
	Dev
	n       int
	touchSB []int
}

func (c *countDev) WriteAt(p []byte, off int64) (int, error) {
	c.n++
	if undofile.OverlapsSuper(off, len(p)) {
		cur := make([]byte, super.Size)
		if _, err := c.Dev.ReadAt(cur, super.Offset); err != nil {
			return 0, err
		}
		lo, hi := max(off, super.Offset), min(off+int64(len(p)), super.Offset+super.Size)
		if !bytes.Equal(cur[lo-super.Offset:hi-super.Offset], p[lo-off:hi-off]) {
			c.touchSB = append(c.touchSB, c.n)
		}
	}
	return c.Dev.WriteAt(p, off)
}

// undoRun relinks on img as the CLI does, with the undo file in between:
// Device <- below <- undofile.Dev <- above <- engine. It returns the undofile.Dev
// (not closed: the caller decides whether the run "crashed") and the plan.
func undoRun(t *testing.T, img, undo string, req Request, below, above func(Dev) Dev) (*undofile.Dev, *Plan, error) {
	t.Helper()
	dev, _, err := Open(img, Options{Mode: ReadWrite})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { dev.Close() })
	var base Dev = dev
	if below != nil {
		base = below(dev)
	}
	u, err := NewUndo(base, undo)
	if err != nil {
		t.Fatal(err)
	}
	var top Dev = u
	if above != nil {
		top = above(u)
	}
	fs, err := LoadFS(top)
	if err != nil {
		t.Fatal(err)
	}
	before, err := fs.Orphans()
	if err != nil {
		t.Fatal(err)
	}
	p, _, err := fs.PlanRelink(req, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := fs.Commit(p); err != nil {
		return u, p, err
	}
	return u, p, Verify(top, p, before)
}

// readUndo parses an undo file with our own decoder and returns its header
// and keys in file order, checking every key block and data CRC, and that
// the superblock copy (magic inverted) is the superblock of the image dev.
func readUndo(t *testing.T, path, dev string) (*undofile.Header, []undofile.Key) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	h, err := undofile.DecodeHeader(b)
	if err != nil {
		t.Fatal(err)
	}
	bs := int(h.BlockSize)
	kpb := undofile.KeysPerBlock(h.BlockSize)
	var keys []undofile.Key
	blk := int(h.KeyOffset)
	for i := 0; i < int(h.NumKeys); i += kpb {
		n := min(kpb, int(h.NumKeys)-i)
		kb, err := undofile.DecodeKeyBlock(b[blk*bs:(blk+1)*bs], n)
		if err != nil {
			t.Fatalf("key block at %d: %v", blk, err)
		}
		blk++
		for _, k := range kb {
			data := b[blk*bs : blk*bs+int(k.Size)]
			if c := super.Crc32c(^uint32(0), data); c != k.Crc {
				t.Fatalf("key for block %d: data crc %#x, key says %#x", k.FSBlock, c, k.Crc)
			}
			blk += (int(k.Size) + bs - 1) / bs
		}
		keys = append(keys, kb...)
	}
	sb := append([]byte(nil), b[int(h.SuperOffset)*bs:int(h.SuperOffset)*bs+super.Size]...)
	sb[undofile.SuperMagicOffset] ^= 0xFF
	sb[undofile.SuperMagicOffset+1] ^= 0xFF
	if c := super.Crc32c(^uint32(0), sb); c != h.SBCrc {
		t.Fatalf("sb_crc %#x, computed %#x", h.SBCrc, c)
	}
	img, err := os.ReadFile(dev)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(sb, img[super.Offset:super.Offset+super.Size]) {
		t.Fatal("the undo file's superblock copy is not the device's superblock")
	}
	return h, keys
}

// undoCases: 4k metadata_csum needing recovery, 1k blocks, ext3 (indirect),
// orphan_file, a full directory that grows by one block, and a
// journal-less filesystem (ordered commit).
var undoCases = []struct {
	fixture   string
	req       func(img *fixtures.Image) Request
	noJournal bool
}{
	{"ext4-4k-sync", func(*fixtures.Image) Request { return Request{All: true} }, false},
	{"ext4-1k-sync", func(*fixtures.Image) Request { return Request{All: true} }, false},
	{"ext4-1k-journal", func(*fixtures.Image) Request { return Request{All: true} }, false},
	{"ext3", func(*fixtures.Image) Request { return Request{All: true} }, false},
	{"ext4-orphanfile", func(*fixtures.Image) Request { return Request{All: true} }, false},
	{"ext4-fulldir", func(*fixtures.Image) Request { return Request{All: true, Into: "/full"} }, false},
	{"ext4-many", func(*fixtures.Image) Request { return Request{All: true} }, true},
}

// TestUndoRestoresExactly: relink through the undo file, check the relink
// (e2fsck -fn clean), check the file's structure, let `e2undo -n -v` list
// every saved block without writing, then the real e2undo must give back
// the original image bit for bit.
func TestUndoRestoresExactly(t *testing.T) {
	for _, c := range undoCases {
		name := c.fixture
		if c.noJournal {
			name += "-nojournal"
		}
		t.Run(name, func(t *testing.T) {
			img := fixtures.Get(t, c.fixture)
			if c.noJournal {
				img = noJournal(t, img)
			}
			p := img.Copy(t)
			orig := testfs.FileSHA256(t, p)
			undo := filepath.Join(t.TempDir(), "relink.e2undo")
			rec := &countDev{}
			u, plan, err := undoRun(t, p, undo, c.req(img), func(d Dev) Dev { rec.Dev = d; return rec }, nil)
			if err != nil {
				t.Fatal(err)
			}
			if err := u.Close(); err != nil {
				t.Fatal(err)
			}
			if len(plan.Relinks) == 0 {
				t.Fatal("nothing relinked")
			}
			if c.fixture == "ext4-fulldir" && !strings.Contains(plan.Relinks[0].DirChange, "grown by block") {
				t.Fatalf("/full did not grow: %q", plan.Relinks[0].DirChange)
			}
			testfs.E2fsckClean(t, p)
			relinked := testfs.FileSHA256(t, p)
			if relinked == orig {
				t.Fatal("the relink changed nothing")
			}

			h, keys := readUndo(t, undo, p)
			if raw, _ := os.ReadFile(undo); !bytes.Equal(raw[int(h.SuperOffset)*int(h.BlockSize)+undofile.SuperMagicOffset:][:2], []byte{0xAC, 0x10}) {
				t.Fatal("the superblock copy does not carry the inverted ext4 magic (ac 10)")
			}
			if h.State&undofile.StateFinished == 0 || h.BlockSize != u.BlockSize() || h.FSBlockSize != u.BlockSize() {
				t.Fatalf("header %+v", h)
			}
			var got []uint64
			for _, k := range keys {
				got = append(got, k.FSBlock)
			}
			if !slices.Equal(got, u.Saved()) || len(got) == 0 {
				t.Fatalf("keys %v, saved %v", got, u.Saved())
			}
			slices.Sort(got)
			if len(slices.Compact(got)) != len(keys) {
				t.Fatalf("a block was saved twice: %v", got)
			}
			t.Logf("%d device writes (%d changing the superblock), %d blocks saved, undo file block size %d",
				rec.n, len(rec.touchSB), len(keys), h.BlockSize)

			out, err := runE2undo("-n", "-v", undo, p)
			if err != nil {
				t.Fatalf("e2undo -n -v: %v\n%s", err, out)
			}
			if n := len(regexp.MustCompile(`(?m)^Replayed block of size \d+ from \d+ to \d+$`).FindAllString(out, -1)); n != len(keys) {
				t.Fatalf("e2undo -n -v listed %d blocks, the file has %d keys:\n%s", n, len(keys), out)
			}
			for _, k := range keys {
				if !strings.Contains(out, fmt.Sprintf("Replayed block of size %d from ", k.Size)) || !strings.Contains(out, fmt.Sprintf(" to %d\n", k.FSBlock)) {
					t.Fatalf("e2undo -n -v does not list block %d:\n%s", k.FSBlock, out)
				}
			}
			if strings.Contains(out, "Incomplete") || strings.Contains(out, "error") {
				t.Fatalf("e2undo -n complains:\n%s", out)
			}
			if testfs.FileSHA256(t, p) != relinked {
				t.Fatal("e2undo -n wrote to the image")
			}

			e2undoExact(t, undo, p, orig)
		})
	}
}

// TestUndoAfterCrash cuts the run off after k device writes, for every k,
// in two places: above the undofile.Dev (a power cut between two writes: the
// k+1st never reaches the undo layer) and below it (the device refuses the
// k+1st write after its old content was saved). The undo file is never
// closed. e2undo must bring back the original exactly each time.
func TestUndoAfterCrash(t *testing.T) {
	for _, name := range []string{"ext4-4k-sync", "ext4-1k-journal"} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			img := fixtures.Get(t, name)
			orig := testfs.FileSHA256(t, img.Path)
			total := countWrites(t, img)
			for k := 0; k < total; k++ {
				for _, where := range []string{"above", "below"} {
					p := img.Copy(t)
					undo := filepath.Join(t.TempDir(), fmt.Sprintf("cut-%d-%s.e2undo", k, where))
					cut := &cutDev{left: k}
					wrap := func(d Dev) Dev { cut.Dev = d; return cut }
					var u *undofile.Dev
					var err error
					if where == "above" {
						u, _, err = undoRun(t, p, undo, Request{All: true}, nil, wrap)
					} else {
						u, _, err = undoRun(t, p, undo, Request{All: true}, wrap, nil)
					}
					if !errors.Is(err, errCut) {
						t.Fatalf("k=%d %s: the run did not stop at the cut: %v", k, where, err)
					}
					u.Abandon()
					e2undoExact(t, undo, p, orig)
					os.Remove(p)
				}
			}
			t.Logf("cut after each of %d writes, above and below the undo layer: restored exactly every time", total)
		})
	}
}

func countWrites(t *testing.T, img *fixtures.Image) int {
	t.Helper()
	p := img.Copy(t)
	rec := &countDev{}
	u, _, err := undoRun(t, p, filepath.Join(t.TempDir(), "count.e2undo"), Request{All: true}, nil, func(d Dev) Dev { rec.Dev = d; return rec })
	if err != nil {
		t.Fatal(err)
	}
	u.Close()
	os.Remove(p)
	return rec.n
}

// snapDev photographs the device and the undo file at its n-th write: just
// before the write reaches the device (a power cut after the undo file was
// committed, before the device write landed) and just after it.
type snapDev struct {
	Dev
	t                 *testing.T
	at, n             int
	img, undo, dir    string
	beforeImg, before string
	afterImg, after   string
}

func (s *snapDev) WriteAt(p []byte, off int64) (int, error) {
	s.n++
	if s.n != s.at {
		return s.Dev.WriteAt(p, off)
	}
	s.beforeImg, s.before = s.snap("before")
	n, err := s.Dev.WriteAt(p, off)
	s.afterImg, s.after = s.snap("after")
	return n, err
}

func (s *snapDev) snap(tag string) (string, string) {
	img := filepath.Join(s.dir, tag+".img")
	undo := filepath.Join(s.dir, tag+".e2undo")
	if err := fixtures.CopySparse(s.img, img); err != nil {
		s.t.Fatal(err)
	}
	if err := fixtures.CopySparse(s.undo, undo); err != nil {
		s.t.Fatal(err)
	}
	return img, undo
}

// TestUndoPowerCutAtEachWrite photographs the device and the undo file at
// every device write, before and after it lands. After it lands, e2undo
// always restores exactly. Before it lands, it restores exactly unless the
// write changes the superblock: then the undo file already records the new
// superblock and e2undo refuses without writing anything (the one window
// the format cannot close; see undofile.Dev); e2undo -f then restores every
// block and marks the filesystem for fsck, changing only superblock and
// group descriptor copies.
func TestUndoPowerCutAtEachWrite(t *testing.T) {
	img := fixtures.Get(t, "ext4-4k-sync")
	orig := testfs.FileSHA256(t, img.Path)
	total := countWrites(t, img)
	refused := 0
	for k := 1; k <= total; k++ {
		p := img.Copy(t)
		undo := filepath.Join(t.TempDir(), "run.e2undo")
		snap := &snapDev{t: t, at: k, img: p, undo: undo, dir: t.TempDir()}
		rec := &countDev{}
		u, _, err := undoRun(t, p, undo, Request{All: true}, func(d Dev) Dev { snap.Dev = d; rec.Dev = snap; return rec }, nil)
		if err != nil {
			t.Fatal(err)
		}
		u.Close()
		os.Remove(p)
		e2undoExact(t, snap.after, snap.afterImg, orig)
		if !slices.Contains(rec.touchSB, k) {
			e2undoExact(t, snap.before, snap.beforeImg, orig)
			continue
		}
		refused++
		pre := testfs.FileSHA256(t, snap.beforeImg)
		out, err := runE2undo(snap.before, snap.beforeImg)
		if err == nil || !strings.Contains(out, "superblock doesn't match") {
			t.Fatalf("write %d (superblock): e2undo did not refuse: %v\n%s", k, err, out)
		}
		if testfs.FileSHA256(t, snap.beforeImg) != pre {
			t.Fatalf("write %d: e2undo refused but wrote", k)
		}
		if out, err := runE2undo("-f", snap.before, snap.beforeImg); err != nil {
			t.Fatalf("e2undo -f: %v\n%s", err, out)
		}
		onlyFsckMarks(t, img.Path, snap.beforeImg)
	}
	t.Logf("%d writes; %d of them change the superblock (e2undo refuses the before-photo, -f restores it)", total, refused)
}

// onlyFsckMarks checks that got differs from want only in blocks holding a
// superblock or group descriptor copy (what e2undo rewrites when it marks
// the filesystem for fsck) and that the primary superblock differs only in
// the fields that marking touches.
func onlyFsckMarks(t *testing.T, want, got string) {
	t.Helper()
	a, err := os.ReadFile(want)
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(got)
	if err != nil {
		t.Fatal(err)
	}
	sb, err := super.Decode(a[super.Offset:])
	if err != nil {
		t.Fatal(err)
	}
	bs := int(sb.BlockSize())
	meta := map[int]bool{}
	groups := (sb.BlocksCount() - uint64(sb.FirstDataBlock) + uint64(sb.BlocksPerGroup) - 1) / uint64(sb.BlocksPerGroup)
	descBlocks := (groups + sb.DescPerBlock() - 1) / sb.DescPerBlock()
	for g := uint64(0); g < groups; g++ {
		if g == 0 || sb.GroupHasSuper(g) {
			first := sb.GroupFirstBlock(g)
			for i := uint64(0); i <= descBlocks; i++ {
				meta[int(first+i)] = true
			}
		}
	}
	for blk := 0; blk*bs < len(a); blk++ {
		x, y := a[blk*bs:(blk+1)*bs], b[blk*bs:(blk+1)*bs]
		if !bytes.Equal(x, y) && !meta[blk] {
			t.Fatalf("block %d differs after e2undo -f and is not a superblock/descriptor copy", blk)
		}
	}
	// s_wtime, s_state, s_kbytes_written, s_wtime_hi, s_checksum.
	marks := [][2]int{{0x30, 4}, {0x3A, 2}, {0x178, 8}, {0x274, 1}, {0x3FC, 4}}
	for i := 0; i < super.Size; i++ {
		if a[super.Offset+i] == b[super.Offset+i] {
			continue
		}
		if !slices.ContainsFunc(marks, func(m [2]int) bool { return i >= m[0] && i < m[0]+m[1] }) {
			t.Fatalf("primary superblock byte %#x differs after e2undo -f", i)
		}
	}
}

// TestUndoUnalignedWrites writes odd-sized, odd-offset chunks through the
// undofile.Dev onto a freshly made filesystem whose device ends in a partial
// block, including bytes of the superblock and the device's last byte.
func TestUndoUnalignedWrites(t *testing.T) {
	for _, bs := range []int{1024, 4096} {
		t.Run(fmt.Sprint(bs), func(t *testing.T) {
			dir := t.TempDir()
			img := filepath.Join(dir, "fs.img")
			if out, err := exec.Command("mke2fs", "-F", "-q", "-t", "ext4", "-b", fmt.Sprint(bs), img, "8M").CombinedOutput(); err != nil {
				t.Fatalf("mke2fs: %v\n%s", err, out)
			}
			// A device longer than the filesystem, ending in a partial block.
			f, err := os.OpenFile(img, os.O_RDWR, 0)
			if err != nil {
				t.Fatal(err)
			}
			size := int64(8<<20 + 1000)
			if err := f.Truncate(size); err != nil {
				t.Fatal(err)
			}
			if _, err := f.WriteAt(bytes.Repeat([]byte{0x5A}, 1000), 8<<20); err != nil {
				t.Fatal(err)
			}
			f.Close()
			orig := testfs.FileSHA256(t, img)

			dev, _, err := Open(img, Options{Mode: ReadWrite})
			if err != nil {
				t.Fatal(err)
			}
			defer dev.Close()
			undo := filepath.Join(dir, "u.e2undo")
			u, err := NewUndo(dev, undo)
			if err != nil {
				t.Fatal(err)
			}
			rng := rand.New(rand.NewPCG(1, uint64(bs)))
			writes := []struct{ off, n int64 }{
				{super.Offset + 0x100, 3},  // inside the superblock
				{super.Offset - 7, 20},     // across the superblock's start
				{int64(bs) - 5, int64(bs)}, // across a block boundary
				{5*int64(bs) + 1, 3 * int64(bs)},
				{size - 1, 1},                       // the last byte, in the partial block
				{size - 1500, 1500},                 // the last full block and the partial one
				{5*int64(bs) + 100, 10},             // again: already saved
				{40*int64(bs) + 3, 300 * int64(bs)}, // 301 blocks in one write: several key blocks
			}
			for i := 0; i < 20; i++ {
				off := rng.Int64N(size - 1)
				writes = append(writes, struct{ off, n int64 }{off, 1 + rng.Int64N(min(3*int64(bs), size-off))})
			}
			for _, w := range writes {
				buf := make([]byte, w.n)
				for i := range buf {
					buf[i] = byte(rng.Uint32())
				}
				if n, err := u.WriteAt(buf, w.off); err != nil || n != len(buf) {
					t.Fatalf("write %d@%d: %d, %v", w.n, w.off, n, err)
				}
			}
			if _, err := u.WriteAt(make([]byte, 2), size-1); err == nil {
				t.Fatal("a write past the end of the device was accepted")
			}
			if err := u.Close(); err != nil {
				t.Fatal(err)
			}
			h, keys := readUndo(t, undo, img)
			if kpb := undofile.KeysPerBlock(h.BlockSize); len(keys) <= kpb {
				t.Fatalf("only %d keys: the test should fill more than one key block (%d keys)", len(keys), kpb)
			}
			last := keys[slices.IndexFunc(keys, func(k undofile.Key) bool { return k.FSBlock == uint64(size)/uint64(bs) })]
			if last.Size != uint32(size%int64(bs)) {
				t.Fatalf("the partial last block was saved with %d bytes, want %d", last.Size, size%int64(bs))
			}
			if testfs.FileSHA256(t, img) == orig {
				t.Fatal("nothing was written")
			}
			e2undoExact(t, undo, img, orig)
		})
	}
}

// TestUndoRefusesExistingFile: an existing undo file is never overwritten.
func TestUndoRefusesExistingFile(t *testing.T) {
	img := fixtures.Get(t, "ext4-4k-freeze")
	dev, _, err := Open(img.Path, Options{Mode: ReadOnly})
	if err != nil {
		t.Fatal(err)
	}
	defer dev.Close()
	undo := filepath.Join(t.TempDir(), "old.e2undo")
	if err := os.WriteFile(undo, []byte("precious"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = NewUndo(dev, undo)
	if !errors.Is(err, ErrRequest) || !strings.Contains(err.Error(), "already exists") {
		t.Fatalf("got %v", err)
	}
	if b, _ := os.ReadFile(undo); string(b) != "precious" {
		t.Fatalf("the existing file was changed: %q", b)
	}
	// Not a filesystem: refused before any file is made.
	junk := filepath.Join(t.TempDir(), "junk.img")
	os.WriteFile(junk, make([]byte, 1<<20), 0o600)
	jd, _, err := Open(junk, Options{Mode: ReadOnly})
	if err != nil {
		t.Fatal(err)
	}
	defer jd.Close()
	if _, err := NewUndo(jd, undo+"2"); !errors.Is(err, super.ErrCorrupt) {
		t.Fatalf("got %v", err)
	}
	if _, err := os.Stat(undo + "2"); !os.IsNotExist(err) {
		t.Fatal("an undo file was created for a device without a filesystem")
	}
}

// TestUndoDiscard: a run that writes nothing leaves no file behind with
// Discard; one that wrote keeps its file.
func TestUndoDiscard(t *testing.T) {
	img := fixtures.Get(t, "ext4-4k-freeze")
	p := img.Copy(t)
	dev, _, err := Open(p, Options{Mode: ReadWrite})
	if err != nil {
		t.Fatal(err)
	}
	defer dev.Close()
	undo := filepath.Join(t.TempDir(), "u.e2undo")
	u, err := NewUndo(dev, undo)
	if err != nil {
		t.Fatal(err)
	}
	if out, err := runE2undo("-n", undo, p); err != nil {
		t.Fatalf("an empty undo file is not accepted by e2undo: %v\n%s", err, out)
	}
	if removed, err := u.Discard(); err != nil || !removed {
		t.Fatalf("removed %v, %v", removed, err)
	}
	if _, err := os.Stat(undo); !os.IsNotExist(err) {
		t.Fatal("empty undo file left behind")
	}
	u, err = NewUndo(dev, undo)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := u.WriteAt([]byte{1}, 100<<10); err != nil {
		t.Fatal(err)
	}
	if removed, err := u.Discard(); err != nil || removed {
		t.Fatalf("removed %v, %v", removed, err)
	}
	if _, err := os.Stat(undo); err != nil {
		t.Fatal(err)
	}
}

// TestUndoStateFinishedMatters documents why every header carries the
// "finished" state: e2undo 1.47 replays an unfinished file and then marks
// the filesystem as not clean, so the result is not the original.
func TestUndoStateFinishedMatters(t *testing.T) {
	img := fixtures.Get(t, "ext4-4k-freeze")
	p := img.Copy(t)
	orig := testfs.FileSHA256(t, p)
	undo := filepath.Join(t.TempDir(), "u.e2undo")
	u, _, err := undoRun(t, p, undo, Request{All: true}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	u.Close()
	b, err := os.ReadFile(undo)
	if err != nil {
		t.Fatal(err)
	}
	h, err := undofile.DecodeHeader(b)
	if err != nil {
		t.Fatal(err)
	}
	h.State = 0
	copy(b, h.Encode())
	if err := os.WriteFile(undo, b, 0o600); err != nil {
		t.Fatal(err)
	}
	out, _ := runE2undo(undo, p)
	if !strings.Contains(out, "Incomplete undo record") {
		t.Fatalf("e2undo said:\n%s", out)
	}
	if testfs.FileSHA256(t, p) == orig {
		t.Log("e2undo restored an unfinished file exactly: the finished state is no longer needed for exactness")
	}
}
