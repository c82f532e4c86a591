package engine

import (
	"errors"
	"os/exec"
	"testing"
	"time"

	"github.com/ext4relink/ext4relink/fixtures"
	"github.com/ext4relink/ext4relink/internal/loopmnt"
	"github.com/ext4relink/ext4relink/internal/testfs"
	"github.com/ext4relink/ext4relink/super"
)

// undeleteRun puts a deleted file back on img as the CLI does: open for
// writing, plan, commit, verify.
func undeleteRun(img string, req UndeleteRequest) (*Plan, *Undeleted, error) {
	op, err := OpenFS(img, Options{Mode: ReadWrite})
	if err != nil {
		return nil, nil, err
	}
	defer op.Dev.Close()
	p, u, err := op.FS.PlanUndelete(req, time.Now())
	if err != nil {
		return nil, nil, err
	}
	if err := op.FS.Commit(p); err != nil {
		return p, u, err
	}
	return p, u, VerifyUndelete(op.Dev, p, u)
}

func deletedAt(t *testing.T, img *fixtures.Image, path string) fixtures.OrphanInfo {
	t.Helper()
	for _, d := range img.Deleted {
		if d.Path == path {
			return d
		}
	}
	t.Fatalf("%s: no deleted file %s", img.Name, path)
	return fixtures.OrphanInfo{}
}

// TestUndelete: a file removed with rm goes back in place, under its
// original path or a new one: e2fsck -fn clean, the kernel reads it back
// by sha256, e2fsck clean again after a read-write session; a second run
// finds nothing to do.
func TestUndelete(t *testing.T) {
	for _, c := range []struct {
		fixture, file, name string // name "": --original
	}{
		{"deleted-4k", "data/big.vmdk", ""},
		{"deleted-4k", "data/sparse.img", "/keep/rescued.img"},
		{"deleted-4k", "tree/a/b/two.bin", "/keep/two.bin"},
		{"deleted-4k", "fifty/small07.dat", ""},
		{"deleted-1k-32bit", "data/big.vmdk", ""},
		{"deleted-ext3", "data/dind.bin", ""},
		{"deleted-inline", "data/tiny.txt", ""},
		{"deleted-4k", "data/longlink", ""},
		{"deleted-deep", "data/fragmented.bin", ""},
		{"deleted-deep", "data/xattr-small", "/keep/xattr-small"},
	} {
		t.Run(c.fixture+"/"+c.file, func(t *testing.T) {
			img := fixtures.Get(t, c.fixture)
			m := deletedAt(t, img, c.file)
			p := img.Copy(t)
			req := UndeleteRequest{Inode: uint32(m.Inode), Name: c.name, Original: c.name == ""}
			_, u, err := undeleteRun(p, req)
			if err != nil {
				t.Fatal(err)
			}
			want := "/" + c.file
			if c.name != "" {
				want = c.name
			}
			if u.Path != want || u.SHA256 != m.SHA256 {
				t.Fatalf("put back as %s with sha256 %s, want %s %s", u.Path, u.SHA256, want, m.SHA256)
			}
			testfs.E2fsckClean(t, p)
			files := map[string]string{want[1:]: m.SHA256}
			if m.Kind == "file" {
				checkContents(t, p, files)
				rwSession(t, p, files)
			}
			loopmnt.WaitDetached(t, p) // the mounts above
			again := UndeleteRequest{Inode: uint32(m.Inode), Name: want}
			if _, u, err := undeleteRun(p, again); err != nil || !u.AlreadyDone {
				t.Fatalf("second run: %v %+v", err, u)
			}
		})
	}
}

// TestUndeleteRefusals: nothing is written when the file is reused, a
// directory, already there, or the filesystem has no journal.
func TestUndeleteRefusals(t *testing.T) {
	reused := fixtures.Get(t, "deleted-reused")
	d4 := fixtures.Get(t, "deleted-4k")
	var dirIno uint32
	_, l := listDeleted(t, d4.Path)
	for _, f := range l.Files {
		if f.Path == "/tree/a" {
			dirIno = f.Inode
		}
	}
	for _, c := range []struct {
		name string
		img  *fixtures.Image
		req  UndeleteRequest
		want error
	}{
		{"reused", reused, UndeleteRequest{Inode: uint32(deletedAt(t, reused, "data/b.bin").Inode), Original: true}, ErrRequest},
		{"directory", d4, UndeleteRequest{Inode: dirIno, Name: "/keep/a"}, ErrRequest},
		{"name exists", d4, UndeleteRequest{Inode: uint32(deletedAt(t, d4, "data/small.bin").Inode), Name: "/keep/sub"}, ErrRequest},
		{"original parent gone", d4, UndeleteRequest{Inode: uint32(deletedAt(t, d4, "tree/top.txt").Inode), Original: true}, ErrRequest},
		{"not deleted", d4, UndeleteRequest{Inode: 12, Name: "/keep/x"}, ErrRequest},
	} {
		t.Run(c.name, func(t *testing.T) {
			p := c.img.Copy(t)
			before := testfs.FileSHA256(t, p)
			_, _, err := undeleteRun(p, c.req)
			if !errors.Is(err, c.want) {
				t.Fatalf("got %v, want %v", err, c.want)
			}
			t.Log(err)
			if testfs.FileSHA256(t, p) != before {
				t.Fatal("the image changed")
			}
		})
	}
	t.Run("no journal", func(t *testing.T) {
		p := d4.Copy(t)
		exec.Command("e2fsck", "-fy", p).Run()
		if out, err := exec.Command("tune2fs", "-O", "^has_journal", p).CombinedOutput(); err != nil {
			t.Fatalf("tune2fs: %v\n%s", err, out)
		}
		before := testfs.FileSHA256(t, p)
		_, _, err := undeleteRun(p, UndeleteRequest{Inode: uint32(deletedAt(t, d4, "data/big.vmdk").Inode), Original: true})
		if !errors.Is(err, super.ErrUnsupported) || testfs.FileSHA256(t, p) != before {
			t.Fatalf("got %v", err)
		}
	})
}
