package engine

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/ext4relink/ext4relink/fixtures"
	"github.com/ext4relink/ext4relink/internal/testfs"
	"github.com/ext4relink/ext4relink/super"
)

// noJournalSkip: fixtures from which tune2fs cannot make a consistent
// journal-less filesystem, whatever ext4relink does afterwards.
var noJournalSkip = map[string]string{
	"ext4-bigalloc":           "tune2fs -O ^has_journal miscounts the freed journal clusters (e2fsck: free blocks count wrong for group #0)",
	"ext4-orphanfile":         "e2fsck rejects orphan_file without a journal (\"Superblock has orphan file without journal\")",
	"ext4-orphanfile-journal": "e2fsck rejects orphan_file without a journal (\"Superblock has orphan file without journal\")",
}

// noJournal is testfs.NoJournal: a journal-less copy of the fixture.
func noJournal(t *testing.T, img *fixtures.Image) *fixtures.Image {
	return testfs.NoJournal(t, img)
}

func hasDirOrphans(img *fixtures.Image) bool {
	for _, o := range img.Orphans {
		if o.Kind == "dir" {
			return true
		}
	}
	return false
}

// TestOrderedEveryFixture runs the relink acceptance checks on a
// journal-less copy of every fixture: ordered commits, all orphans and
// every other one. Directory orphans are left listed (refused without a
// journal) and reaped by the kernel like any orphan not relinked.
func TestOrderedEveryFixture(t *testing.T) {
	for _, img := range fixtures.All(t) {
		if why, skip := noJournalSkip[img.Name]; skip {
			t.Logf("%s: not made journal-less: %s", img.Name, why)
			continue
		}
		t.Run(img.Name, func(t *testing.T) {
			nj := noJournal(t, img)
			t.Run("all", func(t *testing.T) { orderedAll(t, nj) })
			t.Run("every-other", func(t *testing.T) { orderedEveryOther(t, nj) })
		})
	}
}

func orderedAll(t *testing.T, img *fixtures.Image) {
	p, plan, want := relinkAllFiles(t, img)
	if !plan.Ordered {
		t.Fatal("the plan for a journal-less filesystem is not ordered")
	}
	if hasDirOrphans(img) {
		fsckOnlyOrphans(t, p, img, want)
	} else {
		testfs.E2fsckClean(t, p)
	}
	checkContents(t, p, want)
	rwSession(t, p, want)
}

// orderedEveryOther relinks every other orphan into the scenario's
// directories in turn; a directory that would have to grow is refused
// without a byte written, and the orphan goes to lost+found instead.
func orderedEveryOther(t *testing.T, img *fixtures.Image) {
	p := img.Copy(t)
	dirs := targetDirs(img)
	want := map[string]string{}
	for i, o := range relinkable(img) {
		if i%2 == 1 {
			continue
		}
		path := fmt.Sprintf("%s/rescued-%d", dirs[(i/2)%len(dirs)], o.Inode)
		before := testfs.FileSHA256(t, p)
		_, err := relinkImage(t, p, Request{Inode: uint32(o.Inode), Name: path})
		if errors.Is(err, super.ErrUnsupported) && strings.Contains(err.Error(), "needs a new directory block") {
			if testfs.FileSHA256(t, p) != before {
				t.Fatalf("refused relink into %s changed the image", path)
			}
			path = fmt.Sprintf("lost+found/rescued-%d", o.Inode)
			_, err = relinkImage(t, p, Request{Inode: uint32(o.Inode), Name: path})
		}
		if err != nil {
			t.Fatalf("relink %d as %s: %v", o.Inode, path, err)
		}
		want[path] = o.SHA256
	}
	fsckOnlyOrphans(t, p, img, want)
	checkContents(t, p, want)
	rwSession(t, p, want)
}

// TestOrderedResumeRules: on a journal-less filesystem a listed orphan with
// one link and no entry anywhere is an interrupted relink and is finished;
// one whose link is a real entry elsewhere is a truncate in progress and
// is refused, untouched.
func TestOrderedResumeRules(t *testing.T) {
	nj := noJournal(t, fixtures.Get(t, "ext4-4k-sync"))
	o := relinkable(nj)[2]
	t.Run("interrupted", func(t *testing.T) {
		p := nj.Copy(t)
		testfs.Debugfs(t, p, fmt.Sprintf("sif <%d> links_count 1", o.Inode), true)
		if _, err := relinkImage(t, p, Request{Inode: uint32(o.Inode), Name: "/rescued"}); err != nil {
			t.Fatal(err)
		}
		fsckOnlyOrphans(t, p, nj, map[string]string{"rescued": o.SHA256})
		checkContents(t, p, map[string]string{"rescued": o.SHA256})
	})
	t.Run("truncating", func(t *testing.T) {
		p := nj.Copy(t)
		testfs.Debugfs(t, p, fmt.Sprintf("sif <%d> links_count 1", o.Inode), true)
		testfs.Debugfs(t, p, fmt.Sprintf("ln <%d> /elsewhere", o.Inode), true)
		before := testfs.FileSHA256(t, p)
		_, err := relinkImage(t, p, Request{Inode: uint32(o.Inode), Name: "/rescued"})
		if !errors.Is(err, ErrRequest) || !strings.Contains(err.Error(), "truncate in progress") {
			t.Fatalf("got %v, want a truncate-in-progress refusal", err)
		}
		if testfs.FileSHA256(t, p) != before {
			t.Fatal("the refused relink changed the image")
		}
	})
	t.Run("directory orphan", func(t *testing.T) {
		dj := noJournal(t, fixtures.Get(t, "ext4-deadparent"))
		for _, o := range dj.Orphans {
			if o.Kind != "dir" {
				continue
			}
			p := dj.Copy(t)
			_, err := relinkImage(t, p, Request{Inode: uint32(o.Inode), Name: "/back"})
			if !errors.Is(err, super.ErrUnsupported) {
				t.Fatalf("directory orphan without a journal: got %v, want a refusal", err)
			}
			return
		}
		t.Fatal("ext4-deadparent has no directory orphan")
	})
}
