package fastcommit

import (
	"fmt"
	"slices"
	"sort"

	"github.com/ext4relink/ext4relink/bitmap"
	"github.com/ext4relink/ext4relink/ext4fs"
	"github.com/ext4relink/ext4relink/inode"
	"github.com/ext4relink/ext4relink/super"
)

// Bitmaps and counters of the fast-commit replay.

// inodeInUse reports whether inode ino is marked in use, read through view:
// the transaction (r.p) or the filesystem before the replay (r.fs).
func (r *fcReplay) inodeInUse(view ext4fs.Reader, ino uint32) (bool, error) {
	if ino == 0 || ino > r.fs.SB.InodesCount {
		return false, fcCorrupt("inode %d is out of range (1..%d)", ino, r.fs.SB.InodesCount)
	}
	return ext4fs.InodeInUse(view, r.fs.SB, ino)
}

// origBlockInUse reports whether block b was marked in use before the replay.
func (r *fcReplay) origBlockInUse(b uint64) (bool, error) {
	g, idx := r.fs.SB.GroupOfBlock(b)
	bm, ok := r.origBitmaps[g]
	if !ok {
		var err error
		if bm, _, err = ext4fs.ReadBlockBitmap(r.fs, r.fs.SB, g); err != nil {
			return false, err
		}
		r.origBitmaps[g] = bm
	}
	return bitmap.Test(bm, idx), nil
}

// mapIntervals turns a block map into intervals owned by ino.
func mapIntervals(ino uint32, runs []inode.Run, meta []uint64) []interval {
	var out []interval
	for _, rn := range runs {
		out = append(out, interval{rn.Physical, rn.Physical + uint64(rn.Len), ino})
	}
	for _, b := range meta {
		out = append(out, interval{b, b + 1, ino})
	}
	return out
}

func sortIntervals(ivs []interval) {
	sort.Slice(ivs, func(i, j int) bool { return ivs[i].start < ivs[j].start })
}

// covered reports whether b lies in one of the sorted, non-overlapping intervals.
func covered(ivs []interval, b uint64) bool {
	k := sort.Search(len(ivs), func(k int) bool { return ivs[k].end > b })
	return k < len(ivs) && ivs[k].start <= b
}

// merged sorts and merges intervals (owners dropped).
func merged(ivs []interval) []interval {
	c := slices.Clone(ivs)
	sortIntervals(c)
	var out []interval
	for _, iv := range c {
		if iv.end <= iv.start {
			continue
		}
		if n := len(out); n > 0 && iv.start <= out[n-1].end {
			out[n-1].end = max(out[n-1].end, iv.end)
			continue
		}
		out = append(out, interval{iv.start, iv.end, 0})
	}
	return out
}

// setBitmapsAndCounters is ext4_fc_set_bitmaps_and_counters, with the
// checks the kernel leaves out: the final block maps of the touched inodes
// may not overlap each other, and a block they newly claim that was already
// marked in use must belong to nobody (a preallocation's leftover), not to
// another inode or to filesystem metadata.
func (r *fcReplay) setBitmapsAndCounters() error {
	var used []interval
	for _, ino := range r.modified {
		in, _, err := r.p.Inode(ino)
		if err != nil {
			return err
		}
		m, err := r.p.ReadMap(ino, in)
		if err != nil {
			return err
		}
		used = append(used, mapIntervals(ino, m.Runs, m.Meta)...)
	}
	sortIntervals(used)
	for k := 1; k < len(used); k++ {
		if a, b := used[k-1], used[k]; b.start < a.end {
			return super.Errorf(super.ErrCorrupt, "journal fast-commit area", b.start, -1,
				"after the replay, inodes %d and %d would both map block %d", a.ino, b.ino, b.start)
		}
	}
	if err := r.checkNewlyClaimed(used); err != nil {
		return err
	}
	usedM := merged(used)
	var clear []uint64
	for _, iv := range merged(r.freed) {
		for b := iv.start; b < iv.end; b++ {
			if !covered(usedM, b) {
				clear = append(clear, b)
			}
		}
	}
	if err := r.p.MarkBlocks(clear, false, "blocks the fast-commit replay released"); err != nil {
		return err
	}
	var set []uint64
	for _, iv := range usedM {
		for b := iv.start; b < iv.end; b++ {
			set = append(set, b)
		}
	}
	return r.p.MarkBlocks(set, true, "blocks of the fast-commit replay")
}

// checkNewlyClaimed checks the blocks the touched inodes map now and did
// not map before the replay. Those already marked in use are suspicious:
// the kernel's preallocations leave such blocks (marked in use, owned by
// nobody), but a damaged or forged record could point at another inode's
// data or at metadata. Both are refused.
func (r *fcReplay) checkNewlyClaimed(used []interval) error {
	var before []interval
	for _, ino := range r.modified {
		before = append(before, r.orig[ino]...)
	}
	beforeM := merged(before)
	var suspicious []uint64
	for _, iv := range used {
		for b := iv.start; b < iv.end; b++ {
			if covered(beforeM, b) || r.reserved[b] {
				continue
			}
			inUse, err := r.origBlockInUse(b)
			if err != nil {
				return err
			}
			if inUse {
				suspicious = append(suspicious, b)
			}
		}
	}
	if len(suspicious) == 0 {
		return nil
	}
	slices.Sort(suspicious)
	if err := r.checkNotMetadata(suspicious); err != nil {
		return err
	}
	return r.checkUnowned(suspicious)
}

// checkNotMetadata refuses blocks holding group metadata (superblock and
// descriptor copies, reserved GDT blocks, bitmaps, inode tables).
func (r *fcReplay) checkNotMetadata(blocks []uint64) error {
	sb := r.fs.SB
	var meta []interval
	for g := range sb.GroupCount() {
		gd, err := r.fs.GroupDesc(g)
		if err != nil {
			return err
		}
		for _, iv := range ext4fs.GroupMetadata(sb, g, gd) {
			meta = append(meta, interval{iv[0], iv[1], 0})
		}
	}
	meta = merged(meta)
	for _, b := range blocks {
		if covered(meta, b) || b < uint64(sb.FirstDataBlock) {
			return super.Errorf(super.ErrCorrupt, "journal fast-commit area", b, -1,
				"the replay would map block %d, which holds filesystem metadata", b)
		}
	}
	return nil
}

// checkUnowned reads every inode in use that the replay did not touch and
// refuses when one of them maps one of the (sorted) blocks.
func (r *fcReplay) checkUnowned(blocks []uint64) error {
	sb := r.fs.SB
	isz := sb.InodeSizeBytes()
	perBlock := r.fs.BlockSize() / isz
	ivs := make([]interval, len(blocks))
	for i, b := range blocks {
		ivs[i] = interval{b, b + 1, 0}
	}
	hit := func(b uint64) bool { return covered(ivs, b) }
	fsi := r.fs.InodeFS()
	for g := range sb.GroupCount() {
		gd, err := r.fs.GroupDesc(g)
		if err != nil {
			return err
		}
		if sb.InodeUninit(gd) {
			continue
		}
		bm, err := ext4fs.ReadInodeBitmap(sb, g, gd, r.fs.ReadBlock)
		if err != nil {
			return err
		}
		limit := sb.InodesPerGroup
		if sb.HasGroupCsum() {
			limit -= min(gd.ItableUnused(), limit)
		}
		var tb []byte
		tbn := ^uint64(0)
		for idx := range limit {
			if !bitmap.Test(bm, uint64(idx)) {
				continue
			}
			ino := uint32(g)*sb.InodesPerGroup + idx + 1
			if _, touched := r.orig[ino]; touched {
				continue
			}
			if n := gd.InodeTable() + uint64(idx/perBlock); n != tbn {
				if tb, err = r.fs.ReadBlock(n); err != nil {
					return err
				}
				tbn = n
			}
			off := (idx % perBlock) * isz
			owner, err := inodeOwns(fsi, ino, tb[off:off+isz], r.fs.ReadBlock, hit)
			if err != nil && ino < sb.FirstInode() && ino != ext4fs.RootIno && ino != sb.JournalInum {
				continue // an unused reserved inode (bad blocks list, boot loader...) need not be valid
			}
			if err != nil {
				return fmt.Errorf("checking that no other inode maps the blocks the replay claims: %w", err)
			}
			if owner {
				return super.Errorf(super.ErrCorrupt, "journal fast-commit area", super.NoBlock, -1,
					"the replay would map blocks that inode %d already maps (cross-linked files)", ino)
			}
		}
	}
	return nil
}

// inodeOwns reports whether the inode (raw bytes) maps a block hit accepts.
func inodeOwns(fsi inode.FS, ino uint32, raw []byte, read inode.ReadFunc, hit func(uint64) bool) (bool, error) {
	in, err := inode.Decode(raw)
	if err != nil {
		return false, err
	}
	if ino == 7 { // the resize inode: its double-indirect block (the reserved GDT blocks are metadata)
		w := inode.IBlockWords(in.Block[:])
		return w[13] != 0 && hit(uint64(w[13])), nil
	}
	if err := in.Validate(fsi, ino); err != nil {
		return false, err
	}
	if acl := in.FileACL(fsi.Bit64); acl != 0 && hit(acl) {
		return true, nil
	}
	m, err := inode.MapInode(in, fsi, ino, read)
	if err != nil {
		return false, err
	}
	for _, b := range m.Meta {
		if hit(b) {
			return true, nil
		}
	}
	for _, rn := range m.Runs {
		for b := rn.Physical; b < rn.Physical+uint64(rn.Len); b++ {
			if hit(b) {
				return true, nil
			}
		}
	}
	return false, nil
}
