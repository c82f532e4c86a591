package dirent

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/ext4relink/ext4relink/fixtures"
	"github.com/ext4relink/ext4relink/internal/testfs"
	"github.com/ext4relink/ext4relink/super"
)

// readOnlyImage returns a path to the image of scenario name with no journal
// pending: the shared freeze image as is, or a private replayed copy.
func readOnlyImage(t testing.TB, name string) (*fixtures.Image, string) {
	t.Helper()
	img := fixtures.Get(t, name)
	if img.Capture == fixtures.CaptureFreeze {
		return img, img.Path
	}
	return img, testfs.Replayed(t, img)
}

// cleanCopy returns a private copy of scenario name that e2fsck -fy has
// cleaned (journal replayed, orphans released) and e2fsck -fn passes.
func cleanCopy(t testing.TB, name string) (*fixtures.Image, string) {
	t.Helper()
	img := fixtures.Get(t, name)
	p := img.Copy(t)
	exec.Command("e2fsck", "-fy", p).Run() // exit 1/2: errors were fixed
	testfs.E2fsckClean(t, p)
	return img, p
}

// paramsFor builds the Params of directory inode ino of the image.
func paramsFor(t testing.TB, img string, sb *super.Superblock, ino uint32) Params {
	t.Helper()
	gen := testfs.StatField(t, testfs.Stat(t, img, uint64(ino)), "Generation")
	return NewParams(sb, DirSeed(sb.CsumSeed(), ino, uint32(gen)))
}

// dirImage gives access to the blocks of one directory of an image file.
type dirImage struct {
	path string
	sb   *super.Superblock
	ino  uint32
	phys []uint64 // physical block of each logical block
	p    Params
}

func openDir(t testing.TB, img string, ino uint32) *dirImage {
	t.Helper()
	sb := testfs.Superblock(t, img)
	return &dirImage{path: img, sb: sb, ino: ino, phys: testfs.Blocks(t, img, uint64(ino)), p: paramsFor(t, img, sb, ino)}
}

// block reads logical block l.
func (d *dirImage) block(t testing.TB, l uint32) []byte {
	t.Helper()
	return testfs.Block(t, d.path, d.sb, d.phys[l])
}

// reader is a ReadFunc over the image.
func (d *dirImage) reader(t testing.TB) ReadFunc {
	return func(l uint32) ([]byte, error) {
		if int(l) >= len(d.phys) {
			return nil, fmt.Errorf("logical block %d beyond the %d blocks", l, len(d.phys))
		}
		return d.block(t, l), nil
	}
}

// write stores data at logical block l of the directory.
func (d *dirImage) write(t testing.TB, l uint32, data []byte) {
	t.Helper()
	f, err := os.OpenFile(d.path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteAt(data, int64(d.phys[l])*int64(d.sb.BlockSize())); err != nil {
		t.Fatal(err)
	}
}

// orphanless makes a regular file with links 1 and no name (debugfs write,
// then unlink, which leaves i_links_count alone) and returns its inode.
func orphanless(t testing.TB, img, name string) uint32 {
	t.Helper()
	src := filepath.Join(t.TempDir(), "content")
	if err := os.WriteFile(src, []byte("relinked by dirent tests\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	testfs.Debugfs(t, img, fmt.Sprintf("write %s %s", src, name), true)
	ino := testfs.StatField(t, testfs.Debugfs(t, img, "stat /"+name), "Inode")
	testfs.Debugfs(t, img, "unlink /"+name, true)
	return uint32(ino)
}

// lsNames lists the names debugfs sees in a directory.
func lsNames(t testing.TB, img, dir string) map[string]uint32 {
	t.Helper()
	out := testfs.Debugfs(t, img, "ls -l "+dir)
	names := map[string]uint32{}
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) < 9 {
			continue
		}
		ino, err := strconv.ParseUint(f[0], 10, 32)
		if err != nil {
			continue
		}
		names[f[len(f)-1]] = uint32(ino)
	}
	return names
}

// debugfsHashes asks debugfs dx_hash for every name at once (one process).
func debugfsHashes(t testing.TB, img string, version int, seed [4]uint32, names [][]byte) [][2]uint32 {
	t.Helper()
	var cmds bytes.Buffer
	for _, n := range names {
		fmt.Fprintf(&cmds, "dx_hash -h %d -s %s %s\n", version, seedUUID(seed), n)
	}
	f := filepath.Join(t.TempDir(), "cmds")
	if err := os.WriteFile(f, cmds.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("debugfs", "-f", f, img).Output()
	if err != nil {
		t.Fatalf("debugfs -f: %v", err)
	}
	re := regexp.MustCompile(`(?m)^Hash of .* is (0x[0-9a-f]+) \(minor (0x[0-9a-f]+)\)$`)
	var res [][2]uint32
	for _, m := range re.FindAllSubmatch(out, -1) {
		h, _ := strconv.ParseUint(string(m[1]), 0, 32)
		mi, _ := strconv.ParseUint(string(m[2]), 0, 32)
		res = append(res, [2]uint32{uint32(h), uint32(mi)})
	}
	if len(res) != len(names) {
		t.Fatalf("debugfs answered %d hashes for %d names:\n%s", len(res), len(names), out)
	}
	return res
}

// seedUUID prints s_hash_seed the way e2fsprogs shows and parses it.
func seedUUID(s [4]uint32) string {
	var b []byte
	for _, w := range s {
		b = append(b, byte(w), byte(w>>8), byte(w>>16), byte(w>>24))
	}
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// csumScenarios are the fixtures with metadata_csum; plainScenarios without.
var (
	csumScenarios  = []string{"ext4-htree", "ext4-htree-1k", "ext4-fulldir", "ext4-inline", "ext4-csumseed", "ext4-4k-freeze"}
	plainScenarios = []string{"ext4-fulldir-1k", "ext4-uninitbg", "ext3"}
)

// dirInodes lists the root and the manifest's directories, sorted.
func dirInodes(img *fixtures.Image) []uint32 {
	out := []uint32{2}
	for _, ino := range img.Dirs {
		out = append(out, uint32(ino))
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// isInline reports whether debugfs stat shows the inline data flag.
func isInline(t testing.TB, img string, ino uint32) bool {
	t.Helper()
	return testfs.StatField(t, testfs.Stat(t, img, uint64(ino)), "Flags")&0x10000000 != 0
}

// isIndexed reports EXT4_INDEX_FL.
func isIndexed(t testing.TB, img string, ino uint32) bool {
	t.Helper()
	return testfs.StatField(t, testfs.Stat(t, img, uint64(ino)), "Flags")&0x1000 != 0
}

// systemData finds the system.data value inside a raw inode (in-inode
// extended attributes after i_extra_isize): its offset and length.
func systemData(t testing.TB, raw []byte) (off, n int) {
	t.Helper()
	hdr := 128 + int(binary.LittleEndian.Uint16(raw[0x80:]))
	if binary.LittleEndian.Uint32(raw[hdr:]) != 0xEA020000 {
		t.Fatal("no in-inode extended attributes")
	}
	first := hdr + 4
	for e := first; e+16 <= len(raw) && binary.LittleEndian.Uint32(raw[e:]) != 0; {
		nameLen, index := int(raw[e]), raw[e+1]
		if index == 7 && string(raw[e+16:e+16+nameLen]) == "data" {
			return first + int(binary.LittleEndian.Uint16(raw[e+2:])), int(binary.LittleEndian.Uint32(raw[e+8:]))
		}
		e += (16 + nameLen + 3) &^ 3
	}
	t.Fatal("no system.data attribute")
	return 0, 0
}
