package engine

import (
	"strings"
	"testing"
	"time"

	"github.com/ext4relink/ext4relink/internal/testfs"

	"github.com/ext4relink/ext4relink/fixtures"
)

// relinkImage runs the whole job on an image file as the CLI does.
func relinkImage(t *testing.T, img string, req Request) (*Plan, error) {
	t.Helper()
	r, err := relinkRun(img, req)
	return r.plan, err
}

// relinkResult is what one whole relink run did.
type relinkResult struct {
	plan          *Plan
	skipped       []Skipped
	read, written int64 // device bytes
}

// relinkRun relinks on img as the CLI does: open for writing, list, plan,
// commit, verify. Tests and benchmarks share it.
func relinkRun(img string, req Request) (relinkResult, error) {
	var r relinkResult
	op, err := OpenFS(img, Options{Mode: ReadWrite})
	if err != nil {
		return r, err
	}
	defer op.Dev.Close()
	before, err := op.FS.Orphans()
	if err != nil {
		return r, err
	}
	if r.plan, r.skipped, err = op.FS.PlanRelink(req, time.Now()); err != nil {
		return r, err
	}
	err = op.FS.Commit(r.plan)
	if err == nil {
		err = Verify(op.Dev, r.plan, before)
	}
	r.read, r.written = op.Dev.BytesRead(), op.Dev.BytesWritten()
	return r, err
}

func TestRelinkAllQuick(t *testing.T) {
	for _, name := range []string{"ext4-4k-freeze", "ext4-4k-sync", "ext4-4k-journal"} {
		img := fixtures.Get(t, name)
		p := img.Copy(t)
		plan, err := relinkImage(t, p, Request{All: true})
		if err != nil {
			t.Fatal(err)
		}
		testfs.E2fsckClean(t, p)
		var paths []string
		want := map[string]string{}
		for _, r := range plan.Relinks {
			paths = append(paths, strings.TrimPrefix(r.Path, "/"))
			for _, o := range img.Orphans {
				if uint32(o.Inode) == r.Inode {
					want[strings.TrimPrefix(r.Path, "/")] = o.SHA256
				}
			}
		}
		got := testfs.MountRead(t, p, paths)
		for k, v := range want {
			if got[k] != v {
				t.Errorf("%s: %s sha256 %s, want %s", name, k, got[k], v)
			}
		}
	}
}
