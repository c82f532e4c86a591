package dirent

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ext4relink/ext4relink/internal/loopmnt"

	"github.com/ext4relink/ext4relink/fixtures"
	"github.com/ext4relink/ext4relink/internal/testfs"
	"github.com/ext4relink/ext4relink/super"
)

const relinkContent = "relinked by dirent tests\n"

// kernelReads mounts the image read-only and reads the file back through
// the kernel.
func kernelReads(t testing.TB, img, file string) {
	t.Helper()
	m := loopmnt.Must(t, img, "ro,noload")
	defer m.Unmount()
	mnt := m.Dir
	got, err := os.ReadFile(filepath.Join(mnt, file))
	if err != nil {
		t.Fatalf("the kernel cannot read %s: %v", file, err)
	}
	if string(got) != relinkContent {
		t.Fatalf("the kernel reads %q from %s", got, file)
	}
}

// TestAddEntryLinear relinks an inode without a name into a linear
// directory block with room, on filesystems with and without metadata_csum,
// and checks e2fsck, debugfs and the kernel.
func TestAddEntryLinear(t *testing.T) {
	for _, c := range []struct{ scenario, dir string }{
		{"ext4-4k-freeze", "keep"}, {"ext4-fulldir-1k", "data"}, {"ext3", "keep/sub"}, {"ext4-csumseed", "keep"},
	} {
		t.Run(c.scenario, func(t *testing.T) {
			img, path := cleanCopy(t, c.scenario)
			ino := orphanless(t, path, "victim")
			d := openDir(t, path, uint32(img.Dirs[c.dir]))
			n := NewEntry{Name: []byte("relinked-linear"), Inode: ino, FileType: FtRegFile}
			for l := range d.phys {
				out, err := AddEntry(d.block(t, uint32(l)), n, d.p)
				if errors.Is(err, ErrNoSpace) {
					continue
				}
				if err != nil {
					t.Fatal(err)
				}
				d.write(t, uint32(l), out)
				break
			}
			testfs.E2fsckClean(t, path)
			if got := lsNames(t, path, c.dir)["relinked-linear"]; got != ino {
				t.Fatalf("debugfs ls: relinked-linear -> %d, want %d", got, ino)
			}
			kernelReads(t, path, c.dir+"/relinked-linear")
		})
	}
}

// TestAddEntryFullBlock: the exactly full directories refuse with
// ErrNoSpace, and a duplicate name with ErrExist.
func TestAddEntryFullBlock(t *testing.T) {
	for _, sc := range []string{"ext4-fulldir", "ext4-fulldir-1k"} {
		img, path := readOnlyImage(t, sc)
		d := openDir(t, path, uint32(img.Dirs["full"]))
		b := d.block(t, 0)
		n := NewEntry{Name: []byte("x"), Inode: 11, FileType: FtRegFile}
		if _, err := AddEntry(b, n, d.p); !errors.Is(err, ErrNoSpace) {
			t.Errorf("%s: full block: %v, want ErrNoSpace", sc, err)
		}
		k, _ := DecodeBlock(b, d.p)
		n.Name = k.Entries[2].Name
		if _, err := AddEntry(b, n, d.p); !errors.Is(err, ErrExist) {
			t.Errorf("%s: duplicate: %v, want ErrExist", sc, err)
		}
	}
}

// TestNewDirBlock: the block validates, AddEntry fills it, and the kernel's
// shape (one unused record, then the tail) is there.
func TestNewDirBlock(t *testing.T) {
	for _, csum := range []bool{false, true} {
		for _, bs := range []int{1024, 4096, 65536} {
			p := Params{BlockSize: bs, InodesCount: 1000, Csum: csum, FileType: true, Seed: 0x1234}
			b, err := NewDirBlock(p)
			if err != nil {
				t.Fatal(err)
			}
			if err := ValidateLeaf(b, p); err != nil {
				t.Fatalf("bs %d csum %v: %v", bs, csum, err)
			}
			k, _ := DecodeBlock(b, p)
			if len(k.Entries) != 1 || k.Entries[0].Used() || k.Entries[0].Size(bs) != bs-p.csumSize() {
				t.Fatalf("bs %d csum %v: %+v", bs, csum, k.Entries)
			}
			out, err := AddEntry(b, NewEntry{Name: []byte("n"), Inode: 12, FileType: FtRegFile}, p)
			if err != nil {
				t.Fatal(err)
			}
			if _, found, _ := Lookup(out[:bs-p.csumSize()], []byte("n"), p); !found {
				t.Fatal("entry not found in the new block")
			}
		}
	}
}

// linker adds many names for one inode through HtreeAdd on an overlay of
// the directory, handing out the logical blocks that debugfs expand_dir will
// create afterwards (it appends at i_size, as the kernel does).
type linker struct {
	t       *testing.T
	d       *dirImage
	overlay map[uint32][]byte
	next    uint32
	ino     uint32
	names   [][]byte
	grown   map[int]int // blocks needed -> how many insertions needed that many
}

func newLinker(t *testing.T, d *dirImage, ino uint32) *linker {
	return &linker{t: t, d: d, overlay: map[uint32][]byte{}, next: uint32(len(d.phys)), ino: ino, grown: map[int]int{}}
}

func (k *linker) read(l uint32) ([]byte, error) {
	if b, ok := k.overlay[l]; ok {
		return b, nil
	}
	return k.d.reader(k.t)(l)
}

func (k *linker) add(name []byte) *HtreeInsert {
	k.t.Helper()
	n := NewEntry{Name: name, Inode: k.ino, FileType: FtRegFile}
	need, err := HtreeBlocksNeeded(k.d.p, n, k.read)
	if err != nil {
		k.t.Fatalf("%q: %v", name, err)
	}
	var fresh []uint32
	for i := range need {
		fresh = append(fresh, k.next+uint32(i))
	}
	res, err := HtreeAdd(k.d.p, n, k.read, fresh)
	if err != nil {
		k.t.Fatalf("%q: %v", name, err)
	}
	news := 0
	for _, c := range res.Changes {
		k.overlay[c.Lblk] = c.Data
		if c.New {
			news++
		}
	}
	if news != need {
		k.t.Fatalf("%q: %d new blocks used, %d announced", name, news, need)
	}
	k.next += uint32(need)
	k.names = append(k.names, name)
	k.grown[need]++
	return res
}

// commit grows the directory with expand_dir, writes the overlay and sets
// the inode's link count to the number of names added.
func (k *linker) commit(img, dir string) {
	k.t.Helper()
	if grow := int(k.next) - len(k.d.phys); grow > 0 {
		cmds := strings.Repeat("expand_dir "+dir+"\n", grow)
		f := filepath.Join(k.t.TempDir(), "cmds")
		os.WriteFile(f, []byte(cmds), 0o644)
		if out, err := exec.Command("debugfs", "-w", "-f", f, img).CombinedOutput(); err != nil {
			k.t.Fatalf("expand_dir: %v\n%s", err, out)
		}
	}
	d := openDir(k.t, img, k.d.ino)
	if len(d.phys) != int(k.next) {
		k.t.Fatalf("directory has %d blocks after expand_dir, expected %d", len(d.phys), k.next)
	}
	for l, b := range k.overlay {
		d.write(k.t, l, b)
	}
	testfs.Debugfs(k.t, img, fmt.Sprintf("sif <%d> links_count %d", k.ino, len(k.names)), true)
	k.d = d
}

// check runs e2fsck and finds every added name with debugfs and FindIndexed.
func (k *linker) check(img, dir string) {
	k.t.Helper()
	testfs.E2fsckClean(k.t, img)
	ls := lsNames(k.t, img, dir)
	for _, n := range k.names {
		if ls[string(n)] != k.ino {
			k.t.Fatalf("debugfs ls: %q -> %d, want %d", n, ls[string(n)], k.ino)
		}
		if _, e, found, err := FindIndexed(k.d.p, n, k.d.reader(k.t)); err != nil || !found || e.Inode != k.ino {
			k.t.Fatalf("FindIndexed(%q) after commit: %v %v", n, found, err)
		}
	}
}

// namesInLeaf generates names whose hash falls in the range of one leaf.
func namesInLeaf(t *testing.T, d *dirImage, read ReadFunc, leaf uint32, count int) [][]byte {
	var out [][]byte
	for i := 0; len(out) < count && i < 10_000_000; i++ {
		n := []byte(fmt.Sprintf("relink-%07d", i))
		path, err := ProbeName(d.p, n, read)
		if err != nil {
			t.Fatal(err)
		}
		if path.Leaf == leaf {
			out = append(out, n)
		}
	}
	return out
}

// TestHtreeAddWithRoom adds one name to a leaf of the real two-level htree
// that has room: one block changes, no new block.
func TestHtreeAddWithRoom(t *testing.T) {
	img, path := cleanCopy(t, "ext4-htree-1k")
	ino := orphanless(t, path, "victim")
	d := openDir(t, path, uint32(img.Dirs["big"]))
	k := newLinker(t, d, ino)
	// Which leaf a name hashes to depends on the filesystem's random hash
	// seed, and the kernel packs some leaves full: take the first candidate
	// whose leaf has room.
	name := ""
	for i := 0; name == "" && i < 1000; i++ {
		cand := fmt.Sprintf("relinked-into-htree-%d", i)
		need, err := HtreeBlocksNeeded(d.p, NewEntry{Name: []byte(cand), Inode: ino, FileType: FtRegFile}, k.read)
		if err != nil {
			t.Fatal(err)
		}
		if need == 0 {
			name = cand
		}
	}
	if name == "" {
		t.Fatal("no leaf of the htree has room for a name")
	}
	res := k.add([]byte(name))
	if len(res.Changes) != 1 || res.Changes[0].New || res.Changes[0].Lblk != res.Leaf {
		t.Fatalf("expected exactly the leaf to change: %+v", res.Changes)
	}
	k.commit(path, "big")
	k.check(path, "big")
	kernelReads(t, path, "big/"+name)
}

// TestHtreeLeafSplit fills one leaf of the real htree with names hashing
// into its range until it splits, writes everything back and checks.
func TestHtreeLeafSplit(t *testing.T) {
	img, path := cleanCopy(t, "ext4-htree-1k")
	ino := orphanless(t, path, "victim")
	d := openDir(t, path, uint32(img.Dirs["big"]))
	k := newLinker(t, d, ino)
	p0, err := Probe(d.p, 0x80000000, k.read)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range namesInLeaf(t, d, k.read, p0.Leaf, 60) {
		k.add(n)
		if k.grown[1] > 0 {
			break
		}
	}
	if k.grown[1] != 1 {
		t.Fatalf("the leaf never split: %v", k.grown)
	}
	k.commit(path, "big")
	k.check(path, "big")
	kernelReads(t, path, "big/"+string(k.names[len(k.names)-1]))
}

// fsKind is a filesystem flavour for the htree tests: mkfs -O features,
// the default hash algorithm and the char signedness of the hashes.
type fsKind struct {
	opts, hash string
	unsigned   bool
}

func (k fsKind) String() string { return fmt.Sprintf("%s,%s,unsigned=%v", k.opts, k.hash, k.unsigned) }

var fsKinds = []fsKind{
	{"metadata_csum", "half_md4", false},
	{"^metadata_csum", "tea", true},
	{"metadata_csum,^64bit", "legacy", true},
	{"metadata_csum,large_dir", "tea", false},
	{"^metadata_csum", "legacy", false},
	{"metadata_csum", "half_md4", true},
}

// mkHtree makes a fresh 1 KiB-block filesystem of the given kind in a temp
// dir with a directory "d" of n names, indexed by e2fsck -D.
func mkHtree(t *testing.T, n int, kind fsKind) string {
	t.Helper()
	img := filepath.Join(t.TempDir(), "fs.img")
	args := []string{"-F", "-q", "-t", "ext4", "-b", "1024", "-N", "16384", "-O", kind.opts, img, "64M"}
	if out, err := exec.Command("mkfs.ext4", args...).CombinedOutput(); err != nil {
		t.Fatalf("mkfs: %v\n%s", err, out)
	}
	if out, err := exec.Command("tune2fs", "-E", "hash_alg="+kind.hash, img).CombinedOutput(); err != nil {
		t.Fatalf("tune2fs: %v\n%s", err, out)
	}
	if kind.unsigned {
		testfs.Debugfs(t, img, fmt.Sprintf("ssv flags %d", FlagsUnsignedHash), true)
	}
	src := filepath.Join(t.TempDir(), "empty")
	os.WriteFile(src, nil, 0o644)
	var cmds strings.Builder
	cmds.WriteString("mkdir d\ncd d\n")
	for i := range n {
		fmt.Fprintf(&cmds, "write %s seed-%05d\n", src, i)
	}
	f := filepath.Join(t.TempDir(), "cmds")
	os.WriteFile(f, []byte(cmds.String()), 0o644)
	if out, err := exec.Command("debugfs", "-w", "-f", f, img).CombinedOutput(); err != nil {
		t.Fatalf("debugfs: %v\n%s", err, out)
	}
	exec.Command("e2fsck", "-fyD", img).Run()
	testfs.E2fsckClean(t, img)
	d := openDir(t, img, uint32(testfs.StatField(t, testfs.Debugfs(t, img, "stat /d"), "Inode")))
	want := map[string]uint8{"legacy": HashLegacy, "half_md4": HashHalfMD4, "tea": HashTea}[kind.hash]
	if v := d.block(t, 0)[28]; !isIndexed(t, img, d.ino) || v != want || d.p.UnsignedHash != kind.unsigned {
		t.Fatalf("%v: indexed %v, root hash version %d, unsigned %v", kind, isIndexed(t, img, d.ino), v, d.p.UnsignedHash)
	}
	return img
}

// TestHtreeGrowsLevel builds a one-level htree, adds names until the root
// is full and the tree grows a second level, then until the new node
// splits, and checks the result with e2fsck, debugfs and the kernel.
func TestHtreeGrowsLevel(t *testing.T) {
	for _, kind := range fsKinds[:3] {
		t.Run(kind.String(), func(t *testing.T) {
			img := mkHtree(t, 400, kind)
			ino := orphanless(t, img, "victim")
			dino := testfs.StatField(t, testfs.Debugfs(t, img, "stat /d"), "Inode")
			d := openDir(t, img, uint32(dino))
			if !isIndexed(t, img, d.ino) {
				t.Fatal("e2fsck -D did not index the directory")
			}
			k := newLinker(t, d, ino)
			for i := 0; k.grown[2] == 0 || levelsOf(t, k) < 1 || nodeSplits(t, k) == 0; i++ {
				if i > 20000 {
					t.Fatalf("no level growth after %d names: %v", i, k.grown)
				}
				k.add([]byte(fmt.Sprintf("grow-%06d", i)))
			}
			t.Logf("%d names added, blocks needed per insertion: %v", len(k.names), k.grown)
			k.commit(img, "d")
			k.check(img, "d")
			kernelReads(t, img, "d/"+string(k.names[len(k.names)-1]))
		})
	}
}

func levelsOf(t *testing.T, k *linker) int {
	b, _ := k.read(0)
	return int(b[30])
}

// nodeSplits counts dx_entries of the root beyond the first once the tree
// has two levels: each is a node split.
func nodeSplits(t *testing.T, k *linker) int {
	b, _ := k.read(0)
	if b[30] == 0 {
		return 0
	}
	return dxCount(b, DxRootCountOff) - 1
}

// fullTwoLevelTree is an in-memory htree whose root, single node and
// single leaf are all full (every root entry leads to node 1, every node
// entry to leaf 2).
func fullTwoLevelTree(p Params) (root, node, leaf []byte) {
	root = make([]byte, 1024)
	putHeader(root, 2, 12, 1, FtDir)
	root[8] = '.'
	putHeader(root[12:], 2, uint16(1024-12), 2, FtDir)
	copy(root[20:], "..")
	root[28], root[29], root[30] = HashHalfMD4, DxRootInfoSize, 1
	node = make([]byte, 1024)
	setRecLen(node, 1024, 1024)
	rl, nl := RootLimit(p), NodeLimit(p)
	putCountLimit(root, DxRootCountOff, rl, rl)
	putCountLimit(node, DxNodeCountOff, nl, nl)
	for i := range rl {
		if i > 0 {
			binary.LittleEndian.PutUint32(root[DxRootCountOff+8*i:], uint32(i)<<20)
		}
		binary.LittleEndian.PutUint32(root[DxRootCountOff+8*i+4:], 1)
	}
	for i := range nl {
		if i > 0 {
			binary.LittleEndian.PutUint32(node[DxNodeCountOff+8*i:], uint32(rl-1)<<20+uint32(i)<<10)
		}
		binary.LittleEndian.PutUint32(node[DxNodeCountOff+8*i+4:], 2)
	}
	leaf = make([]byte, 1024)
	for off := 0; off < 1024; off += 16 {
		putHeader(leaf[off:], 11, 16, 8, FtRegFile)
		copy(leaf[off+8:], fmt.Sprintf("f%07d", off))
	}
	return root, node, leaf
}

// TestHtreeFullTreeRefused: without large_dir a full two-level tree cannot
// take another leaf; the refusal says why.
func TestHtreeFullTreeRefused(t *testing.T) {
	p := Params{BlockSize: 1024, InodesCount: 100, FileType: true}
	root, node, leaf := fullTwoLevelTree(p)
	read := func(l uint32) ([]byte, error) { return [][]byte{root, node, leaf}[min(l, 2)], nil }
	n := NewEntry{Name: []byte("newname"), Inode: 12, FileType: FtRegFile}
	path, err := ProbeName(p, n.Name, read)
	if err != nil || path.Frames[1].Lblk != 1 {
		t.Fatalf("probe: %v", err)
	}
	_, err = HtreeBlocksNeeded(p, n, read)
	if !errors.Is(err, super.ErrUnsupported) || !strings.Contains(err.Error(), "index is full") || !strings.Contains(err.Error(), "large_dir") {
		t.Fatalf("full tree: %v", err)
	}
}

// TestHtreeThirdLevel: with large_dir the same full tree grows a third
// level: a new node under the root, a split of the old node, a leaf split.
func TestHtreeThirdLevel(t *testing.T) {
	p := Params{BlockSize: 1024, InodesCount: 100, FileType: true, Largedir: true}
	root, node, leaf := fullTwoLevelTree(p)
	read := func(l uint32) ([]byte, error) {
		if l > 2 {
			return nil, fmt.Errorf("no block %d", l)
		}
		return [][]byte{root, node, leaf}[l], nil
	}
	n := NewEntry{Name: []byte("newname"), Inode: 12, FileType: FtRegFile}
	need, err := HtreeBlocksNeeded(p, n, read)
	if err != nil || need != 3 {
		t.Fatalf("need %d, %v; want 3", need, err)
	}
	if _, err := HtreeAdd(p, n, read, []uint32{3, 4}); err == nil {
		t.Fatal("HtreeAdd with too few new blocks succeeded")
	}
	res, err := HtreeAdd(p, n, read, []uint32{3, 4, 5})
	if err != nil {
		t.Fatal(err)
	}
	got := map[uint32][]byte{}
	for _, c := range res.Changes {
		got[c.Lblk] = c.Data
	}
	if got[0] == nil || got[0][30] != 2 || dxCount(got[0], DxRootCountOff) != 1 || dxBlock(got[0], DxRootCountOff, 0) != 3 {
		t.Fatal("the root did not become a single entry over a new level")
	}
	if dxCount(got[3], DxNodeCountOff) != RootLimit(p)+1 {
		t.Fatalf("the new level node holds %d entries", dxCount(got[3], DxNodeCountOff))
	}
	if res.Leaf != 2 && res.Leaf != 5 {
		t.Fatalf("entry put in block %d", res.Leaf)
	}
	for _, c := range res.Changes {
		if c.New != (c.Lblk >= 3) {
			t.Fatalf("block %d New=%v", c.Lblk, c.New)
		}
	}
}

// TestInlineAdd adds a name into the i_block region of the inline directory
// "tiny" and into the system.data region of "tinyfull", writes the raw
// inode back (debugfs recomputes the inode checksum, the inode package's
// job) and checks e2fsck, debugfs and the kernel.
func TestInlineAdd(t *testing.T) {
	for _, c := range []struct {
		dir, name string
		region    int
	}{{"tiny", "in-iblk", RegionIBlock}, {"tinyfull", "goes-to-xattr", RegionXattr}} {
		t.Run(c.dir, func(t *testing.T) {
			img, path := cleanCopy(t, "ext4-inline")
			victim := orphanless(t, path, "victim")
			sb := testfs.Superblock(t, path)
			dino := uint32(img.Dirs[c.dir])
			blk, off := testfs.Imap(t, path, uint64(dino))
			itab := testfs.Block(t, path, sb, blk)
			raw := itab[off : off+int(sb.InodeSizeBytes())]
			xo, xn := systemData(t, raw)
			p := paramsFor(t, path, sb, dino)
			n := NewEntry{Name: []byte(c.name), Inode: victim, FileType: FtRegFile}
			ib, xa, err := InlineAdd(raw[0x28:0x28+InlineIBlockSize], raw[xo:xo+xn], n, p)
			if err != nil {
				t.Fatal(err)
			}
			if _, region, found, _ := InlineLookup(ib, xa, n.Name, p); !found || region != c.region {
				t.Fatalf("added to region %d, expected %d", region, c.region)
			}
			copy(raw[0x28:], ib)
			copy(raw[xo:], xa)
			f, _ := os.OpenFile(path, os.O_RDWR, 0)
			f.WriteAt(itab, int64(blk)*int64(sb.BlockSize()))
			f.Close()
			// -n: debugfs must read the inode whose checksum is now stale.
			if out, err := exec.Command("debugfs", "-w", "-n", "-R", fmt.Sprintf("sif <%d> checksum calc", dino), path).CombinedOutput(); err != nil {
				t.Fatalf("debugfs sif checksum calc: %v\n%s", err, out)
			}
			testfs.E2fsckClean(t, path)
			if got := lsNames(t, path, c.dir)[c.name]; got != victim {
				t.Fatalf("debugfs ls: %s -> %d, want %d", c.name, got, victim)
			}
			kernelReads(t, path, c.dir+"/"+c.name)
		})
	}
}

// TestInlineFullAndConvert: a name too long for both regions is ErrNoSpace;
// the conversion to a block keeps every name and then takes the new one.
func TestInlineFullAndConvert(t *testing.T) {
	img, path := readOnlyImage(t, "ext4-inline")
	sb := testfs.Superblock(t, path)
	for _, dir := range []string{"tiny", "tinyfull"} {
		dino := uint32(img.Dirs[dir])
		raw := testfs.InodeBytes(t, path, sb, uint64(dino))
		xo, xn := systemData(t, raw)
		ib, xa := raw[0x28:0x28+InlineIBlockSize], raw[xo:xo+xn]
		p := paramsFor(t, path, sb, dino)
		n := NewEntry{Name: bytes.Repeat([]byte("L"), 60), Inode: 11, FileType: FtRegFile}
		if _, _, err := InlineAdd(ib, xa, n, p); !errors.Is(err, ErrNoSpace) {
			t.Fatalf("%s: %v, want ErrNoSpace", dir, err)
		}
		blk, err := ConvertInline(ib, xa, dino, p)
		if err != nil {
			t.Fatal(err)
		}
		k, _ := DecodeBlock(blk, p)
		want := lsNames(t, path, dir)
		if len(k.Entries) != len(want) && len(k.Entries) != len(want)+1 {
			t.Fatalf("%s: %d records for %d names", dir, len(k.Entries), len(want))
		}
		for _, e := range k.Entries {
			if e.Used() && want[string(e.Name)] != e.Inode {
				t.Fatalf("%s: %q -> %d, debugfs %d", dir, e.Name, e.Inode, want[string(e.Name)])
			}
		}
		if _, err := AddEntry(blk, n, p); err != nil {
			t.Fatalf("%s: adding to the converted block: %v", dir, err)
		}
	}
}

// TestHtreeMatchesKernel is a differential test: the same names are linked
// by the running kernel into one copy of a filesystem and by HtreeAdd into
// another; every directory block must hold the same records at the same
// offsets (stale bytes in free space aside) and the same index entries.
func TestHtreeMatchesKernel(t *testing.T) {
	for _, kind := range fsKinds {
		t.Run(kind.String(), func(t *testing.T) {
			ours := mkHtree(t, 300, kind)
			src := filepath.Join(t.TempDir(), "content")
			os.WriteFile(src, []byte(relinkContent), 0o644)
			testfs.Debugfs(t, ours, "write "+src+" victim", true)
			ino := uint32(testfs.StatField(t, testfs.Debugfs(t, ours, "stat /victim"), "Inode"))
			theirs := filepath.Join(t.TempDir(), "kernel.img")
			if err := fixtures.CopySparse(ours, theirs); err != nil {
				t.Fatal(err)
			}
			dino := uint32(testfs.StatField(t, testfs.Debugfs(t, ours, "stat /d"), "Inode"))
			k := newLinker(t, openDir(t, ours, dino), ino)
			var names []string
			for i := 0; k.grown[2] == 0 || nodeSplits(t, k) < 2; i++ {
				if i > 20000 {
					t.Fatal("the tree did not grow")
				}
				n := fmt.Sprintf("kernel-vs-dirent-%06d", i*7919%1000003)
				k.add([]byte(n))
				names = append(names, n)
			}
			k.commit(ours, "d")
			testfs.Debugfs(t, ours, fmt.Sprintf("sif <%d> links_count %d", ino, len(names)+1), true)
			testfs.E2fsckClean(t, ours)
			kernelLinks(t, theirs, names)
			testfs.E2fsckClean(t, theirs)
			compareDirs(t, openDir(t, ours, dino), openDir(t, theirs, dino))
			t.Logf("%d names, %v blocks needed per insertion; identical to the kernel", len(names), k.grown)
		})
	}
}

// kernelLinks mounts the image and hard-links /victim as d/NAME for each name.
func kernelLinks(t *testing.T, img string, names []string) {
	t.Helper()
	m := loopmnt.Must(t, img, "rw")
	for _, n := range names {
		if err := os.Link(filepath.Join(m.Dir, "victim"), filepath.Join(m.Dir, "d", n)); err != nil {
			t.Fatal(err)
		}
	}
	if err := m.Unmount(); err != nil {
		t.Fatal(err)
	}
}

// compareDirs compares two directories block by block.
func compareDirs(t *testing.T, a, b *dirImage) {
	t.Helper()
	if len(a.phys) != len(b.phys) {
		t.Fatalf("%d blocks here, %d made by the kernel", len(a.phys), len(b.phys))
	}
	kinds := dirKind(t, b, true)
	for l := range a.phys {
		x, y := a.block(t, uint32(l)), b.block(t, uint32(l))
		switch kinds[uint32(l)] {
		case "root", "node":
			off, _ := dxCountOffset(y, len(y))
			n := off + DxEntrySize*dxCount(y, off)
			if !bytes.Equal(x[:n], y[:n]) {
				t.Fatalf("index block %d differs from the kernel's", l)
			}
		default:
			ex, err1 := Entries(x[:len(x)-a.p.csumSize()], a.p)
			ey, err2 := Entries(y[:len(y)-b.p.csumSize()], b.p)
			if err1 != nil || err2 != nil {
				t.Fatalf("leaf %d: %v / %v", l, err1, err2)
			}
			if len(ex) != len(ey) {
				t.Fatalf("leaf %d: %d records, the kernel's has %d", l, len(ex), len(ey))
			}
			for i := range ex {
				p, q := ex[i], ey[i]
				if p.Off != q.Off || p.RecLen != q.RecLen || p.Inode != q.Inode || p.FileType != q.FileType ||
					(p.Inode != 0 && !bytes.Equal(p.Name, q.Name)) {
					t.Fatalf("leaf %d record %d: ours %+v, kernel %+v", l, i, p, q)
				}
			}
		}
	}
}
