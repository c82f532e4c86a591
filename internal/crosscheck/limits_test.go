package crosscheck

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	ext4 "github.com/dsoprea/go-ext4"
	"github.com/dsoprea/go-ext4/jbd2"

	"github.com/ext4relink/ext4relink/engine"
	"github.com/ext4relink/ext4relink/fixtures"
	"github.com/ext4relink/ext4relink/inode"
	"github.com/ext4relink/ext4relink/internal/testfs"
	"github.com/ext4relink/ext4relink/super"
)

// fuzzEnv, when set, turns the test binary into the fuzz child (TestMain).
const fuzzEnv = "EXT4RELINK_GOEXT4_FUZZ_CHILD"

func TestMain(m *testing.M) {
	if spec := os.Getenv(fuzzEnv); spec != "" {
		os.Exit(fuzzChild(spec))
	}
	os.Exit(m.Run())
}

// observe is what a go-ext4 user sees of an image: a few superblock
// facts, the fields and first 64 KiB of each inode in inos, and the tree
// under directory dir. Any go-ext4 error (or escaped panic) is returned.
func observe(rs io.ReadSeeker, inos []uint32, dir uint32) (string, error) {
	g, err := gxOpen(rs)
	if err != nil {
		return "", err
	}
	var b strings.Builder
	d := g.sb.Data()
	fmt.Fprintf(&b, "bs=%d blocks=%d ipg=%d isz=%d\n", g.sb.BlockSize(), g.sb.BlockCount(), d.SInodesPerGroup, d.SInodeSize)
	for _, ino := range inos {
		in, err := g.inode(ino)
		if err != nil {
			return "", err
		}
		data, err := g.content(in, 64<<10)
		if err != nil {
			return "", err
		}
		id := in.Data()
		fmt.Fprintf(&b, "%d: mode=%o size=%d links=%d dtime=%d flags=%#x gen=%d data=%s\n",
			ino, id.IMode, in.Size(), id.ILinksCount, id.IDtime, id.IFlags, id.IGeneration, sum(data))
	}
	ents, err := g.walk(dir)
	if err != nil {
		return "", err
	}
	for _, e := range ents {
		fmt.Fprintf(&b, "%q %d %d\n", e.Path, e.Inode, e.Type)
	}
	return b.String(), nil
}

// fuzzSpec is one region of an image whose bytes are flipped one at a time.
type fuzzSpec struct {
	Image  string
	Off    int64 // byte offset of the region in the image
	Len    int
	From   int // first index to run (the parent restarts after a crash)
	Inodes []uint32
	Dir    uint32
}

// Outcomes of one mutated image as go-ext4 sees it.
const (
	outError     = "error"     // go-ext4 returned an error
	outPanic     = "panic"     // a panic escaped a go-ext4 call (recovered by guard)
	outFatal     = "fatal"     // the process died: a runtime fatal error recover() cannot catch
	outHang      = "hang"      // no answer within fuzzCaseTimeout
	outSame      = "same"      // accepted, and the observation is unchanged
	outDifferent = "different" // accepted, and go-ext4 silently reports something else
)

const fuzzCaseTimeout = 60 * time.Second

// fuzzChild runs in a separate process so that a fatal runtime error
// (which recover() cannot catch) kills only the child: it prints "B i"
// before and "R i outcome detail" after case i.
func fuzzChild(specJSON string) int {
	var sp fuzzSpec
	if err := json.Unmarshal([]byte(specJSON), &sp); err != nil {
		fmt.Println("X", err)
		return 2
	}
	img, err := os.ReadFile(sp.Image)
	if err != nil {
		fmt.Println("X", err)
		return 2
	}
	base, err := observe(bytes.NewReader(img), sp.Inodes, sp.Dir)
	if err != nil {
		fmt.Println("X baseline:", strconv.Quote(errText(err)))
		return 2
	}
	for i := sp.From; i < sp.Len; i++ {
		fmt.Printf("B %d\n", i)
		img[sp.Off+int64(i)] ^= 0xFF
		got, err := observe(bytes.NewReader(img), sp.Inodes, sp.Dir)
		img[sp.Off+int64(i)] ^= 0xFF
		out, detail := outSame, ""
		switch {
		case isPanic(err):
			out, detail = outPanic, errText(err)
		case err != nil:
			out, detail = outError, errText(err)
		case got != base:
			out = outDifferent
		}
		fmt.Printf("R %d %s %s\n", i, out, strconv.Quote(detail))
	}
	return 0
}

type fuzzResult struct{ out, detail string }

// runFuzz flips every byte of the region (XOR 0xFF), one per case, and
// returns go-ext4's outcome for each, running the cases in child processes
// and restarting after any case that kills its process.
func runFuzz(t *testing.T, sp fuzzSpec) []fuzzResult {
	t.Helper()
	res := make([]fuzzResult, sp.Len)
	for restarts := 0; sp.From < sp.Len; restarts++ {
		if restarts > 64 {
			t.Fatalf("fuzz: more than 64 crashed child processes")
		}
		js, _ := json.Marshal(sp)
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), fuzzEnv+"="+string(js))
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		var mu sync.Mutex
		hung := false
		watchdog := time.AfterFunc(fuzzCaseTimeout, func() {
			mu.Lock()
			hung = true
			mu.Unlock()
			cmd.Process.Kill()
		})
		inflight := -1
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			watchdog.Reset(fuzzCaseTimeout)
			kind, rest, _ := strings.Cut(sc.Text(), " ")
			switch kind {
			case "B":
				inflight, _ = strconv.Atoi(rest)
			case "R":
				f := strings.SplitN(rest, " ", 3)
				i, _ := strconv.Atoi(f[0])
				detail, _ := strconv.Unquote(f[2])
				res[i] = fuzzResult{f[1], detail}
				inflight, sp.From = -1, i+1
			case "X":
				cmd.Process.Kill()
				cmd.Wait()
				t.Fatalf("fuzz child: %s", rest)
			}
		}
		werr := cmd.Wait()
		watchdog.Stop()
		if inflight < 0 {
			if werr != nil || sp.From < sp.Len {
				t.Fatalf("fuzz child stopped at %d of %d: %v\n%s", sp.From, sp.Len, werr, stderr.String())
			}
			continue
		}
		mu.Lock()
		h := hung
		mu.Unlock()
		if h {
			res[inflight] = fuzzResult{outHang, fmt.Sprintf("no answer within %v", fuzzCaseTimeout)}
		} else {
			res[inflight] = fuzzResult{outFatal, fatalReason(stderr.String())}
		}
		sp.From = inflight + 1
	}
	return res
}

// fatalReason picks the runtime's own explanation out of a crashed child's stderr.
func fatalReason(stderr string) string {
	for _, l := range strings.Split(stderr, "\n") {
		if strings.HasPrefix(l, "fatal error:") || strings.HasPrefix(l, "runtime:") {
			return l
		}
	}
	s, _, _ := strings.Cut(strings.TrimSpace(stderr), "\n")
	return s
}

// tally counts outcomes.
func tally(res []fuzzResult) map[string]int {
	n := map[string]int{}
	for _, r := range res {
		n[r.out]++
	}
	return n
}

// overlay is an io.ReadSeeker over a file with some bytes replaced in memory.
type overlay struct {
	f     *os.File
	size  int64
	pos   int64
	patch map[int64]byte
}

func (o *overlay) Read(p []byte) (int, error) {
	if o.pos >= o.size {
		return 0, io.EOF
	}
	n, err := o.f.ReadAt(p[:min(int64(len(p)), o.size-o.pos)], o.pos)
	for i := range n {
		if v, ok := o.patch[o.pos+int64(i)]; ok {
			p[i] = v
		}
	}
	o.pos += int64(n)
	if err == io.EOF && n > 0 {
		err = nil
	}
	return n, err
}

func (o *overlay) Seek(off int64, whence int) (int64, error) {
	switch whence {
	case io.SeekCurrent:
		off += o.pos
	case io.SeekEnd:
		off += o.size
	}
	if off < 0 {
		return 0, errors.New("negative seek")
	}
	o.pos = off
	return off, nil
}

// flipByte XORs the byte at off of the image file at path with 0xFF.
func flipByte(t *testing.T, path string, off int64) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b := make([]byte, 1)
	if _, err := f.ReadAt(b, off); err != nil {
		t.Fatal(err)
	}
	b[0] ^= 0xFF
	if _, err := f.WriteAt(b, off); err != nil {
		t.Fatal(err)
	}
}

// engineRead opens path with the engine and reads and maps inode ino,
// returning the first error.
func engineRead(path string, ino uint32) error {
	fsOp, err := engine.OpenFS(path, engine.Options{Mode: engine.ReadOnly})
	if err != nil {
		return err
	}
	fs, dev := fsOp.FS, fsOp.Dev
	defer dev.Close()
	in, _, err := fs.ReadInode(ino)
	if err != nil {
		return err
	}
	_, err = fs.BlockMap(ino, in)
	return err
}

// dirBlockVerifies is the kernel's ext4_dirblock_csum_verify for a linear
// directory leaf block: a well-formed struct ext4_dir_entry_tail whose
// det_checksum is crc32c(inode seed, block before the tail).
func dirBlockVerifies(sb *super.Superblock, dirIno, gen uint32, blk []byte) bool {
	n := len(blk)
	t := blk[n-12:]
	if binary.LittleEndian.Uint32(t) != 0 || binary.LittleEndian.Uint16(t[4:]) != 12 || t[6] != 0 || t[7] != 0xDE {
		return false
	}
	seed := inode.CsumSeed(sb.CsumSeed(), dirIno, gen)
	return super.Crc32c(seed, blk[:n-12]) == binary.LittleEndian.Uint32(t[8:])
}

// TestGoExt4Limitations records, as assertions on real fixtures, why
// go-ext4 is used only as a test-time cross-check.
func TestGoExt4Limitations(t *testing.T) {
	t.Run("a_no_checksums", testNoChecksums)
	t.Run("b_desc_size", testDescSize)
	t.Run("c_unsupported", testUnsupported)
	t.Run("d_bad_data", testBadData)
	t.Run("e_no_journal_replay", testNoJournal)
}

// (a) go-ext4 verifies no checksum: it has no crc32c/crc16 code at all
// (the fields are decoded and never used; README "To Do": "Add checksum
// calculation and validation"; extent.go parseHeader reads the extent tail
// with "TODO(dustin): Finish implementing checksums"). Corrupting only the
// stored checksum of the superblock, group descriptor 0, an inode, an
// extent tree block and a directory block leaves everything go-ext4 reports
// unchanged, while ext4relink (and the kernel) refuse each image.
func testNoChecksums(t *testing.T) {
	img := fixtures.Get(t, "ext4-4k-freeze")
	fs := openEngine(t, img.Path)
	sb := fs.SB
	if !sb.HasMetadataCsum() {
		t.Fatal("ext4-4k-freeze should have metadata_csum")
	}
	bs := int64(fs.BlockSize())
	small, _ := img.Orphan("data/small.bin")
	sparse, _ := img.Orphan("data/sparse.img")
	keep := uint32(img.Dirs["keep"])
	inos := []uint32{uint32(small.Inode), uint32(sparse.Inode)}

	f, err := os.Open(img.Path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	pristine, err := observe(f, inos, keep)
	if err != nil {
		t.Fatalf("go-ext4 on the pristine image: %v", err)
	}

	_, smallLoc, err := fs.ReadInode(uint32(small.Inode))
	if err != nil {
		t.Fatal(err)
	}
	spIn, _, err := fs.ReadInode(uint32(sparse.Inode))
	if err != nil {
		t.Fatal(err)
	}
	spMap, err := fs.BlockMap(uint32(sparse.Inode), spIn)
	if err != nil {
		t.Fatal(err)
	}
	if spMap.Depth < 1 || len(spMap.Meta) == 0 {
		t.Fatalf("%s: want an extent tree with a leaf block, got depth %d", sparse.Path, spMap.Depth)
	}
	leaf, err := fs.ReadBlock(spMap.Meta[0])
	if err != nil {
		t.Fatal(err)
	}
	tailOff := 12 + 12*int64(binary.LittleEndian.Uint16(leaf[4:])) // after eh_max entries
	keepIn, _, err := fs.ReadInode(keep)
	if err != nil {
		t.Fatal(err)
	}
	keepMap, err := fs.BlockMap(keep, keepIn)
	if err != nil {
		t.Fatal(err)
	}
	dirBlk := keepMap.DataBlocks()[0]
	gdBlk, gdOff := sb.DescLocation(0)

	cases := []struct {
		what string
		off  int64
		ino  uint32 // inode the engine reads to notice; 0: check the directory block
	}{
		{"superblock s_checksum", super.Offset + 0x3FC, uint32(small.Inode)},
		{"group descriptor 0 bg_checksum", int64(gdBlk)*bs + int64(gdOff) + 0x1E, uint32(small.Inode)},
		{"inode l_i_checksum_lo of " + small.Path, int64(smallLoc.Block)*bs + int64(smallLoc.Off) + 0x7C, uint32(small.Inode)},
		{"extent leaf et_checksum of " + sparse.Path, int64(spMap.Meta[0])*bs + tailOff, uint32(sparse.Inode)},
		{"directory leaf det_checksum of keep", int64(dirBlk)*bs + bs - 4, 0},
	}
	for _, c := range cases {
		p := img.Copy(t)
		flipByte(t, p, c.off)
		if c.ino != 0 {
			if err := engineRead(p, c.ino); !errors.Is(err, super.ErrChecksum) {
				t.Errorf("%s: ext4relink should refuse with a checksum error, got %v", c.what, err)
			}
		} else {
			blk := testfs.ReadAt(t, p, int64(dirBlk)*bs, int(bs))
			if !dirBlockVerifies(sb, keep, keepIn.Generation, testfs.ReadAt(t, img.Path, int64(dirBlk)*bs, int(bs))) ||
				dirBlockVerifies(sb, keep, keepIn.Generation, blk) {
				t.Errorf("%s: the directory checksum should verify before and fail after the flip", c.what)
			}
		}
		cf, err := os.Open(p)
		if err != nil {
			t.Fatal(err)
		}
		got, err := observe(cf, inos, keep)
		cf.Close()
		switch {
		case err != nil:
			t.Errorf("%s corrupted: go-ext4 now notices (%v); claim (a) changed", c.what, err)
		case got != pristine:
			t.Errorf("%s corrupted: go-ext4 reports something else:\n%s\nvs\n%s", c.what, got, pristine)
		default:
			t.Logf("%s corrupted: go-ext4 reads everything unchanged, ext4relink refuses", c.what)
		}
	}
}

// (b) go-ext4 ignores s_desc_size: BlockGroupDescriptorData is the 64-byte
// struct ext4_group_desc (block_group_descriptor.go) and
// NewBlockGroupDescriptorListWithReadSeeker (block_group_descriptor_list.go)
// binary.Reads them back to back. Without the 64bit feature descriptors are
// 32 bytes, so its group g is really group 2g, and groups past half the
// table are read from the bytes after it. With 64bit (s_desc_size 64) it
// happens to be right.
func testDescSize(t *testing.T) {
	check := func(name string, want32 bool) {
		img := fixtures.Get(t, name)
		fs := openEngine(t, img.Path)
		g, err := gxOpenFile(t, img.Path)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if fs.SB.Is64Bit() == want32 || (fs.SB.DescSizeBytes() == 32) != want32 {
			t.Fatalf("%s: 64bit=%v desc_size=%d", name, fs.SB.Is64Bit(), fs.SB.DescSizeBytes())
		}
		n := fs.SB.GroupCount()
		if n < 4 {
			t.Fatalf("%s: only %d groups", name, n)
		}
		ipg := fs.SB.InodesPerGroup
		wrong := 0
		for grp := range n {
			bgd, err := g.group(uint32(grp)*ipg + 1)
			if err != nil {
				t.Fatalf("%s: go-ext4 group %d: %v", name, grp, err)
			}
			ours, err := fs.GroupDesc(grp)
			if err != nil {
				t.Fatal(err)
			}
			got := bgd.InodeTableBlock()
			switch {
			case !want32 || grp == 0:
				if got != ours.InodeTable() {
					t.Errorf("%s: group %d: go-ext4 inode table %d, ours %d", name, grp, got, ours.InodeTable())
				}
			case 2*grp < n:
				other, err := fs.GroupDesc(2 * grp)
				if err != nil {
					t.Fatal(err)
				}
				if got != other.InodeTable() || got == ours.InodeTable() {
					t.Errorf("%s: group %d: go-ext4 inode table %d; want group %d's %d (the 64-byte stride), ours %d", name, grp, got, 2*grp, other.InodeTable(), ours.InodeTable())
				}
				wrong++
			default:
				if got == ours.InodeTable() {
					t.Errorf("%s: group %d: go-ext4 read the right descriptor past half the table", name, grp)
				}
				wrong++
			}
		}
		t.Logf("%s (s_desc_size %d): go-ext4 has %d of %d group descriptors wrong", name, fs.SB.DescSizeBytes(), wrong, n)
		if !want32 {
			return
		}
		// The consequence: any inode outside group 0 is read from another
		// group's inode table. The "data" directory lives in group 1.
		data := uint32(img.Dirs["data"])
		if grp, _ := fs.SB.GroupOfInode(data); grp == 0 {
			t.Fatalf("%s: data directory %d is in group 0", name, data)
		}
		ours, _, err := fs.ReadInode(data)
		if err != nil || !ours.IsDir() {
			t.Fatalf("engine: data directory %d: %v", data, err)
		}
		if _, err := g.inode(data); errText(err) != msgNoExtents {
			t.Errorf("%s: go-ext4 reading directory %d: got %v, want %q (it reads a zeroed slot of group 2's table)", name, data, err, msgNoExtents)
		}
	}
	check("ext4-32bit", true)
	check("ext4-htree-1k", false)
}

// (c) What go-ext4 refuses or mishandles outright.
func testUnsupported(t *testing.T) {
	// Whole filesystems, refused by NewSuperblockWithReader's feature checks.
	for name, want := range map[string]string{
		"ext4-inline":     msgInlineData,
		"ext4-metabg":     msgMetaBg,
		"ext3":            msgNoFlexBg,
		"ext3-1k-journal": msgNoFlexBg,
	} {
		img := fixtures.Get(t, name)
		if _, err := gxOpenFile(t, img.Path); errText(err) != want {
			t.Errorf("%s: go-ext4 opened with %v, want %q", name, err, want)
		}
	}

	// ext3 files (indirect blocks): even with flex_bg and extents forced on
	// in memory, NewInodeWithReadSeeker (inode.go) refuses every inode
	// without EXT4_EXTENTS_FL, while the engine maps them.
	{
		img := fixtures.Get(t, "ext3")
		p := testfs.Replayed(t, img)
		fs := openEngine(t, p)
		f, err := os.Open(p)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		st, _ := f.Stat()
		incompat := make([]byte, 4)
		binary.LittleEndian.PutUint32(incompat, fs.SB.FeatureIncompat|super.IncompatFlexBG|super.IncompatExtents)
		patch := map[int64]byte{}
		for i, b := range incompat {
			patch[super.Offset+0x60+int64(i)] = b
		}
		g, err := gxOpen(&overlay{f: f, size: st.Size(), patch: patch})
		if err != nil {
			t.Fatalf("go-ext4 on ext3 with flex_bg,extents patched in: %v", err)
		}
		refused := 0
		for _, o := range img.Orphans {
			if o.Kind != "file" {
				continue
			}
			in, _, err := fs.ReadInode(uint32(o.Inode))
			if err != nil {
				t.Fatal(err)
			}
			m, err := fs.BlockMap(uint32(o.Inode), in)
			if err != nil || m.Format != inode.FormatIndirect {
				t.Fatalf("engine: %s: %v (format %v)", o.Path, err, m)
			}
			if _, err := g.inode(uint32(o.Inode)); errText(err) != msgNoExtents {
				t.Errorf("ext3 %s: go-ext4 got %v, want %q", o.Path, err, msgNoExtents)
				continue
			}
			refused++
		}
		t.Logf("ext3: go-ext4 refuses %d indirect-mapped orphan files the engine maps", refused)
	}

	img := fixtures.Get(t, "ext4-4k-freeze")
	fs := openEngine(t, img.Path)
	g, err := gxOpenFile(t, img.Path)
	if err != nil {
		t.Fatal(err)
	}

	// Fast symlinks have no extent tree: refused, though any ext4 has them.
	link, _ := img.Orphan("data/link")
	ours, _, err := fs.ReadInode(uint32(link.Inode))
	if err != nil {
		t.Fatal(err)
	}
	target, err := inode.Symlink(ours, fs.InodeFS(), uint32(link.Inode), fs.ReadBlock)
	if err != nil || sum(target) != link.SHA256 {
		t.Fatalf("engine: symlink %s: %q %v", link.Path, target, err)
	}
	if _, err := g.inode(uint32(link.Inode)); errText(err) != msgNoExtents {
		t.Errorf("fast symlink %s: go-ext4 got %v, want %q", link.Path, err, msgNoExtents)
	}

	// Sparse files: wrong bytes for interior holes, a nil dereference at a
	// trailing hole (extent.go ExtentNavigator.parseHeader).
	sp, _ := img.Orphan("data/sparse.img")
	spIn, _, err := fs.ReadInode(uint32(sp.Inode))
	if err != nil {
		t.Fatal(err)
	}
	m, err := fs.BlockMap(uint32(sp.Inode), spIn)
	if err != nil {
		t.Fatal(err)
	}
	h := findHoles(m, spIn.Size(), fs.BlockSize())
	if !h.trailing || len(h.interior) == 0 {
		t.Fatalf("%s: want interior and trailing holes, got %+v", sp.Path, h)
	}
	gin, err := g.inode(uint32(sp.Inode))
	if err != nil {
		t.Fatal(err)
	}
	_, rerr := g.content(gin, 1<<40)
	checkHoleyRead(t, g, fs, gin, m, h, rerr, sp)
	l := h.interior[0]
	r, _ := runAfter(m, l)
	hole, _ := g.readAt(gin, uint64(l)*uint64(fs.BlockSize()))
	t.Logf("%s: hole block %d (reads as zeros) comes back from go-ext4 as physical block %d, %d non-zero bytes; the full read fails with %q",
		sp.Path, l, r.Physical-uint64(r.Logical-l), len(hole)-bytes.Count(hole, []byte{0}), errText(rerr))

	// htree directories: NewInodeWithReadSeeker refuses EXT4_INDEX_FL, so
	// a walk from the root stops at the first one.
	{
		img := fixtures.Get(t, "ext4-htree-1k")
		fs := openEngine(t, img.Path)
		g, err := gxOpenFile(t, img.Path)
		if err != nil {
			t.Fatal(err)
		}
		big := uint32(img.Dirs["big"])
		in, _, err := fs.ReadInode(big)
		if err != nil || !in.HasFlag(inode.IndexFl) {
			t.Fatalf("engine: big directory %d should be an htree: %v", big, err)
		}
		if _, err := g.inode(big); errText(err) != msgHtree {
			t.Errorf("htree directory: go-ext4 got %v, want %q", err, msgHtree)
		}
		if _, err := g.walk(engine.RootIno); errText(err) != msgHtree {
			t.Errorf("walk from / of ext4-htree-1k: go-ext4 got %v, want %q", err, msgHtree)
		}
	}

	// DirectoryWalk reads every inode with the root's group descriptor
	// (directory_walk.go openInode uses dw.blockGroupDescriptor), so a walk
	// from / fails at the first subdirectory outside group 0, although
	// NewInodeWithReadSeeker reads that inode fine with its own descriptor.
	{
		img := fixtures.Get(t, "ext4-fulldir-1k")
		fs := openEngine(t, img.Path)
		g, err := gxOpenFile(t, img.Path)
		if err != nil {
			t.Fatal(err)
		}
		data := uint32(img.Dirs["data"])
		if grp, _ := fs.SB.GroupOfInode(data); grp == 0 {
			t.Fatalf("data directory %d is in group 0", data)
		}
		if in, err := g.inode(data); err != nil || in.Data().IMode&0xF000 != 0x4000 {
			t.Fatalf("go-ext4 reading directory %d directly: %v", data, err)
		}
		if _, err := g.walk(engine.RootIno); errText(err) != msgNoExtents {
			t.Errorf("walk from / of ext4-fulldir-1k: go-ext4 got %v, want %q (it reads inode 1's slot)", err, msgNoExtents)
		}
	}

	// 128-byte inodes: InodeData (inode.go) is 160 bytes and is read
	// whatever s_inode_size is, so its "i_extra_isize" is the next inode's
	// i_mode.
	{
		img := fixtures.Get(t, "ext4-128inode")
		fs := openEngine(t, img.Path)
		g, err := gxOpenFile(t, testfs.Replayed(t, img))
		if err != nil {
			t.Fatal(err)
		}
		o := img.Orphans[0]
		ino := uint32(o.Inode)
		next, _, err := fs.ReadInode(ino + 1)
		if err != nil {
			t.Fatal(err)
		}
		in, err := g.inode(ino)
		if err != nil {
			t.Fatal(err)
		}
		if fs.SB.InodeSizeBytes() != 128 || in.Data().IExtraIsize != next.Mode || next.Mode == 0 {
			t.Errorf("ext4-128inode: go-ext4 i_extra_isize of %d is %#x; want the next inode's i_mode %#o", ino, in.Data().IExtraIsize, next.Mode)
		}
	}
}

// (d) Bad data. go-ext4's exported constructors and readers recover their
// own log.Panic calls into errors, so most corruption comes back as an error
// -- or is silently accepted. Panics do escape from methods without that
// recover: DirectoryEntry.String/TypeName (directory.go) log.Panicf on any
// file type above 7, and every metadata_csum directory block ends with the
// checksum tail (file type 0xDE), which DirectoryBrowser.Next returns as an
// ordinary entry. And a runtime fatal error (here: a slice sized from a
// corrupt s_blocks_count_hi) kills the process whatever recover() does.
func testBadData(t *testing.T) {
	img := fixtures.Get(t, "ext4-4k-freeze")
	fs := openEngine(t, img.Path)
	keep := uint32(img.Dirs["keep"])

	// The escaping panic on a pristine image.
	g, err := gxOpenFile(t, img.Path)
	if err != nil {
		t.Fatal(err)
	}
	ents, err := g.walk(keep)
	if err != nil {
		t.Fatal(err)
	}
	tails := 0
	for _, e := range ents {
		if e.Inode == 0 && e.Type == 0xDE {
			tails++
		}
	}
	if tails == 0 {
		t.Errorf("go-ext4 no longer returns the checksum tail as a directory entry")
	}
	strPanics := 0
	err = guard(func() error {
		bgd, err := g.bgdl.GetWithAbsoluteInode(int(keep))
		if err != nil {
			return err
		}
		dw, err := ext4.NewDirectoryWalk(g.rs, bgd, int(keep))
		if err != nil {
			return err
		}
		for {
			_, de, err := dw.Next()
			if err == io.EOF {
				return nil
			}
			if err != nil {
				return err
			}
			_ = de.String() // as go-ext4's README example does for every entry
		}
	})
	if isPanic(err) && strings.Contains(errText(err), "invalid type (222)") {
		strPanics++
	} else {
		t.Errorf("go-ext4 README walk with de.String() on a metadata_csum directory: got %v, want an escaping panic", err)
	}

	// Byte flips.
	small, _ := img.Orphan("data/small.bin")
	_, loc, err := fs.ReadInode(uint32(small.Inode))
	if err != nil {
		t.Fatal(err)
	}
	keepIn, _, err := fs.ReadInode(keep)
	if err != nil {
		t.Fatal(err)
	}
	km, err := fs.BlockMap(keep, keepIn)
	if err != nil {
		t.Fatal(err)
	}
	bs := int64(fs.BlockSize())
	dirBlk := int64(km.DataBlocks()[0])
	isz := int(fs.SB.InodeSizeBytes())
	ifs := fs.InodeFS()
	regions := []struct {
		name   string
		off    int64
		len    int
		caught func(b []byte) bool // ext4relink's (and the kernel's) verdict on the mutated bytes
		// exempt marks mutations no checksum can catch: those that clear
		// metadata_csum itself (the kernel's ext4_superblock_csum_verify
		// also returns "valid" when the feature is off).
		exempt func(b []byte) bool
	}{
		{"superblock", super.Offset, super.Size, func(b []byte) bool {
			sb, err := super.Decode(b)
			return err != nil || sb.Validate() != nil
		}, func(b []byte) bool {
			sb, err := super.Decode(b)
			return err == nil && !sb.HasMetadataCsum()
		}},
		{"inode " + strconv.Itoa(int(small.Inode)) + " (" + small.Path + ")", int64(loc.Block)*bs + int64(loc.Off), isz, func(b []byte) bool {
			in, err := inode.Decode(b)
			return err != nil || in.Validate(ifs, uint32(small.Inode)) != nil
		}, nil},
		{"directory block of keep", dirBlk * bs, int(bs), func(b []byte) bool {
			return !dirBlockVerifies(fs.SB, keep, keepIn.Generation, b)
		}, nil},
	}
	total := map[string]int{}
	for _, r := range regions {
		orig := testfs.ReadAt(t, img.Path, r.off, r.len)
		if r.caught(orig) {
			t.Fatalf("%s: the pristine bytes do not verify", r.name)
		}
		caught, exempt := 0, 0
		for i := range orig {
			b := slices.Clone(orig)
			b[i] ^= 0xFF
			switch {
			case r.caught(b):
				caught++
			case r.exempt != nil && r.exempt(b):
				exempt++
				t.Logf("  %s byte %#x clears metadata_csum: no checksum applies (in the kernel neither)", r.name, i)
			}
		}
		res := runFuzz(t, fuzzSpec{Image: img.Path, Off: r.off, Len: r.len,
			Inodes: []uint32{uint32(small.Inode)}, Dir: keep})
		n := tally(res)
		for k, v := range n {
			total[k] += v
		}
		t.Logf("%s: %d single-byte flips, %d refused by ext4relink; go-ext4: %d errors, %d escaped panics, %d fatal crashes, %d hangs, %d accepted silently (%d unchanged, %d with different results)",
			r.name, r.len, caught, n[outError], n[outPanic], n[outFatal], n[outHang], n[outSame]+n[outDifferent], n[outSame], n[outDifferent])
		for i, x := range res {
			if x.out == outPanic || x.out == outFatal || x.out == outHang {
				t.Logf("  %s byte %#x: %s: %s", r.name, i, x.out, x.detail)
			}
		}
		if caught+exempt != r.len || exempt > 1 {
			t.Errorf("%s: ext4relink refuses only %d of %d flips (%d exempt)", r.name, caught, r.len, exempt)
		}
		if n[outSame]+n[outDifferent] == 0 {
			t.Errorf("%s: go-ext4 accepted none of the flips; claim (d) changed", r.name)
		}
		if n[outPanic] != 0 {
			// Every call observe makes is an exported go-ext4 function that
			// recovers its own panics; an escape means go-ext4 changed.
			t.Errorf("%s: %d panics escaped go-ext4's exported readers", r.name, n[outPanic])
		}
	}
	t.Logf("all regions: %d errors, %d escaped panics (+%d from de.String() on a pristine image), %d fatal, %d hangs, %d silently accepted (%d with different results)",
		total[outError], total[outPanic], strPanics, total[outFatal], total[outHang], total[outSame]+total[outDifferent], total[outDifferent])
}

// (e) go-ext4 cannot replay a journal: NewSuperblockWithReader ignores
// needs_recovery ("SbFeatureIncompatRecover: Ignoring because it presumably
// doesn't matter when not writing", superblock.go), and its jbd2 package
// only parses the journal superblock (refusing the revoke, 64bit,
// async_commit, csum v2 and v3 features) and iterates blocks: there is no
// recovery code. On an image whose unlinks exist only in the journal it
// therefore reports the stale home locations.
func testNoJournal(t *testing.T) {
	stale := 0
	for _, name := range fixtures.Names() {
		img := fixtures.Get(t, name)
		sb := testfs.Superblock(t, img.Path)
		if !sb.HasCompat(super.CompatHasJournal) {
			continue
		}
		fs := openEngine(t, img.Path)

		// The journal superblock, as jbd2.NewJournalSuperblock sees it.
		jin, _, err := fs.ReadInode(sb.JournalInum)
		if err != nil {
			t.Fatal(err)
		}
		jm, err := fs.BlockMap(sb.JournalInum, jin)
		if err != nil {
			t.Fatal(err)
		}
		phys, _, ok := jm.Map(0)
		if !ok {
			t.Fatalf("%s: journal block 0 unmapped", name)
		}
		jsb := testfs.ReadAt(t, img.Path, int64(phys)*int64(fs.BlockSize()), 1024)
		incompat := binary.BigEndian.Uint32(jsb[0x28:])
		want := ""
		switch {
		case incompat&jbd2.JsbFeatureIncompatRevoke != 0:
			want = "revoke feature not supported"
		case incompat&jbd2.JsbFeatureIncompat64bit != 0:
			want = "64-bit feature not supported"
		case incompat&jbd2.JsbFeatureIncompatAsyncCommit != 0:
			want = "async-commit feature not supported"
		case incompat&jbd2.JsbFeatureIncompatCsumV2 != 0:
			want = "csum V2 feature not supported"
		case incompat&jbd2.JsbFeatureIncompatCsumV3 != 0:
			want = "csum V3 feature not supported"
		}
		err = guard(func() error {
			_, err := jbd2.NewJournalSuperblock(bytes.NewReader(jsb))
			return err
		})
		if errText(err) != want {
			t.Errorf("%s: jbd2.NewJournalSuperblock (incompat %#x): got %v, want %q", name, incompat, err, want)
		}

		if !sb.HasIncompat(super.IncompatRecover) || gxRefusal(sb) != "" {
			continue
		}
		// needs_recovery is set and go-ext4 opens the image anyway.
		g, err := gxOpenFile(t, img.Path)
		if err != nil {
			t.Errorf("%s: go-ext4 refuses an image needing recovery: %v", name, err)
			continue
		}
		if !g.sb.HasIncompatibleFeature(ext4.SbFeatureIncompatRecover) {
			t.Fatalf("%s: go-ext4 does not see needs_recovery", name)
		}
		if g.sb.Data().SLastOrphan != fs.DiskSB.LastOrphan {
			t.Errorf("%s: go-ext4 s_last_orphan %d, on disk %d", name, g.sb.Data().SLastOrphan, fs.DiskSB.LastOrphan)
		}
		if img.Capture != fixtures.CaptureJournal {
			continue
		}
		// The unlinks are only in the journal: go-ext4 sees linked files
		// and no orphan chain; the engine (replaying) and go-ext4 on a
		// debugfs-replayed copy see the orphans.
		// The kernel may checkpoint before the copy is taken (a small
		// journal fills up): then the home blocks already hold the unlink
		// and there is nothing stale to see on this capture.
		if !sb.HasCompat(super.CompatOrphanFile) && g.sb.Data().SLastOrphan != 0 {
			continue
		}
		if !sb.HasCompat(super.CompatOrphanFile) && fs.SB.LastOrphan == 0 {
			t.Errorf("%s: the engine sees no orphan chain after replay", name)
		}
		r, err := gxOpenFile(t, testfs.Replayed(t, img))
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range img.Orphans {
			ours, _, err := fs.ReadInode(uint32(o.Inode))
			if err != nil || !ours.HasExtents() {
				continue // fast symlinks: go-ext4 cannot read them at all
			}
			old, err := g.inode(uint32(o.Inode))
			if err != nil {
				t.Errorf("%s: go-ext4 inode %d: %v", name, o.Inode, err)
				continue
			}
			rep, err := r.inode(uint32(o.Inode))
			if err != nil {
				t.Errorf("%s: go-ext4 replayed inode %d: %v", name, o.Inode, err)
				continue
			}
			if old.Data().ILinksCount == 0 && ours.LinksCount == 0 && rep.Data().ILinksCount == 0 {
				continue // already checkpointed home before the copy
			}
			if old.Data().ILinksCount == 0 || ours.LinksCount != 0 || rep.Data().ILinksCount != 0 {
				t.Errorf("%s: %s links: go-ext4 on the image %d, engine %d, go-ext4 after debugfs replay %d; want >0, 0, 0",
					name, o.Path, old.Data().ILinksCount, ours.LinksCount, rep.Data().ILinksCount)
				continue
			}
			stale++
		}
	}
	if stale == 0 {
		t.Error("no stale orphan observed")
	}
	t.Logf("go-ext4 saw %d deleted-while-open files as still linked on journal-only captures", stale)
}
