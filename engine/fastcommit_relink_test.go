package engine

import (
	"crypto/sha256"
	"encoding/hex"
	"maps"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ext4relink/ext4relink/fixtures"
	"github.com/ext4relink/ext4relink/internal/testfs"
)

const fcKeptFile = "keep/entry-00000-with-a-longish-name"

// TestFastCommitFixtureRelink: the whole engine on the fast-commit fixture:
// relink every orphan, e2fsck -fn is clean, the kernel reads every relinked
// file with the manifest's sha256 and the kept file with its appended text.
func TestFastCommitFixtureRelink(t *testing.T) {
	img := fixtures.Get(t, "ext4-fastcommit")
	p := img.Copy(t)
	plan, err := relinkImage(t, p, Request{All: true})
	if err != nil {
		t.Fatal(err)
	}
	testfs.E2fsckClean(t, p)
	want := map[string]string{}
	for _, r := range plan.Relinks {
		if o := manifestOrphan(t, img, r.Inode); o.Kind != "dir" {
			want[strings.TrimPrefix(r.Path, "/")] = o.SHA256
		}
	}
	if len(want) != countRelinkable(img) {
		t.Fatalf("relinked %d files/symlinks, the manifest has %d", len(want), countRelinkable(img))
	}
	paths := append(slices.Sorted(maps.Keys(want)), fcKeptFile)
	got := testfs.MountRead(t, p, paths)
	for path, sum := range want {
		if got[path] != sum {
			t.Errorf("%s: sha256 %s, want %s", path, got[path], sum)
		}
	}
	// The kept file as e2fsck's replay leaves it.
	theirs := img.Copy(t)
	exec.Command("e2fsck", "-fy", theirs).Run()
	fsysOp, err := OpenFS(theirs, Options{Mode: ReadOnly})
	if err != nil {
		t.Fatal(err)
	}
	fsys, dev := fsysOp.FS, fsysOp.Dev
	_, _, kept, err := NewPlan(fsys, time.Now()).Resolve(fcKeptFile)
	dev.Close()
	if err != nil {
		t.Fatal(err)
	}
	s := sha256.Sum256(testfs.Cat(t, theirs, uint64(kept)))
	if got[fcKeptFile] != hex.EncodeToString(s[:]) {
		t.Errorf("%s: sha256 %s, e2fsck's replay gives %x", fcKeptFile, got[fcKeptFile], s)
	}
	t.Run("every-other", func(t *testing.T) { acceptEveryOther(t, img) })
}
