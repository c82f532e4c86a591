package engine

import (
	"fmt"
	"path"
	"slices"
	"strings"
	"testing"

	"github.com/ext4relink/ext4relink/fixtures"
	"github.com/ext4relink/ext4relink/internal/testfs"
)

// namesOf opens a fixture read-only and returns its orphans' original
// paths.
func namesOf(t *testing.T, path string) (*OrphanList, map[uint32]NameResult) {
	t.Helper()
	op, err := OpenFS(path, Options{Mode: ReadOnly})
	if err != nil {
		t.Fatal(err)
	}
	defer op.Dev.Close()
	l, err := op.FS.Orphans()
	if err != nil {
		t.Fatal(err)
	}
	h, err := op.FS.JournalHistory()
	if err != nil {
		t.Fatal(err)
	}
	res, err := op.FS.OriginalPaths(l, h)
	if err != nil {
		t.Fatal(err)
	}
	return l, res
}

// TestOriginalPathsEveryFixture: on every fixture, every path given is
// the manifest's original path (never a wrong one), and every orphan that
// ever had a name gets one.
func TestOriginalPathsEveryFixture(t *testing.T) {
	for _, img := range fixtures.All(t) {
		t.Run(img.Name, func(t *testing.T) {
			_, res := namesOf(t, img.Path)
			named := 0
			for _, m := range img.Orphans {
				r, ok := res[uint32(m.Inode)]
				if !ok {
					if !m.Optional {
						t.Errorf("inode %d (%s): no result", m.Inode, m.Path)
					}
					continue
				}
				want := "/" + m.Path
				if strings.Contains(m.Path, "(O_TMPFILE") && (r.Path != "" || r.Reason != reasonNoEntry) {
					t.Errorf("inode %d, an O_TMPFILE file: %+v", m.Inode, r)
				}
				t.Logf("inode %d %s: %q from %s reason %q parent_of %v cands %d", m.Inode, want, r.Path, r.From, r.Reason, r.ParentOf, len(r.Candidates))
				switch {
				case r.Path == want:
					named++
				case r.Path != "":
					t.Errorf("inode %d: path %q, the original is %q", m.Inode, r.Path, want)
				case !strings.Contains(m.Path, "(O_TMPFILE"):
					t.Errorf("inode %d (%s): no path: %s", m.Inode, want, r.Reason)
				}
			}
			checkParentOf(t, img, res)
		})
	}
}

// TestOriginalPathsInodeReuse: a file deleted, its inode number reused by
// a file deleted while open: the name of the second, never the first.
func TestOriginalPathsInodeReuse(t *testing.T) {
	img := fixtures.Get(t, "ext4-reuse")
	sc, _ := fixtures.Lookup("ext4-reuse")
	_, res := namesOf(t, img.Path)
	for _, m := range img.Orphans {
		r := res[uint32(m.Inode)]
		if r.Path != "/"+m.Path || r.From != PathFromJournal {
			t.Fatalf("inode %d: %+v, want /%s from the journal", m.Inode, r, m.Path)
		}
		for _, c := range r.Candidates {
			if "/"+sc.Orphans[0].ReuseOf == c.Path {
				t.Errorf("the earlier file's name is a candidate: %+v", c)
			}
		}
	}
}

// TestOriginalPathsRmTree: rm -rf of a tree around an open file: the file's
// full path, and each removed ancestor is the parent of the next.
func TestOriginalPathsRmTree(t *testing.T) {
	img := fixtures.Get(t, "ext4-rmtree")
	_, res := namesOf(t, img.Path)
	byPath := map[string]uint32{}
	for _, m := range img.Orphans {
		r, ok := res[uint32(m.Inode)]
		if !ok {
			t.Fatalf("inode %d (%s) not listed", m.Inode, m.Path)
		}
		if r.Path != "/"+m.Path {
			t.Errorf("inode %d: path %q, want /%s (%s)", m.Inode, r.Path, m.Path, r.Reason)
		}
		byPath[m.Path] = uint32(m.Inode)
	}
	for child, parent := range map[string]string{"tree/a/b/held.bin": "tree/a/b", "tree/a/b": "tree/a", "tree/a": "tree"} {
		if p := res[byPath[parent]]; len(p.ParentOf) != 1 || p.ParentOf[0] != byPath[child] {
			t.Errorf("%s: parent of %v, want [%d] (%s)", parent, p.ParentOf, byPath[child], child)
		}
	}
	if s := res[byPath["tree/a/b"]].String(); s != fmt.Sprintf("/tree/a/b (parent of %d)", byPath["tree/a/b/held.bin"]) {
		t.Errorf("PATH column %q", s)
	}
}

// TestOriginalPathsReuseWithoutNewerEvidence: with the second file's own
// entries gone (as when their transactions were overwritten), the first
// file's entry is still discarded, by its commit time against i_crtime
// and, without i_crtime, by the generation of the inode copy of its time;
// with neither, an entry nothing dates is not taken.
func TestOriginalPathsReuseWithoutNewerEvidence(t *testing.T) {
	img := fixtures.Get(t, "ext4-reuse")
	op, err := OpenFS(img.Path, Options{Mode: ReadOnly})
	if err != nil {
		t.Fatal(err)
	}
	defer op.Dev.Close()
	l, err := op.FS.Orphans()
	if err != nil {
		t.Fatal(err)
	}
	h, err := op.FS.JournalHistory()
	if err != nil {
		t.Fatal(err)
	}
	ino := uint32(img.Orphans[0].Inode)
	for _, mode := range []string{"both", "crtime only", "generation only", "neither"} {
		n, err := op.FS.newNamer(l, h)
		if err != nil {
			t.Fatal(err)
		}
		if err := n.gather(); err != nil {
			t.Fatal(err)
		}
		var kept []evidence
		for _, e := range n.ev[ino] {
			if e.name != "second.bin" {
				kept = append(kept, e)
			}
		}
		if len(kept) == 0 {
			t.Fatal("the first file's entry is not in the journal: the test proves nothing")
		}
		n.ev[ino] = kept
		switch mode {
		case "crtime only":
			n.copies = nil
		case "generation only":
			n.targets[ino].hasCrtime = false
		case "neither": // nothing dates the entry: not taken
			n.targets[ino].hasCrtime = false
			n.copies = nil
		}
		if r := n.result(ino); r.Path != "" || len(r.Candidates) != 0 {
			t.Errorf("%s: %+v", mode, r)
		}
	}
}

// checkParentOf: an orphan directory is listed as the parent of exactly
// the orphans the manifest has inside it.
func checkParentOf(t *testing.T, img *fixtures.Image, res map[uint32]NameResult) {
	want := map[uint32][]uint32{}
	for _, d := range img.Orphans {
		if d.Kind != "dir" {
			continue
		}
		want[uint32(d.Inode)] = nil
		for _, m := range img.Orphans {
			if path.Dir(m.Path) == d.Path && !strings.Contains(m.Path, "(O_TMPFILE") {
				want[uint32(d.Inode)] = append(want[uint32(d.Inode)], uint32(m.Inode))
			}
		}
	}
	for ino, kids := range want {
		slices.Sort(kids)
		if got := res[ino].ParentOf; !slices.Equal(got, kids) {
			t.Errorf("directory orphan %d: parent of %v, want %v", ino, got, kids)
		}
	}
}

// TestOriginalPathsLive: an entry of the live tree that still names an
// orphan (here one debugfs added, leaving the link count at 0) is its
// newest name.
func TestOriginalPathsLive(t *testing.T) {
	img := fixtures.Get(t, "ext4-4k-freeze")
	p := img.Copy(t)
	var target fixtures.OrphanInfo
	for _, m := range img.Orphans {
		if m.Kind == "file" {
			target = m
			break
		}
	}
	testfs.Debugfs(t, p, fmt.Sprintf("ln <%d> /keep/by-hand", target.Inode), true)
	_, res := namesOf(t, p)
	r := res[uint32(target.Inode)]
	if r.Path != "/keep/by-hand" || r.From != PathFromLive {
		t.Fatalf("%+v", r)
	}
	if len(r.Candidates) < 2 || r.Candidates[1].Path != "/"+target.Path {
		t.Errorf("the journal's name should follow as a candidate: %+v", r.Candidates)
	}
}

// TestOriginalPathsAmbiguous: two names of equal standing (a file with two
// hard links, both in the newest copy) give no path, and both candidates.
func TestOriginalPathsAmbiguous(t *testing.T) {
	img := fixtures.Get(t, "ext4-4k-freeze")
	op, err := OpenFS(img.Path, Options{Mode: ReadOnly})
	if err != nil {
		t.Fatal(err)
	}
	defer op.Dev.Close()
	l, err := op.FS.Orphans()
	if err != nil {
		t.Fatal(err)
	}
	h, err := op.FS.JournalHistory()
	if err != nil {
		t.Fatal(err)
	}
	n, err := op.FS.newNamer(l, h)
	if err != nil {
		t.Fatal(err)
	}
	if err := n.gather(); err != nil {
		t.Fatal(err)
	}
	ino := uint32(img.Orphans[0].Inode)
	var e evidence
	for _, x := range n.ev[ino] {
		if x.from == PathFromJournal && (e.from == 0 || int32(x.seq-e.seq) > 0) {
			e = x
		}
	}
	if e.from == 0 {
		t.Fatal("no journal evidence to start from")
	}
	x, y := e, e
	x.name, y.name = "x", "y"
	n.ev[ino] = []evidence{x, y}
	r := n.result(ino)
	if r.Path != "" || r.Reason != reasonAmbiguous || len(r.Candidates) != 2 || r.String() != "?" {
		t.Fatalf("%+v", r)
	}
	dir := path.Dir("/" + img.Orphans[0].Path)
	if r.Candidates[0].Path != path.Join(dir, "x") || r.Candidates[1].Path != path.Join(dir, "y") {
		t.Errorf("candidates %+v", r.Candidates)
	}
	// An older name of its own file loses to the newer one.
	x.seq--
	n.ev[ino] = []evidence{x, y}
	if r := n.result(ino); r.Path != path.Join(dir, "y") {
		t.Errorf("newest name: %+v", r)
	}
}
