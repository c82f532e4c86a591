package engine

import (
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"testing"

	"github.com/ext4relink/ext4relink/fixtures"
	"github.com/ext4relink/ext4relink/internal/testfs"
	"github.com/ext4relink/ext4relink/super"
)

// cutOrphan is a past-eof orphan made from a fixture orphan by cutting its
// i_size back with debugfs (on a replayed copy), as an extending write in
// flight leaves it: written blocks mapped past a non-zero size.
type cutOrphan struct {
	path string // the image
	ino  uint32
	size uint64 // the new, smaller i_size
	want string // sha256 of the first size bytes
	full []byte // the whole original content
}

func cutFixtureOrphan(t *testing.T, name, orphan string, size uint64) cutOrphan {
	t.Helper()
	img := fixtures.Get(t, name)
	o, ok := img.Orphan(orphan)
	if !ok {
		t.Fatalf("%s: no orphan %s", name, orphan)
	}
	p := testfs.Replayed(t, img)
	full := testfs.Cat(t, p, o.Inode)
	if testfs.SHA256(full) != o.SHA256 {
		t.Fatalf("%s: debugfs reads %s with the wrong content", name, orphan)
	}
	testfs.Debugfs(t, p, fmt.Sprintf("sif <%d> size %d", o.Inode, size), true)
	return cutOrphan{path: p, ino: uint32(o.Inode), size: size, want: testfs.SHA256(full[:size]), full: full}
}

func listed(t *testing.T, img string, ino uint32) Orphan {
	t.Helper()
	fsOp, err := OpenFS(img, Options{Mode: ReadOnly})
	if err != nil {
		t.Fatal(err)
	}
	fs, dev := fsOp.FS, fsOp.Dev
	defer dev.Close()
	l, err := fs.Orphans()
	if err != nil {
		t.Fatal(err)
	}
	o, ok := findOrphan(l, ino)
	if !ok {
		t.Fatalf("inode %d is not listed", ino)
	}
	return o
}

// TestPastEOFTrimShapes: a past-eof orphan is listed as such and relinked
// with the blocks past its size freed, on every block-map shape: a depth-0
// extent tree, a depth-2 tree (leaves and an index block left empty, or
// the whole tree pulled up into the inode when what is left fits), ext3
// indirect blocks (double indirect blocks left empty), bigalloc (the
// cluster of the last block inside i_size stays allocated). e2fsck -fn is
// clean and the kernel reads the first i_size bytes back.
func TestPastEOFTrimShapes(t *testing.T) {
	for _, c := range []struct {
		fixture, orphan string
		size            uint64
	}{
		{"ext4-4k-freeze", "data/big.vmdk", 1<<20 + 5},
		{"ext4-xattr-deep", "data/fragmented.bin", 3<<20 + 4096*7 + 100},
		{"ext4-xattr-deep", "data/fragmented.bin", 100}, // the depth-2 tree collapses into the inode
		{"ext3", "data/dind.bin", 20000},
		{"ext4-bigalloc", "data/big.vmdk", 1<<20 + 4096 + 1},
	} {
		t.Run(fmt.Sprintf("%s/%d", c.fixture, c.size), func(t *testing.T) {
			co := cutFixtureOrphan(t, c.fixture, c.orphan, c.size)
			o := listed(t, co.path, co.ino)
			if o.State != StatePastEOF || o.PastEOFBlocks == 0 {
				t.Fatalf("state %q, %d blocks past EOF; want past-eof", o.State, o.PastEOFBlocks)
			}
			plan, err := relinkImage(t, co.path, Request{All: true})
			if err != nil {
				t.Fatal(err)
			}
			var pe *PastEOF
			for _, r := range plan.Relinks {
				if r.Inode == co.ino {
					pe = r.PastEOF
				} else if r.PastEOF != nil {
					t.Errorf("inode %d: unexpected past_eof %+v", r.Inode, r.PastEOF)
				}
			}
			if pe == nil || pe.Action != "trimmed" || pe.NewSize != c.size || pe.Blocks != o.PastEOFBlocks {
				t.Fatalf("past_eof %+v, want trimmed %d blocks", pe, o.PastEOFBlocks)
			}
			t.Logf("%s", pe.Sentence(false))
			testfs.E2fsckSilent(t, co.path)
			checkContents(t, co.path, map[string]string{fmt.Sprintf("lost+found/#%d", co.ino): co.want})
		})
	}
}

// TestPastEOFKeep: --keep-past-eof raises i_size to the end of the last
// written block instead; the kernel reads the whole original content
// (which ran to the end of those blocks' data) plus nothing else.
func TestPastEOFKeep(t *testing.T) {
	co := cutFixtureOrphan(t, "ext4-4k-freeze", "data/big.vmdk", 1<<20+5)
	plan, err := relinkImage(t, co.path, Request{Inode: co.ino, Name: "/kept", KeepPastEOF: true})
	if err != nil {
		t.Fatal(err)
	}
	pe := plan.Relinks[0].PastEOF
	end := (uint64(len(co.full)) + 4095) / 4096 * 4096
	if pe == nil || pe.Action != "kept" || pe.NewSize != end || pe.Bytes != end-co.size {
		t.Fatalf("past_eof %+v, want kept up to %d", pe, end)
	}
	fsckOnlyOrphans(t, co.path, fixtures.Get(t, "ext4-4k-freeze"), nil)
	// The original bytes, then the zeros the kernel wrote after EOF in the last block.
	content := append(append([]byte(nil), co.full...), make([]byte, end-uint64(len(co.full)))...)
	checkContents(t, co.path, map[string]string{"kept": testfs.SHA256(content)})
}

// TestPastEOFOrderedRefusesTrim: without a journal the trim cannot be
// ordered safely: refused by name (nothing written), skipped by --all;
// --keep-past-eof works (only i_size changes, with the link count).
func TestPastEOFOrderedRefusesTrim(t *testing.T) {
	co := cutFixtureOrphan(t, "ext4-4k-freeze", "data/big.vmdk", 1<<20+5)
	if out, err := exec.Command("tune2fs", "-O", "^has_journal", co.path).CombinedOutput(); err != nil {
		t.Fatalf("tune2fs: %v\n%s", err, out)
	}
	before := testfs.FileSHA256(t, co.path)
	_, err := relinkImage(t, co.path, Request{Inode: co.ino, Name: "/x"})
	if !errors.Is(err, super.ErrUnsupported) || !strings.Contains(err.Error(), "past-eof") {
		t.Fatalf("got %v, want a refusal of the trim without a journal", err)
	}
	if testfs.FileSHA256(t, co.path) != before {
		t.Fatal("the refusal wrote")
	}
	plan, err := relinkImage(t, co.path, Request{All: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range plan.Relinks {
		if r.Inode == co.ino {
			t.Fatal("--all relinked the past-eof orphan without a journal")
		}
	}
	if _, err := relinkImage(t, co.path, Request{Inode: co.ino, Name: "/x", KeepPastEOF: true}); err != nil {
		t.Fatal(err)
	}
	testfs.E2fsckSilent(t, co.path)
}
