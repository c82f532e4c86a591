package testfs

import (
	"testing"

	"github.com/ext4relink/ext4relink/fixtures"
)

func TestImapAndSuperblock(t *testing.T) {
	img := fixtures.Get(t, "ext4-4k-freeze")
	sb := Superblock(t, img.Path)
	if err := sb.Validate(); err != nil {
		t.Fatal(err)
	}
	raw := InodeBytes(t, img.Path, sb, 2)
	if len(raw) != int(sb.InodeSizeBytes()) {
		t.Fatalf("inode bytes %d", len(raw))
	}
	if StatField(t, Stat(t, img.Path, 2), "Links") < 3 {
		t.Fatal("root directory has fewer than 3 links")
	}
}

func TestDataBlocksSkipsIndirect(t *testing.T) {
	img := fixtures.Get(t, "ext3")
	p := Replayed(t, img)
	o, _ := img.Orphan("data/dind.bin")
	all, data := Blocks(t, p, o.Inode), DataBlocks(t, p, o.Inode)
	want := (o.Size + 4095) / 4096
	if int64(len(data)) != want || len(all) <= len(data) {
		t.Fatalf("data %d blocks (want %d), blocks %d", len(data), want, len(all))
	}
}
