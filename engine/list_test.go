package engine

import (
	"sort"
	"testing"

	"github.com/ext4relink/ext4relink/fixtures"
	"github.com/ext4relink/ext4relink/internal/testfs"
)

// TestListEveryFixture: list names every orphan of every fixture with the
// right inode number, size and links (debugfs agrees after its own replay),
// and leaves the image byte-for-byte unchanged.
func TestListEveryFixture(t *testing.T) {
	for _, img := range fixtures.All(t) {
		t.Run(img.Name, func(t *testing.T) {
			before := testfs.FileSHA256(t, img.Path)
			fsOp, err := OpenFS(img.Path, Options{Mode: ReadOnly})
			if err != nil {
				t.Fatal(err)
			}
			fs, dev := fsOp.FS, fsOp.Dev
			l, err := fs.Orphans()
			dev.Close()
			if err != nil {
				t.Fatal(err)
			}
			if len(l.Problems) > 0 {
				t.Errorf("problems: %v", l.Problems)
			}
			got := map[uint32]Orphan{}
			for _, o := range l.Orphans {
				got[o.Inode] = o
			}
			known := map[uint32]bool{}
			for _, m := range img.Orphans {
				known[uint32(m.Inode)] = true
			}
			for ino := range got {
				if !known[ino] {
					t.Errorf("listed orphan %d is not in the manifest", ino)
				}
			}
			replayed := testfs.Replayed(t, img)
			for _, m := range img.Orphans {
				o, ok := got[uint32(m.Inode)]
				if !ok && m.Optional {
					continue
				}
				if !ok {
					t.Errorf("orphan %d (%s) not listed", m.Inode, m.Path)
					continue
				}
				if o.Type.String() != m.Kind || o.Links != 0 || o.State != StateDeletedOpen || o.Problem != "" {
					t.Errorf("orphan %d: %+v", m.Inode, o)
				}
				if m.Kind != "dir" && o.Size != uint64(m.Size) {
					t.Errorf("orphan %d: size %d, manifest %d", m.Inode, o.Size, m.Size)
				}
				st := testfs.Stat(t, replayed, m.Inode)
				if testfs.StatField(t, st, "Size") != o.Size || testfs.StatField(t, st, "Links") != uint64(o.Links) {
					t.Errorf("orphan %d: debugfs disagrees:\n%s", m.Inode, st)
				}
			}
			checkPositions(t, l)
			if testfs.FileSHA256(t, img.Path) != before {
				t.Fatal("list changed the image")
			}
		})
	}
}

// checkPositions: chain positions are 1..n in order, orphan-file slots unique.
func checkPositions(t *testing.T, l *OrphanList) {
	var pos []int
	slots := map[int]bool{}
	for _, o := range l.Orphans {
		switch o.Source {
		case SourceChain:
			pos = append(pos, o.Position)
		case SourceOrphanFile:
			if slots[o.Slot] {
				t.Errorf("slot %d listed twice", o.Slot)
			}
			slots[o.Slot] = true
		default:
			t.Errorf("source %q", o.Source)
		}
	}
	if !sort.IntsAreSorted(pos) || (len(pos) > 0 && (pos[0] != 1 || pos[len(pos)-1] != len(pos))) {
		t.Errorf("chain positions %v", pos)
	}
}
