package engine

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/ext4relink/ext4relink/dirent"
	"github.com/ext4relink/ext4relink/ext4fs"
	"github.com/ext4relink/ext4relink/fixtures"
	"github.com/ext4relink/ext4relink/internal/testfs"
)

// TestRelinkAllLeak: --all on the orphans one process leaked (bench-leak-N:
// N small files created, held open, unlinked). Every one is relinked into
// /lost+found, e2fsck -fn is clean and the kernel reads every file back
// with its sha256. At 3,000, /lost+found (four linear blocks from mke2fs,
// room for about a thousand such names) has to grow: the entries go into
// blocks the plan allocated and mapped itself.
func TestRelinkAllLeak(t *testing.T) {
	for _, n := range []int{300, 3000} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			img := fixtures.Get(t, fmt.Sprintf("bench-leak-%d", n))
			p, plan, want := relinkAllFiles(t, img)
			if len(want) != n {
				t.Fatalf("relinked %d files, want %d", len(want), n)
			}
			if grew := len(plan.Allocated) > 0; grew != (n > 1000) {
				t.Fatalf("/lost+found allocated %d block(s) for %d names", len(plan.Allocated), n)
			}
			testfs.E2fsckClean(t, p)
			checkContents(t, p, want)
		})
	}
}

// TestLinearIndexMatchesScan: after --all has added 3,000 names to
// /lost+found (growing it), the plan's index of the directory answers
// every lookup and every "first block with room" exactly as the scan from
// block 0 it replaces.
func TestLinearIndexMatchesScan(t *testing.T) {
	img := fixtures.Get(t, "bench-leak-3000")
	op, err := OpenFS(img.Path, Options{Mode: ReadOnly})
	if err != nil {
		t.Fatal(err)
	}
	defer op.Dev.Close()
	p, _, err := op.FS.PlanRelink(Request{All: true}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	d, err := p.OpenDir(uint32(img.Dirs["lost+found"]))
	if err != nil {
		t.Fatal(err)
	}
	names := []string{".", "..", "#1", "nosuch", strings.Repeat("x", 200)}
	for _, r := range p.Relinks {
		names = append(names, strings.TrimPrefix(r.Path, "/lost+found/"))
	}
	for _, name := range names {
		got, found, err := p.Lookup(d, []byte(name))
		want, wfound, werr := scanLookup(p, d, []byte(name))
		if got != want || found != wfound || (err == nil) != (werr == nil) {
			t.Fatalf("%q: index says %d %v %v, the scan %d %v %v", name, got, found, err, want, wfound, werr)
		}
		e := dirent.NewEntry{Name: []byte(name), Inode: 12, FileType: dirent.FtRegFile}
		if e.Check(d.Params) != nil {
			continue // addLinear refuses it before asking the index
		}
		lblk, ok, err := p.FirstFit(d, []byte(name))
		wl, wok, werr := scanFirstFit(p, d, e)
		if lblk != wl || ok != wok || (err == nil) != (werr == nil) {
			t.Fatalf("%q: index puts it in block %d (%v, %v), the scan in %d (%v, %v)", name, lblk, ok, err, wl, wok, werr)
		}
	}
}

// scanLookup is the linear lookup the index replaces.
func scanLookup(p *Plan, d *ext4fs.Dir, name []byte) (uint32, bool, error) {
	for lblk := range d.NBlocks(p.fs.BlockSize()) {
		b, err := p.DirReader(d)(lblk)
		if err != nil {
			return 0, false, err
		}
		if err := dirent.ValidateLeaf(b, d.Params); err != nil {
			return 0, false, err
		}
		space, _ := dirent.LeafSpace(b, d.Params)
		e, found, err := dirent.Lookup(space, name, d.Params)
		if err != nil || found {
			return e.Inode, found, err
		}
	}
	return 0, false, nil
}

// scanFirstFit is addLinear's former search: AddEntry on each block from
// block 0 until one does not report ErrNoSpace.
func scanFirstFit(p *Plan, d *ext4fs.Dir, e dirent.NewEntry) (uint32, bool, error) {
	for lblk := range d.NBlocks(p.fs.BlockSize()) {
		b, err := p.DirReader(d)(lblk)
		if err != nil {
			return 0, false, err
		}
		_, err = dirent.AddEntry(b, e, d.Params)
		if errors.Is(err, dirent.ErrNoSpace) {
			continue
		}
		if errors.Is(err, dirent.ErrExist) || err == nil {
			return lblk, true, nil
		}
		return 0, false, err
	}
	return 0, false, nil
}
