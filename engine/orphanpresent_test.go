package engine

import (
	"testing"

	"github.com/ext4relink/ext4relink/fixtures"
	"github.com/ext4relink/ext4relink/internal/testfs"
	"github.com/ext4relink/ext4relink/super"
)

// TestOrphanPresentWithEmptyOrphanFile: the kernel keeps orphan_present
// set while an orphan_file filesystem is mounted, so a crash image carries
// it even when no orphan was ever listed in the file (the stress campaign
// captured such images after the files were closed). Any run clears it
// when the file is empty, or e2fsck -fn reports "orphan_present is set but
// orphan file is clean".
func TestOrphanPresentWithEmptyOrphanFile(t *testing.T) {
	img := fixtures.Get(t, "ext4-orphanfile")
	p := img.Copy(t)
	if _, err := relinkImage(t, p, Request{All: true}); err != nil {
		t.Fatal(err)
	}
	testfs.E2fsckClean(t, p)
	testfs.Debugfs(t, p, "feature orphan_present", true)
	if !testfs.Superblock(t, p).HasRoCompat(super.RoCompatOrphanPresent) {
		t.Fatal("debugfs did not set orphan_present")
	}
	plan, err := relinkImage(t, p, Request{All: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(plan.Relinks) != 0 {
		t.Fatalf("relinked %+v on an image without orphans", plan.Relinks)
	}
	if testfs.Superblock(t, p).HasRoCompat(super.RoCompatOrphanPresent) {
		t.Fatal("orphan_present is still set")
	}
	testfs.E2fsckClean(t, p)
}
