package fastcommit_test

import (
	"testing"
	"time"

	"github.com/ext4relink/ext4relink/engine"
	"github.com/ext4relink/ext4relink/fixtures"
)

// relinkImage relinks on img as the CLI does (open for writing, list,
// plan, commit, verify), like engine's own test runner.
func relinkImage(t *testing.T, img string, req engine.Request) (*engine.Plan, error) {
	t.Helper()
	op, err := engine.OpenFS(img, engine.Options{Mode: engine.ReadWrite})
	if err != nil {
		return nil, err
	}
	defer op.Dev.Close()
	before, err := op.FS.Orphans()
	if err != nil {
		return nil, err
	}
	plan, _, err := op.FS.PlanRelink(req, time.Now())
	if err != nil {
		return nil, err
	}
	if err := op.FS.Commit(plan); err != nil {
		return plan, err
	}
	return plan, engine.Verify(op.Dev, plan, before)
}

// manifestOrphan is the fixture manifest's record of orphan ino.
func manifestOrphan(t *testing.T, img *fixtures.Image, ino uint32) fixtures.OrphanInfo {
	t.Helper()
	for _, o := range img.Orphans {
		if uint32(o.Inode) == ino {
			return o
		}
	}
	t.Fatalf("inode %d is not in the manifest", ino)
	return fixtures.OrphanInfo{}
}
