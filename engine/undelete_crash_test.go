package engine

import (
	"os"
	"testing"
	"time"

	"github.com/ext4relink/ext4relink/fixtures"
	"github.com/ext4relink/ext4relink/internal/testfs"
)

// TestUndeleteCrashPoints: as TestCrashPoints for a relink: for every
// prefix of an undelete's writes (a kill at that moment), and for power
// cuts losing part of the writes after the last flush, re-running the same
// command must succeed (or find the work done) and leave a filesystem
// e2fsck -fn passes, with the file reading back by sha256.
func TestUndeleteCrashPoints(t *testing.T) {
	for _, c := range []struct {
		fixture, file, name string
	}{
		{"deleted-4k", "data/big.vmdk", ""}, // recovery pending: the replay is written first
		{"deleted-ext3", "data/dind.bin", "/keep/dind.bin"},
	} {
		t.Run(c.fixture+"/"+c.file, func(t *testing.T) {
			img := fixtures.Get(t, c.fixture)
			m := deletedAt(t, img, c.file)
			req := UndeleteRequest{Inode: uint32(m.Inode), Name: c.name, Original: c.name == ""}
			want := "/" + c.file
			if c.name != "" {
				want = c.name
			}
			ops := recordUndelete(t, img, req)
			images := crashImages(ops)
			t.Logf("%d writes and flushes, %d crash images", len(ops), len(images))
			for i, ci := range images {
				p := img.Copy(t)
				applyOps(t, p, ci.ops)
				_, u, err := undeleteRun(p, req)
				if err != nil {
					t.Fatalf("%s: re-running the undelete: %v", ci.name, err)
				}
				if u.Path != want {
					t.Fatalf("%s: put back as %s", ci.name, u.Path)
				}
				testfs.E2fsckClean(t, p)
				op, err := OpenFS(p, Options{Mode: ReadOnly})
				if err != nil {
					t.Fatalf("%s: %v", ci.name, err)
				}
				data, err := op.FS.ReadPath(want)
				op.Dev.Close()
				if err != nil || testfs.SHA256(data) != m.SHA256 {
					t.Fatalf("%s: %s: %v, or the wrong content", ci.name, want, err)
				}
				if i == len(images)-1 {
					checkContents(t, p, map[string]string{want[1:]: m.SHA256})
				}
				os.Remove(p)
			}
		})
	}
}

func recordUndelete(t *testing.T, img *fixtures.Image, req UndeleteRequest) []writeOp {
	t.Helper()
	return recordCommit(t, img, func(fs *FS) (*Plan, error) {
		plan, _, err := fs.PlanUndelete(req, time.Now())
		return plan, err
	})
}
