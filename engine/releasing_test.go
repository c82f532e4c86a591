package engine

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/ext4relink/ext4relink/fixtures"
	"github.com/ext4relink/ext4relink/internal/testfs"
)

// TestReleasingOrphan: an orphan whose i_size was already cut while written
// blocks remain mapped past it (ext4_evict_inode sets i_size to 0 before
// ext4_truncate frees the blocks; a crash in between leaves this, and the
// stress campaign's captures during a close hit it) is listed as
// "releasing", refused by a single relink and skipped by --all, with the
// image unchanged by the refusal. Relinking it would leave e2fsck
// complaining "i_size is 0, should be ...".
func TestReleasingOrphan(t *testing.T) {
	img := fixtures.Get(t, "ext4-4k-freeze")
	o, ok := img.Orphan("data/big.vmdk")
	if !ok {
		t.Fatal("no data/big.vmdk orphan in the fixture")
	}
	p := img.Copy(t)
	testfs.Debugfs(t, p, fmt.Sprintf("sif <%d> size 0", o.Inode), true)

	fsOp, err := OpenFS(p, Options{Mode: ReadOnly})
	if err != nil {
		t.Fatal(err)
	}
	fs, dev := fsOp.FS, fsOp.Dev
	l, err := fs.Orphans()
	dev.Close()
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, x := range l.Orphans {
		if x.Inode == uint32(o.Inode) {
			found = true
			if x.State != StateReleasing {
				t.Fatalf("state %q, want releasing", x.State)
			}
		} else if x.State != StateDeletedOpen {
			t.Errorf("inode %d: state %q", x.Inode, x.State)
		}
	}
	if !found {
		t.Fatal("the orphan is not listed")
	}

	before := testfs.FileSHA256(t, p)
	_, err = relinkImage(t, p, Request{Inode: uint32(o.Inode), Name: "/rescued"})
	if !errors.Is(err, ErrRequest) || !strings.Contains(err.Error(), "releasing") {
		t.Fatalf("got %v, want a refusal naming the release in progress", err)
	}
	if testfs.FileSHA256(t, p) != before {
		t.Fatal("the refusal changed the image")
	}
	plan, err := relinkImage(t, p, Request{All: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range plan.Relinks {
		if r.Inode == uint32(o.Inode) {
			t.Fatal("--all relinked the releasing orphan")
		}
	}
	if len(plan.Relinks) != len(img.Orphans)-1 {
		t.Fatalf("--all relinked %d of the %d other orphans", len(plan.Relinks), len(img.Orphans)-1)
	}
}
