package ext4fs

import (
	"bytes"
	"path/filepath"
	"testing"

	"github.com/ext4relink/ext4relink/bitmap"
	"github.com/ext4relink/ext4relink/fixtures"
	"github.com/ext4relink/ext4relink/internal/devio"
	"github.com/ext4relink/ext4relink/internal/testfs"
)

func load(t *testing.T, path string, mode devio.Mode) *FS {
	t.Helper()
	dev, _, err := devio.Open(path, devio.Options{Mode: mode})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { dev.Close() })
	fs, err := Load(dev)
	if err != nil {
		t.Fatal(err)
	}
	return fs
}

// TestViewsReadLowerLayers: on a genuine crash image whose journal needs
// recovery, a block the replay overrides reads from the journal layer,
// and the view below the journal reads the device's copy, with its own
// descriptor cache; the view below the (empty) fast-commit layer reads
// what the filesystem reads.
func TestViewsReadLowerLayers(t *testing.T) {
	fs := load(t, fixtures.Get(t, "ext4-4k-journal").Path, devio.ReadOnly)
	ov := fs.JournalOverlay()
	if ov == nil || len(ov.Blocks()) == 0 {
		t.Fatal("the fixture has no journal replay")
	}
	dev := fs.Below(LayerJournal)
	if dev.Top() != LayerDevice || fs.Below(LayerFastCommit).Top() != LayerJournal {
		t.Fatalf("views: %v %v", dev.Top(), fs.Below(LayerFastCommit).Top())
	}
	differ := 0
	for _, b := range ov.Blocks() {
		want, ok, err := ov.ReadBlock(b)
		if err != nil || !ok {
			continue
		}
		got, err := fs.ReadBlock(b)
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("block %d does not read from the journal layer: %v", b, err)
		}
		disk, err := dev.ReadBlock(b)
		if err != nil {
			t.Fatal(err)
		}
		onDev, err := fs.ReadDeviceBlock(b)
		if err != nil || !bytes.Equal(disk, onDev) {
			t.Fatalf("block %d: the device view does not read the device: %v", b, err)
		}
		if !bytes.Equal(disk, want) {
			differ++
		}
		if same, err := fs.Below(LayerFastCommit).ReadBlock(b); err != nil || !bytes.Equal(same, got) {
			t.Fatalf("block %d: the view below an empty fast-commit layer differs: %v", b, err)
		}
	}
	if differ == 0 {
		t.Fatal("no replayed block differs from the device's copy: the test proves nothing")
	}
	gdFS, err := fs.GroupDesc(0)
	if err != nil {
		t.Fatal(err)
	}
	fresh := fs.Below(LayerJournal)
	if len(fresh.gds) != 0 {
		t.Fatal("the view does not start with its own descriptor cache")
	}
	gdView, err := fresh.GroupDesc(0)
	if err != nil {
		t.Fatal(err)
	}
	if gdView == gdFS || fs.gds[0] != gdFS {
		t.Fatal("the view shares the filesystem's descriptor cache")
	}
}

// TestAllocatorAvoidAndUninit: on a fresh mkfs image (BLOCK_UNINIT groups
// with group checksums), AllocBlockFor skips the blocks Avoid rejects,
// skips BLOCK_UNINIT groups unless asked, initialises one when asked (flag
// cleared, bitmap and counts consistent, checksums set); MarkBlocks then
// frees the blocks again and, written home, e2fsck -fn finds the
// filesystem clean.
func TestAllocatorAvoidAndUninit(t *testing.T) {
	img := filepath.Join(t.TempDir(), "fs.img")
	testfs.Exec(t, "mke2fs", "-q", "-F", "-t", "ext4", "-b", "1024", img, "64M")
	fs := load(t, img, devio.ReadWrite)
	tx := NewTx(fs)
	uninit := uint64(0)
	for g := range fs.SB.GroupCount() {
		gd, err := fs.GroupDesc(g)
		if err != nil {
			t.Fatal(err)
		}
		if fs.SB.BlockUninit(gd) {
			uninit = g
			break
		}
	}
	if uninit == 0 {
		t.Fatal("mke2fs made no BLOCK_UNINIT group")
	}
	goal := fs.SB.GroupFirstBlock(uninit)
	plain, err := tx.Clone().AllocBlock(goal, "a test")
	if err != nil {
		t.Fatal(err)
	}
	if g, _ := fs.SB.GroupOfBlock(plain); g == uninit {
		t.Fatalf("AllocBlock took block %d in BLOCK_UNINIT group %d", plain, uninit)
	}
	first, err := tx.Clone().AllocBlockFor(AllocRequest{Goal: goal, Why: "a test", InitUninit: true})
	if err != nil {
		t.Fatal(err)
	}
	blk, err := tx.AllocBlockFor(AllocRequest{Goal: goal, Why: "a test", InitUninit: true,
		Avoid: func(b uint64) bool { return b == first }})
	if err != nil {
		t.Fatal(err)
	}
	if g, _ := fs.SB.GroupOfBlock(blk); g != uninit || blk == first {
		t.Fatalf("took block %d (first free %d) for group %d", blk, first, uninit)
	}
	gd, err := tx.GroupDesc(uninit)
	if err != nil {
		t.Fatal(err)
	}
	grp, err := tx.BlockBitmapView(uninit)
	if err != nil || grp.BlockBitmap == nil {
		t.Fatalf("the group's bitmap was not initialised: %v", err)
	}
	if fs.SB.BlockUninit(gd) || !bitmap.VerifyBlockBitmap(tx.SB, gd, grp.BlockBitmap) || !gd.VerifyChecksum(tx.SB, uint32(uninit)) {
		t.Fatal("flag, bitmap checksum or descriptor checksum wrong after initialising")
	}
	if free := bitmap.CountZero(grp.BlockBitmap, fs.SB.BlocksInGroup(uninit)); free != uint64(gd.FreeBlocksCount()) {
		t.Fatalf("bitmap has %d free, descriptor says %d", free, gd.FreeBlocksCount())
	}
	if used, err := tx.BlockInUse(blk); err != nil || !used {
		t.Fatalf("block %d not in use: %v", blk, err)
	}
	if err := tx.MarkBlocks([]uint64{blk}, false, "test block released"); err != nil {
		t.Fatal(err)
	}
	if err := tx.Finish("test"); err != nil {
		t.Fatal(err)
	}
	changes, err := tx.Changes()
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range changes {
		if err := fs.WriteBlock(c.Block, c.New); err != nil {
			t.Fatal(err)
		}
	}
	if err := fs.Dev().Sync(); err != nil {
		t.Fatal(err)
	}
	testfs.E2fsckClean(t, img)
}
