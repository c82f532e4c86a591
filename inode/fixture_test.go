package inode

import (
	"os"
	"regexp"
	"sort"
	"strconv"
	"testing"

	"github.com/ext4relink/ext4relink/fixtures"
	"github.com/ext4relink/ext4relink/internal/testfs"
	"github.com/ext4relink/ext4relink/super"
)

// fx is one fixture image, journal replayed by debugfs, opened for reading.
type fx struct {
	img  *fixtures.Image
	path string
	sb   *super.Superblock
	fs   FS
	f    *os.File
}

func load(t testing.TB, name string) *fx {
	t.Helper()
	img := fixtures.Get(t, name)
	p := testfs.Replayed(t, img)
	sb := testfs.Superblock(t, p)
	if err := sb.Validate(); err != nil {
		t.Fatalf("%s: superblock: %v", name, err)
	}
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return &fx{img: img, path: p, sb: sb, fs: NewFS(sb), f: f}
}

// read is the ReadFunc of the image: one block at blk*blocksize.
func (x *fx) read(blk uint64) ([]byte, error) {
	b := make([]byte, x.fs.BlockSize)
	_, err := x.f.ReadAt(b, int64(blk)*int64(x.fs.BlockSize))
	return b, err
}

// inode decodes inode ino at the place debugfs names.
func (x *fx) inode(t testing.TB, ino uint64) (*Inode, []byte) {
	t.Helper()
	raw := testfs.InodeBytes(t, x.path, x.sb, ino)
	in, err := Decode(raw)
	if err != nil {
		t.Fatalf("inode %d: %v", ino, err)
	}
	return in, raw
}

// interesting lists the inodes a fixture test looks at: root, lost+found,
// the manifest's directories and every orphan.
func (x *fx) interesting() []uint64 {
	set := map[uint64]bool{2: true, 11: true}
	for _, d := range x.img.Dirs {
		set[d] = true
	}
	for _, o := range x.img.Orphans {
		set[o.Inode] = true
	}
	var out []uint64
	for ino := range set {
		out = append(out, ino)
	}
	sort.Slice(out, func(a, b int) bool { return out[a] < out[b] })
	return out
}

var metaRE = regexp.MustCompile(`\((IND|DIND|TIND|ETB\d)\):(\d+)`)

// debugfsMeta lists the index/indirect blocks `debugfs stat` prints.
func debugfsMeta(t testing.TB, img string, ino uint64) []uint64 {
	t.Helper()
	var out []uint64
	for _, m := range metaRE.FindAllStringSubmatch(testfs.Stat(t, img, ino), -1) {
		v, _ := strconv.ParseUint(m[2], 10, 64)
		out = append(out, v)
	}
	return out
}

func sortedCopy(v []uint64) []uint64 {
	out := append([]uint64(nil), v...)
	sort.Slice(out, func(a, b int) bool { return out[a] < out[b] })
	return out
}

func equalU64(a, b []uint64) bool {
	if len(a) != len(b) {
		return false
	}
	for k := range a {
		if a[k] != b[k] {
			return false
		}
	}
	return true
}

// without drops every value in drop from v.
func without(v, drop []uint64) []uint64 {
	skip := map[uint64]bool{}
	for _, d := range drop {
		skip[d] = true
	}
	var out []uint64
	for _, x := range v {
		if !skip[x] {
			out = append(out, x)
		}
	}
	return out
}

func firstDiff(a, b []uint64) int {
	for k := range min(len(a), len(b)) {
		if a[k] != b[k] {
			return k
		}
	}
	return min(len(a), len(b))
}
