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

func relinkedAt(t *testing.T, p *Plan, ino uint32) Relinked {
	t.Helper()
	for _, r := range p.Relinks {
		if r.Inode == ino {
			return r
		}
	}
	t.Fatalf("inode %d was not relinked (%+v)", ino, p.Relinks)
	return Relinked{}
}

// TestOriginalRmTree: rm -rf of a tree around an open file: --all
// --original brings back every removed ancestor at its own path (parents
// first) and the file at its full original path; e2fsck -fn is clean and
// the kernel reads the file back.
func TestOriginalRmTree(t *testing.T) {
	img := fixtures.Get(t, "ext4-rmtree")
	p := img.Copy(t)
	plan, err := relinkImage(t, p, Request{All: true, Original: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range img.Orphans {
		r := relinkedAt(t, plan, uint32(m.Inode))
		if r.Path != "/"+m.Path || r.OriginalPath != "/"+m.Path || r.Why != "" {
			t.Errorf("inode %d: relinked at %q (original %q, why %q), want /%s", m.Inode, r.Path, r.OriginalPath, r.Why, m.Path)
		}
	}
	if len(plan.Created) != 0 {
		t.Errorf("created %+v, want none", plan.Created)
	}
	testfs.E2fsckClean(t, p)
	o := orphanAt(img, "tree/a/b/held.bin")
	checkContents(t, p, map[string]string{"tree/a/b/held.bin": o.SHA256})
}

// deadParent is ext4-deadparent with its removed directory /gone treated
// as released for good (the kernel pins it while a.bin is open; after a
// crash it may be gone): a.bin's original directory no longer exists.
func deadParent(t *testing.T) (*fixtures.Image, map[uint32]bool, uint32) {
	img := fixtures.Get(t, "ext4-deadparent")
	gone := orphanAt(img, "gone")
	if gone.Inode == 0 {
		t.Fatalf("ext4-deadparent: /gone is not an orphan in this capture: %+v", img.Orphans)
	}
	return img, map[uint32]bool{uint32(gone.Inode): true}, uint32(orphanAt(img, "gone/a.bin").Inode)
}

// TestOriginalParents: an orphan whose original directory no longer
// exists: refused without --parents (naming it), and with --parents the
// directory is created in the same transaction; e2fsck reports only the
// orphan left alone and the kernel reads the file at its original path.
func TestOriginalParents(t *testing.T) {
	img, gone, ino := deadParent(t)
	p := img.Copy(t)
	before := testfs.FileSHA256(t, p)
	_, err := relinkImage(t, p, Request{Inode: ino, Original: true, gone: gone})
	if !errors.Is(err, ErrRequest) || !strings.Contains(err.Error(), "--parents") || !strings.Contains(err.Error(), "/gone does not exist") {
		t.Fatalf("without --parents: %v", err)
	}
	if testfs.FileSHA256(t, p) != before {
		t.Fatal("the refused relink wrote to the image")
	}
	plan, err := relinkImage(t, p, Request{Inode: ino, Original: true, Parents: true, gone: gone})
	if err != nil {
		t.Fatal(err)
	}
	if len(plan.Created) != 1 || plan.Created[0].Path != "/gone" || gone[plan.Created[0].Inode] {
		t.Fatalf("created %+v, want a new /gone", plan.Created)
	}
	if r := relinkedAt(t, plan, ino); r.Path != "/gone/a.bin" {
		t.Fatalf("relinked at %s", r.Path)
	}
	want := map[string]string{"gone/a.bin": orphanAt(img, "gone/a.bin").SHA256}
	fsckOnlyOrphans(t, p, img, want)
	checkContents(t, p, want)
}

// TestParentsName: --name into a tree that does not exist, with --parents:
// three directories created (mkdir -p) and the file linked in the last.
func TestParentsName(t *testing.T) {
	img := fixtures.Get(t, "ext4-4k-journal")
	o := orphanAt(img, "data/big.vmdk")
	p := img.Copy(t)
	plan, err := relinkImage(t, p, Request{Inode: uint32(o.Inode), Name: "/new/deep/dir/big.vmdk", Parents: true})
	if err != nil {
		t.Fatal(err)
	}
	var paths []string
	for _, c := range plan.Created {
		paths = append(paths, c.Path)
	}
	if strings.Join(paths, " ") != "/new /new/deep /new/deep/dir" {
		t.Fatalf("created %v", paths)
	}
	want := map[string]string{"new/deep/dir/big.vmdk": o.SHA256}
	fsckOnlyOrphans(t, p, img, want)
	checkContents(t, p, want)
}

// TestParentsRefusedWithoutJournal: creating directories cannot be ordered
// without a journal: refused, naming the reason, nothing written.
func TestParentsRefusedWithoutJournal(t *testing.T) {
	for _, c := range []struct {
		fixture string
		req     func(img *fixtures.Image) Request
	}{
		{"ext4-4k-journal", func(img *fixtures.Image) Request {
			return Request{Inode: uint32(orphanAt(img, "data/big.vmdk").Inode), Name: "/new/deep/big.vmdk", Parents: true}
		}},
		{"ext4-rmtree", func(img *fixtures.Image) Request { return Request{All: true, Original: true} }},
		{"ext4-4k-journal", func(img *fixtures.Image) Request {
			return Request{All: true, Into: "/new/rescued", Parents: true}
		}},
	} {
		t.Run(c.fixture, func(t *testing.T) {
			img := noJournal(t, fixtures.Get(t, c.fixture))
			p := img.Copy(t)
			before := testfs.FileSHA256(t, p)
			_, err := relinkImage(t, p, c.req(img))
			if !errors.Is(err, super.ErrUnsupported) || !strings.Contains(err.Error(), "journal") {
				t.Fatalf("got %v, want a refusal naming the journal", err)
			}
			if testfs.FileSHA256(t, p) != before {
				t.Fatal("the refused relink wrote to the image")
			}
		})
	}
}

// TestOriginalFallbacks: --all --original sends an orphan whose original
// path is taken, or unknown (an O_TMPFILE file never had a name), to
// /lost+found as #INO and says why; the others go to their original paths.
func TestOriginalFallbacks(t *testing.T) {
	t.Run("taken", func(t *testing.T) {
		img, gone, ino := deadParent(t)
		p := img.Copy(t)
		// b.bin takes a.bin's path first, in the same plan (a separate
		// relink would write the journal over the older directory copies
		// that name a.bin).
		b := uint32(orphanAt(img, "heldgone/b.bin").Inode)
		prepare := func(p *Plan, l *OrphanList) error {
			if err := p.parentsFor(true, "/gone/a.bin", ""); err != nil {
				return err
			}
			return p.relinkOne(l, b, "/gone/a.bin")
		}
		gone[b] = true
		plan, err := relinkImage(t, p, Request{All: true, Original: true, gone: gone, prepare: prepare})
		if err != nil {
			t.Fatal(err)
		}
		r := relinkedAt(t, plan, ino)
		if r.Path != fmt.Sprintf("/lost+found/#%d", ino) || r.OriginalPath != "/gone/a.bin" || !strings.Contains(r.Why, fmt.Sprintf("taken (by inode %d)", b)) {
			t.Fatalf("a.bin: %+v", r)
		}
		want := map[string]string{fmt.Sprintf("lost+found/#%d", ino): orphanAt(img, "gone/a.bin").SHA256, "gone/a.bin": orphanAt(img, "heldgone/b.bin").SHA256}
		fsckOnlyOrphans(t, p, img, want)
		checkContents(t, p, want)
	})
	t.Run("unknown", func(t *testing.T) {
		img := fixtures.Get(t, "ext4-many")
		p := img.Copy(t)
		plan, err := relinkImage(t, p, Request{All: true, Original: true})
		if err != nil {
			t.Fatal(err)
		}
		want := map[string]string{}
		for _, m := range img.Orphans {
			r := relinkedAt(t, plan, uint32(m.Inode))
			switch {
			case strings.Contains(m.Path, "O_TMPFILE"):
				if r.Path != fmt.Sprintf("/lost+found/#%d", m.Inode) || !strings.Contains(r.Why, "original path is not known") {
					t.Errorf("O_TMPFILE inode %d: %+v", m.Inode, r)
				}
			case r.Path != "/"+m.Path || r.Why != "":
				t.Errorf("inode %d: at %s (%s), want /%s", m.Inode, r.Path, r.Why, m.Path)
			}
			want[strings.TrimPrefix(r.Path, "/")] = m.SHA256
		}
		testfs.E2fsckClean(t, p)
		checkContents(t, p, want)
	})
}

// TestParentsEveryKind: --all --into a tree that does not exist, with
// --parents, on every kind of filesystem the fixtures make: indirect maps
// (ext3), 1 KiB blocks, bigalloc clusters, meta_bg, 128-byte inodes (no
// i_extra_isize), uninit_bg, no group checksums, metadata_csum_seed,
// inline data, and new directories inserted into an htree (one and two
// index levels) or into a full linear directory that must grow. Every
// orphan is relinked, so e2fsck -fn must be fully clean (counts of used
// directories, free inodes and blocks, link counts included), and the
// kernel reads the files back.
func TestParentsEveryKind(t *testing.T) {
	for _, c := range []struct{ fixture, dir string }{
		{"ext4-htree", "/big/new/sub"},
		{"ext4-htree-1k", "/big/new/sub"},
		{"ext4-fulldir", "/full/new"},
		{"ext4-fulldir-1k", "/full/new/sub"},
		{"ext3", "/full/new/sub"},
		{"ext3-1k-journal", "/new/sub"},
		{"ext4-bigalloc", "/full/new/sub"},
		{"ext4-metabg", "/full/new/sub"},
		{"ext4-inline", "/tiny/new/sub"},
		{"ext4-128inode", "/new/sub"},
		{"ext4-uninitbg", "/new/sub"},
		{"ext4-csumseed", "/new/sub"},
		{"ext4-nogroupcsum", "/new/sub"},
	} {
		t.Run(c.fixture, func(t *testing.T) {
			img := fixtures.Get(t, c.fixture)
			p := img.Copy(t)
			plan, err := relinkImage(t, p, Request{All: true, Into: c.dir, Parents: true})
			if err != nil {
				t.Fatal(err)
			}
			if n := strings.Count(c.dir, "/") - strings.Count(strings.SplitN(c.dir[1:], "/", 2)[0], "/"); len(plan.Created) == 0 || len(plan.Created) > n {
				t.Fatalf("created %+v", plan.Created)
			}
			want := map[string]string{}
			for _, m := range img.Orphans {
				if m.Kind == "file" {
					want[fmt.Sprintf("%s/#%d", c.dir[1:], m.Inode)] = m.SHA256
				}
			}
			testfs.E2fsckClean(t, p)
			checkContents(t, p, want)
		})
	}
}

// TestOriginalRerun: --inode N --original brings back the file and its
// pinned parents; running it again finds the file linked at that path and
// does nothing.
func TestOriginalRerun(t *testing.T) {
	img := fixtures.Get(t, "ext4-rmtree")
	p := img.Copy(t)
	o := orphanAt(img, "tree/a/b/held.bin")
	req := Request{Inode: uint32(o.Inode), Original: true}
	plan, err := relinkImage(t, p, req)
	if err != nil {
		t.Fatal(err)
	}
	if len(plan.Relinks) != 4 {
		t.Fatalf("relinked %+v, want the file and its three parents", plan.Relinks)
	}
	testfs.E2fsckClean(t, p)
	before := testfs.FileSHA256(t, p)
	plan, err = relinkImage(t, p, req)
	if err != nil {
		t.Fatal(err)
	}
	if len(plan.Relinks) != 1 || !plan.Relinks[0].AlreadyDone || plan.Relinks[0].Path != "/tree/a/b/held.bin" {
		t.Fatalf("re-run: %+v", plan.Relinks)
	}
	if testfs.FileSHA256(t, p) != before {
		t.Fatal("the re-run wrote to the image")
	}
	checkContents(t, p, map[string]string{"tree/a/b/held.bin": o.SHA256})
}
