package extract_test

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/ext4relink/ext4relink/engine"
	"github.com/ext4relink/ext4relink/extract"
	"github.com/ext4relink/ext4relink/fixtures"
	"github.com/ext4relink/ext4relink/internal/testfs"
)

// failing wraps a real filesystem's block reader and fails every read
// that touches one of the bad blocks (an unreadable sector, as a dying
// disk gives).
type failing struct {
	extract.BlockReader
	bs  uint64
	bad map[uint64]bool
}

var errSector = errors.New("input/output error (injected)")

func (f failing) ReadBlocks(p []byte, start uint64) error {
	for b := start; b < start+uint64(len(p))/f.bs; b++ {
		if f.bad[b] {
			return errSector
		}
	}
	return f.BlockReader.ReadBlocks(p, start)
}

// TestCopyDataUnreadableBlocks: an unreadable block fails the copy, or,
// with IgnoreErrors, becomes a hole listed as missing, exactly that
// block's bytes, while every other byte is copied.
func TestCopyDataUnreadableBlocks(t *testing.T) {
	img := fixtures.Get(t, "ext4-4k-freeze")
	o, ok := img.Orphan("data/big.vmdk")
	if !ok {
		t.Fatal("no data/big.vmdk")
	}
	dev, _, err := engine.Open(img.Path, engine.Options{Mode: engine.ReadOnly})
	if err != nil {
		t.Fatal(err)
	}
	defer dev.Close()
	fs, err := engine.LoadFS(dev)
	if err != nil {
		t.Fatal(err)
	}
	ino := uint32(o.Inode)
	in, _, err := fs.ReadInode(ino)
	if err != nil {
		t.Fatal(err)
	}
	m, err := fs.BlockMap(ino, in)
	if err != nil {
		t.Fatal(err)
	}
	bs := uint64(fs.BlockSize())
	r := m.Runs[len(m.Runs)-1]
	lblk := uint64(r.Logical) + uint64(r.Len)/2 // a block in the middle of the last run
	bad := failing{BlockReader: fs, bs: bs, bad: map[uint64]bool{r.Physical + lblk - uint64(r.Logical): true}}
	dir := t.TempDir()

	good, err := os.Create(filepath.Join(dir, "good"))
	if err != nil {
		t.Fatal(err)
	}
	res, err := extract.CopyData(good, m, fs, in.Size(), extract.Options{BlockSize: uint32(bs)})
	if err != nil || res.SHA256 != o.SHA256 {
		t.Fatalf("intact copy: %v, sha256 %v", err, res)
	}

	// The read-back check notices a byte that changed on the output disk.
	if err := res.Verify(good); err != nil {
		t.Fatal(err)
	}
	orig := testfs.ReadAt(t, good.Name(), 5000, 1)
	if _, err := good.WriteAt([]byte{^orig[0]}, 5000); err != nil {
		t.Fatal(err)
	}
	if err := res.Verify(good); !errors.Is(err, extract.ErrVerify) {
		t.Fatalf("a changed byte: Verify says %v", err)
	}
	if _, err := good.WriteAt(orig, 5000); err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(filepath.Join(dir, "strict"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := extract.CopyData(f, m, bad, in.Size(), extract.Options{BlockSize: uint32(bs)}); !errors.Is(err, errSector) {
		t.Fatalf("strict copy over an unreadable block: %v", err)
	}

	f, err = os.Create(filepath.Join(dir, "partial"))
	if err != nil {
		t.Fatal(err)
	}
	// Read back during the copy, piece by piece around the hole.
	res, err = extract.CopyData(f, m, bad, in.Size(), extract.Options{BlockSize: uint32(bs), IgnoreErrors: true, ReadBack: true})
	if err != nil {
		t.Fatal(err)
	}
	want := extract.Missing{Start: lblk * bs, End: (lblk + 1) * bs}
	if len(res.Missing) != 1 || res.Missing[0].Start != want.Start || res.Missing[0].End != want.End {
		t.Fatalf("missing %+v, want bytes %d..%d", res.Missing, want.Start, want.End)
	}
	if err := res.Verify(f); err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(f.Name())
	exp, _ := os.ReadFile(good.Name())
	clear(exp[want.Start:want.End])
	if !bytes.Equal(got, exp) || res.SHA256 != testfs.SHA256(got) {
		t.Fatal("the partial copy differs from the intact one outside the unreadable block, or its sha256 is not the copy's")
	}
	if d := testfs.DataRanges(t, f.Name()); len(d) < 2 {
		t.Errorf("the unreadable block is not a hole: data %v", d)
	}
}
