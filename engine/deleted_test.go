package engine

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
	"testing"

	"github.com/ext4relink/ext4relink/fixtures"
	"github.com/ext4relink/ext4relink/inode"
	"github.com/ext4relink/ext4relink/internal/testfs"
)

// listDeleted opens a fixture read-only and lists its deleted files.
func listDeleted(t *testing.T, path string) (*FS, *DeletedList) {
	t.Helper()
	op, err := OpenFS(path, Options{Mode: ReadOnly})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { op.Dev.Close() })
	h, err := op.FS.DeletedHistory()
	if err != nil {
		t.Fatal(err)
	}
	l, err := op.FS.Deleted(h)
	if err != nil {
		t.Fatal(err)
	}
	return op.FS, l
}

func deletedSHA(t *testing.T, fs *FS, d *DeletedFile) string {
	t.Helper()
	hs := sha256.New()
	if err := fs.CopyDeleted(hs, d); err != nil {
		t.Fatalf("inode %d: %v", d.Inode, err)
	}
	return hex.EncodeToString(hs.Sum(nil))
}

// TestDeletedIntact: every file removed with rm (or rm -rf) on a genuine
// image is listed intact, under its original path, with its content by
// sha256, and the image is unchanged.
func TestDeletedIntact(t *testing.T) {
	for _, name := range []string{"deleted-4k", "deleted-1k-32bit", "deleted-ext3", "deleted-inline", "deleted-deep"} {
		t.Run(name, func(t *testing.T) {
			img := fixtures.Get(t, name)
			before := testfs.FileSHA256(t, img.Path)
			fs, l := listDeleted(t, img.Path)
			t.Logf("%d deleted files listed, %d in the manifest, %d transactions", len(l.Files), len(img.Deleted), l.Transactions)
			got := map[uint32]*DeletedFile{}
			for i := range l.Files {
				got[l.Files[i].Inode] = &l.Files[i]
			}
			for _, m := range img.Deleted {
				d, ok := got[uint32(m.Inode)]
				if !ok {
					t.Errorf("%s (inode %d) not listed", m.Path, m.Inode)
					continue
				}
				if d.State != DeletedIntact {
					t.Errorf("%s: state %s (%s)", m.Path, d.State, d.Reason)
					continue
				}
				if d.Path != "/"+m.Path {
					t.Errorf("inode %d: path %q (%s), want /%s", m.Inode, d.Path, d.PathReason, m.Path)
				}
				if d.Size != uint64(m.Size) {
					t.Errorf("%s: size %d, want %d", m.Path, d.Size, m.Size)
				}
				if sum := deletedSHA(t, fs, d); sum != m.SHA256 {
					t.Errorf("%s: sha256 %s, want %s", m.Path, sum, m.SHA256)
				}
				if d.Dtime.IsZero() || d.Dtime.Before(d.Mtime.Add(-2e9)) {
					t.Errorf("%s: dtime %v, mtime %v", m.Path, d.Dtime, d.Mtime)
				}
			}
			inline := 0
			for _, d := range l.Files {
				if d.Map() != nil && d.Map().Format == inode.FormatInline {
					inline++
				}
			}
			if name == "deleted-inline" && inline == 0 {
				t.Error("no inline-data file among the deleted files")
			}
			for _, d := range l.Files {
				if d.Type == TypeDir && !strings.HasPrefix(d.Path, "/tree") {
					t.Errorf("unexpected directory listed: %+v", d)
				}
			}
			if after := testfs.FileSHA256(t, img.Path); after != before {
				t.Fatal("the image changed")
			}
		})
	}
}

// TestDeletedReused: files whose blocks a later write took (the
// filesystem was filled after the rm) come out reused, never intact;
// debugfs witnesses that the fill file holds some of their blocks.
func TestDeletedReused(t *testing.T) {
	img := fixtures.Get(t, "deleted-reused")
	_, l := listDeleted(t, img.Path)
	fill := map[uint64]bool{}
	replayed := img.Copy(t)
	if out, err := exec.Command("e2fsck", "-E", "journal_only", "-p", replayed).CombinedOutput(); err != nil {
		t.Fatalf("e2fsck -E journal_only: %v\n%s", err, out)
	}
	for _, f := range strings.Fields(testfs.Debugfs(t, replayed, "blocks /fill.bin")) {
		b, err := strconv.ParseUint(f, 10, 64)
		if err != nil {
			t.Fatalf("debugfs blocks /fill.bin: %q", f)
		}
		fill[b] = true
	}
	for _, m := range img.Deleted {
		var d *DeletedFile
		for i := range l.Files {
			if l.Files[i].Inode == uint32(m.Inode) {
				d = &l.Files[i]
			}
		}
		if d == nil {
			t.Errorf("%s (inode %d) not listed", m.Path, m.Inode)
			continue
		}
		shared := 0
		for _, b := range d.Map().DataBlocks() {
			if fill[b] {
				shared++
			}
		}
		t.Logf("%s: %s, %d of %d blocks reused, %d of them in fill.bin", m.Path, d.State, d.Reused, d.Blocks, shared)
		if d.State != DeletedReused || shared == 0 || d.Reused < uint64(shared) {
			t.Errorf("%s: state %s, %d reused blocks, fill.bin holds %d of its blocks", m.Path, d.State, d.Reused, shared)
		}
	}
}

// TestDeletedWrapped: a file deleted before the journal wrapped over its
// copies is not listed as recoverable.
func TestDeletedWrapped(t *testing.T) {
	img := fixtures.Get(t, "deleted-wrapped")
	fs, l := listDeleted(t, img.Path)
	t.Logf("%d files listed, %d not recoverable, %d transactions", len(l.Files), l.Gone, l.Transactions)
	for _, m := range img.Deleted {
		// the witness: the inode is freed, not reused (the test is not vacuous)
		in, _, err := fs.ReadInode(uint32(m.Inode))
		if err != nil || in.LinksCount != 0 || in.Dtime == 0 {
			t.Fatalf("inode %d is not a freed inode: %v %+v", m.Inode, err, in)
		}
		for _, d := range l.Files {
			if d.Inode == uint32(m.Inode) && d.State != DeletedIncomplete {
				t.Errorf("%s (inode %d) listed as %s after the journal wrapped", m.Path, m.Inode, d.State)
			}
		}
	}
}

// TestDeletedReusedThenFreed: blocks another file took after the rm and
// then freed again are free in the current bitmaps (debugfs witnesses it)
// but hold that file's bytes: the files come out reused, never intact,
// from the logged bitmaps; the removed fill file itself is intact.
func TestDeletedReusedThenFreed(t *testing.T) {
	img := fixtures.Get(t, "deleted-reused-freed")
	_, l := listDeleted(t, img.Path)
	replayed := img.Copy(t)
	if out, err := exec.Command("e2fsck", "-E", "journal_only", "-p", replayed).CombinedOutput(); err != nil {
		t.Fatalf("e2fsck -E journal_only: %v\n%s", err, out)
	}
	for _, m := range img.Deleted {
		var d *DeletedFile
		for i := range l.Files {
			if l.Files[i].Inode == uint32(m.Inode) {
				d = &l.Files[i]
			}
		}
		if d == nil || d.State != DeletedReused {
			t.Fatalf("%s: %+v", m.Path, d)
		}
		first := d.Map().Runs[0].Physical
		if out := testfs.Debugfs(t, replayed, fmt.Sprintf("testb %d", first)); !strings.Contains(out, "not in use") {
			t.Fatalf("witness: block %d of %s is in use (%q): the test shows nothing", first, m.Path, out)
		}
	}
	for _, d := range l.Files {
		if d.Path == "/fill.bin" && d.State != DeletedIntact {
			t.Errorf("fill.bin: %s (%s)", d.State, d.Reason)
		}
	}
}
