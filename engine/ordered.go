package engine

import (
	"bytes"
	"fmt"
	"maps"
	"slices"

	"github.com/ext4relink/ext4relink/dirent"
	"github.com/ext4relink/ext4relink/ext4fs"
	"github.com/ext4relink/ext4relink/super"
)

// Without an internal journal (none at all, or an external journal device
// with nothing to recover) a relink cannot be one atomic transaction.
// commitOrdered writes it in four flushed steps chosen so that a crash
// after any of them loses nothing and the same command finishes the job:
//
//  1. links: each orphan gets its link count (and, with --keep-past-eof,
//     its new i_size), still on the orphan list. The kernel and e2fsck
//     treat a listed inode with links as a truncate in progress:
//     truncated to i_size (nothing to free), kept.
//  2. entries: the directory entries, parent times, superblock counts.
//     The orphan list is untouched, so every chain link still holds.
//  3. unlist: the chain's owners (s_last_orphan, a predecessor's i_dtime)
//     skip the relinked inodes and their orphan-file slots are cleared. Each
//     owner skips its own run of relinked inodes, so any subset of these
//     writes still leaves a whole chain.
//  4. the relinked inodes' own i_dtime (their old chain links) is cleared,
//     and orphan_present when the orphan file is left empty.
//
// An entry is never written for an inode with no links (which the orphan
// cleanup would free, leaving the entry dangling), and an inode never
// leaves the list with no links (e2fsck would free it). Steps that would
// need a new block (a full directory) are refused while planning: the
// allocation and its use cannot be ordered safely.

// orderedDirRefusal explains why directory orphans wait for a journal.
const orderedDirRefusal = "a directory orphan's relink changes its parent's link count and its own '..' entry together, which cannot be ordered safely without a journal; it is left on the orphan list (it comes back empty anyway)"

// resumable reports whether an orphan with links > 0 on a filesystem
// without a journal is what an interrupted ordered commit left after step
// 1 or 2: exactly one link, named by no directory entry other than the
// requested one (linkedHere), and no written block past i_size (so taking
// it off the list releases nothing a truncate would have). refs, when not
// nil, holds the counts of a scan already made.
func (p *Plan) resumable(o Orphan, linkedHere bool, refs map[uint32]int) (bool, error) {
	if !p.Ordered || o.Links != 1 || o.Problem != "" || o.Type == TypeDir {
		return false, nil
	}
	if refs == nil {
		var err error
		if refs, err = p.countReferences(map[uint32]bool{o.Inode: true}); err != nil {
			return false, err
		}
	}
	switch n := refs[o.Inode]; {
	case n == 0, n == 1 && linkedHere:
	default:
		return false, nil
	}
	in, _, err := p.Inode(o.Inode)
	if err != nil {
		return false, err
	}
	return !p.fs.blocksPastEOF(o.Inode, in), nil
}

// linkedOrphanRefs scans once for --all when the commit will be ordered
// and some listed orphan has links: nil otherwise.
func (p *Plan) linkedOrphanRefs(l *OrphanList) (map[uint32]int, error) {
	if !p.Ordered {
		return nil, nil
	}
	targets := map[uint32]bool{}
	for _, o := range l.Orphans {
		if o.Links == 1 && o.Problem == "" && o.Type != TypeDir {
			targets[o.Inode] = true
		}
	}
	if len(targets) == 0 {
		return nil, nil
	}
	return p.countReferences(targets)
}

// clearStaleDtimes finishes step 4 of an interrupted ordered --all: an
// entry #INO in the target directory whose inode has links, is off the
// orphan list and still carries its old chain link in i_dtime.
func (p *Plan) clearStaleDtimes(into string) error {
	_, _, existing, err := p.Resolve(into)
	if err != nil || existing == 0 {
		return err
	}
	d, err := p.OpenDir(existing)
	if err != nil {
		return err
	}
	listed := map[uint32]bool{}
	if p.list != nil {
		for _, o := range p.list.Orphans {
			listed[o.Inode] = true
		}
	}
	for _, r := range p.Relinks {
		listed[r.Inode] = true
	}
	var stale []uint32
	err = p.eachEntry(d, func(e dirent.Entry) {
		if !listed[e.Inode] && string(e.Name) == fmt.Sprintf("#%d", e.Inode) {
			stale = append(stale, e.Inode)
		}
	})
	if err != nil {
		return err
	}
	for _, ino := range stale {
		in, _, err := p.Inode(ino)
		if err != nil {
			return err
		}
		if in.LinksCount == 0 || in.Dtime == 0 || in.Dtime > p.SB.InodesCount {
			continue
		}
		old := in.Dtime
		in.Dtime = 0
		if err := p.PutInode(ino, in, fmt.Sprintf("stale dtime (old orphan chain link) %d -> 0, left by an interrupted run", old)); err != nil {
			return err
		}
	}
	return nil
}

// orderedStages returns the block states after steps 1, 2, 3 and 4 of an
// ordered commit: each maps block numbers to their content at that step
// (blocks not in a map hold what the device holds now).
func (p *Plan) orderedStages() ([]map[uint64][]byte, error) {
	gone := map[uint32]bool{}
	for _, r := range p.Relinks {
		if !r.AlreadyDone {
			gone[r.Inode] = true
		}
	}
	links := NewPlan(p.fs, p.Now)
	for _, ino := range slices.Sorted(maps.Keys(gone)) {
		final, _, err := p.Inode(ino)
		if err != nil {
			return nil, err
		}
		in, _, err := links.Inode(ino)
		if err != nil {
			return nil, err
		}
		// i_size goes with the link count (--keep-past-eof): a listed inode
		// with links is truncated to its i_size by the next mount or fsck,
		// which must then keep the blocks the relink keeps.
		if in.LinksCount != final.LinksCount || in.Size() != final.Size() {
			in.LinksCount = final.LinksCount
			in.SetSize(final.Size())
			in.SetCtime(p.Now)
			if err := links.PutInode(ino, in, ""); err != nil {
				return nil, err
			}
		}
	}
	entries, err := p.withOrphanState(gone, true)
	if err != nil {
		return nil, err
	}
	unlisted, err := p.withOrphanState(gone, false)
	if err != nil {
		return nil, err
	}
	return []map[uint64][]byte{links.Blocks(), entries.Blocks(), unlisted.Blocks(), p.Blocks()}, nil
}

// withOrphanState is the final plan with the orphan list's state put back:
// all of it (chain links, s_last_orphan, orphan-file slots, orphan_present)
// when all is set; otherwise only the relinked inodes' own i_dtime and
// orphan_present.
func (p *Plan) withOrphanState(gone map[uint32]bool, all bool) (*Plan, error) {
	q := p.clone()
	var orphans []Orphan
	if p.list != nil {
		orphans = p.list.Orphans
	}
	for _, o := range orphans {
		if o.Source != SourceChain || o.Problem != "" || !all && !gone[o.Inode] {
			continue
		}
		in, _, err := q.Inode(o.Inode)
		if err != nil {
			return nil, err
		}
		if in.Dtime != o.Next {
			in.Dtime = o.Next
			if err := q.PutInode(o.Inode, in, ""); err != nil {
				return nil, err
			}
		}
	}
	if all {
		q.SB.LastOrphan = p.fs.SB.LastOrphan
		blocks, err := p.fs.OrphanFile()
		if err != nil {
			return nil, err
		}
		for _, ob := range blocks {
			q.Drop(ob.Physical)
		}
	}
	q.SB.FeatureRoCompat = q.SB.FeatureRoCompat&^super.RoCompatOrphanPresent | p.fs.SB.FeatureRoCompat&super.RoCompatOrphanPresent
	return q, q.EncodeSuper()
}

// commitOrdered writes the four steps of orderedStages, each followed by a
// flush, writing only the blocks a step changes.
func (fs *FS) commitOrdered(p *Plan) error {
	stages, err := p.orderedStages()
	if err != nil {
		return err
	}
	orig := map[uint64][]byte{}
	for _, st := range stages {
		for n := range st {
			if _, ok := orig[n]; !ok {
				b, err := fs.ReadBlock(n)
				if err != nil {
					return err
				}
				orig[n] = bytes.Clone(b)
			}
		}
	}
	cur := maps.Clone(orig)
	for _, st := range stages {
		wrote := false
		for _, n := range slices.Sorted(maps.Keys(orig)) {
			want, ok := st[n]
			if !ok {
				want = orig[n]
			}
			if bytes.Equal(want, cur[n]) {
				continue
			}
			if err := fs.WriteBlock(n, want); err != nil {
				return err
			}
			cur[n], wrote = want, true
		}
		if wrote {
			if err := fs.Dev().Sync(); err != nil {
				return err
			}
		}
	}
	return nil
}

// eachEntry calls fn for every live entry of directory d.
func (p *Plan) eachEntry(d *ext4fs.Dir, fn func(e dirent.Entry)) error {
	if d.In.HasInlineData() {
		ib, xa, err := d.InlineRegions()
		if err != nil {
			return err
		}
		dec, err := dirent.DecodeInline(ib, xa, d.Params)
		if err != nil {
			return err
		}
		for _, e := range append(dec.IBlock, dec.Xattr...) {
			if e.Inode != 0 {
				fn(e)
			}
		}
		return nil
	}
	read := p.DirReader(d)
	for lblk := range d.NBlocks(p.fs.BlockSize()) {
		b, err := read(lblk)
		if err != nil {
			return err
		}
		if d.Indexed(p.SB) && (lblk == 0 || dirent.IsDxNode(b)) {
			continue // index blocks name no inodes ('.' and '..' in the root)
		}
		phys, _ := d.Phys(lblk)
		space, err := dirent.LeafSpace(b, d.Params)
		if err == nil {
			err = dirent.Walk(space, d.Params, func(e dirent.Entry) bool {
				if e.Inode != 0 {
					fn(e)
				}
				return true
			})
		}
		if err != nil {
			return dirent.AtBlock(err, phys)
		}
	}
	return nil
}
