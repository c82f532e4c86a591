package engine

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/ext4relink/ext4relink/dirent"
	"github.com/ext4relink/ext4relink/fixtures"
	"github.com/ext4relink/ext4relink/internal/testfs"
)

// TestHtreeGrowthThroughEngine drives the engine's directory insertion far
// enough to split many htree leaves and index nodes and to grow the
// directory by allocated, mapped blocks: thousands of hard links to one
// kept file are added to a real htree directory in one plan, committed
// through the journal, and checked with e2fsck -fn and debugfs.
func TestHtreeGrowthThroughEngine(t *testing.T) {
	for _, c := range []struct {
		fixture string
		links   int
	}{{"ext4-htree-1k", 3000}, {"ext4-htree", 4000}} {
		t.Run(c.fixture, func(t *testing.T) {
			img := fixtures.Get(t, c.fixture)
			p := img.Copy(t)
			if _, err := relinkImage(t, p, Request{All: true}); err != nil {
				t.Fatal(err)
			}
			fsOp, err := OpenFS(p, Options{Mode: ReadWrite})
			if err != nil {
				t.Fatal(err)
			}
			fs, dev := fsOp.FS, fsOp.Dev
			plan := NewPlan(fs, time.Now())
			parent, _, target, err := plan.Resolve("/big/entry-00000-with-a-longish-name")
			if err != nil || target == 0 {
				t.Fatalf("resolve: %d %v", target, err)
			}
			before, _ := dirBlocksOf(plan, parent)
			for i := range c.links {
				d, err := plan.OpenDir(parent)
				if err != nil {
					t.Fatal(err)
				}
				name := []byte(fmt.Sprintf("hard-link-%05d-with-a-name-long-enough-to-fill-leaves", i))
				if _, err := plan.AddEntry(d, name, target, dirent.FtRegFile, plan.Now); err != nil {
					t.Fatalf("link %d: %v", i, err)
				}
			}
			in, _, err := plan.Inode(target)
			if err != nil {
				t.Fatal(err)
			}
			in.LinksCount += uint16(c.links)
			if err := plan.PutInode(target, in, "links"); err != nil {
				t.Fatal(err)
			}
			if err := plan.Finish(); err != nil {
				t.Fatal(err)
			}
			if err := fs.Commit(plan); err != nil {
				t.Fatal(err)
			}
			dev.Close()
			after, grown := dirBlocksOf(nil, parent, p)
			if !grown || after <= before {
				t.Fatalf("the directory did not grow (%d -> %d blocks)", before, after)
			}
			testfs.E2fsckClean(t, p)
			ls := testfs.Debugfs(t, p, "ls /big")
			if n := strings.Count(ls, "hard-link-"); n != c.links {
				t.Fatalf("debugfs lists %d of the %d links", n, c.links)
			}
			t.Logf("%d links added; directory grew from %d to %d blocks", c.links, before, after)
		})
	}
}

// dirBlocksOf reports a directory's size in blocks, through a plan or, after
// the commit, freshly from the image at path.
func dirBlocksOf(p *Plan, ino uint32, path ...string) (uint32, bool) {
	if p == nil {
		fsOp, err := OpenFS(path[0], Options{Mode: ReadOnly})
		if err != nil {
			return 0, false
		}
		fs, dev := fsOp.FS, fsOp.Dev
		defer dev.Close()
		p = NewPlan(fs, time.Now())
	}
	d, err := p.OpenDir(ino)
	if err != nil {
		return 0, false
	}
	return d.NBlocks(p.fs.BlockSize()), true
}
