package ext4fs

import (
	"testing"
	"time"

	"github.com/ext4relink/ext4relink/dirent"
	"github.com/ext4relink/ext4relink/fixtures"
	"github.com/ext4relink/ext4relink/internal/devio"
	"github.com/ext4relink/ext4relink/super"
)

// TestAllocInodeUninitGroup: on a filesystem with INODE_UNINIT groups (meta_bg, 64 small groups), an inode taken
// from a group whose inode table was never initialised (INODE_UNINIT) is
// its first one; the flag is cleared, bg_itable_unused covers the rest,
// the free and used-directory counts move by one and the descriptor
// checksum is right. Planning only: nothing is written.
func TestAllocInodeUninitGroup(t *testing.T) {
	fs := load(t, fixtures.Get(t, "ext4-metabg").Path, devio.ReadOnly)
	tx := NewTx(fs)
	var g uint64
	found := false
	for g = 1; g < fs.SB.GroupCount(); g++ {
		gd, err := tx.GroupDesc(g)
		if err != nil {
			t.Fatal(err)
		}
		if fs.SB.InodeUninit(gd) {
			found = true
			break
		}
	}
	if !found {
		t.Fatal("the fixture has no INODE_UNINIT group")
	}
	before, _ := tx.GroupDesc(g)
	freeSB := tx.SB.FreeInodesCount
	ino, err := tx.AllocInode(g, true, "test")
	if err != nil {
		t.Fatal(err)
	}
	if want := uint32(g*uint64(fs.SB.InodesPerGroup) + 1); ino != want {
		t.Fatalf("inode %d, want %d (the group's first)", ino, want)
	}
	gd, _ := tx.GroupDesc(g)
	switch {
	case gd.Flags&super.BgInodeUninit != 0:
		t.Error("INODE_UNINIT still set")
	case gd.ItableUnused() != fs.SB.InodesPerGroup-1:
		t.Errorf("itable_unused %d", gd.ItableUnused())
	case gd.FreeInodesCount() != before.FreeInodesCount()-1 || gd.UsedDirsCount() != before.UsedDirsCount()+1:
		t.Errorf("free %d -> %d, dirs %d -> %d", before.FreeInodesCount(), gd.FreeInodesCount(), before.UsedDirsCount(), gd.UsedDirsCount())
	case !gd.VerifyChecksum(tx.SB, uint32(g)):
		t.Error("descriptor checksum")
	case tx.SB.FreeInodesCount != freeSB-1:
		t.Errorf("superblock free inodes %d -> %d", freeSB, tx.SB.FreeInodesCount)
	}
	if used, err := tx.InodeInUse(ino); err != nil || !used {
		t.Fatalf("inode %d not in use: %v", ino, err)
	}
}

// TestMkdirBlock0: the directory Mkdir makes reads back through the
// transaction as the kernel's ext4_init_new_dir makes it: "." and "..",
// links 2, one block, the entry in its parent.
func TestMkdirBlock0(t *testing.T) {
	fs := load(t, fixtures.Get(t, "ext4-4k-journal").Path, devio.ReadOnly)
	tx := NewTx(fs)
	ino, _, err := tx.Mkdir(NewDir{Parent: RootIno, Name: []byte("made"), Now: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	_, _, existing, err := tx.Resolve("/made")
	if err != nil || existing != ino {
		t.Fatalf("/made resolves to %d (%v), want %d", existing, err, ino)
	}
	d, err := tx.OpenDir(ino)
	if err != nil {
		t.Fatal(err)
	}
	if d.In.LinksCount != 2 || d.In.Size() != uint64(fs.BlockSize()) || d.In.Mode != NewDirMode {
		t.Fatalf("links %d size %d mode %o", d.In.LinksCount, d.In.Size(), d.In.Mode)
	}
	phys, err := d.Phys(0)
	if err != nil {
		t.Fatal(err)
	}
	b, err := tx.Read(phys)
	if err != nil {
		t.Fatal(err)
	}
	if err := dirent.ValidateLeaf(b, d.Params); err != nil || dirent.CheckDots(b, ino) != nil || dirent.DotDot(b) != RootIno {
		t.Fatalf("block 0: %v", err)
	}
	if used, err := tx.BlockInUse(phys); err != nil || !used {
		t.Fatalf("block %d not in use", phys)
	}
}
