package engine

import (
	"fmt"
	"maps"
	"slices"
	"sort"

	"github.com/ext4relink/ext4relink/bitmap"
	"github.com/ext4relink/ext4relink/ext4fs"
	"github.com/ext4relink/ext4relink/inode"
	"github.com/ext4relink/ext4relink/super"
)

// Bitmaps and counters of the fast-commit replay.

// readFunc reads through the plan (plan true) or the filesystem as it was
// before the replay.
func (r *fcReplay) reader(plan bool) func(uint64) ([]byte, error) {
	if plan {
		return r.p.Read
	}
	return r.fs.ReadBlock
}

func (r *fcReplay) groupDesc(g uint64, plan bool) (*super.GroupDesc, error) {
	if plan {
		return r.p.GroupDesc(g)
	}
	return r.fs.GroupDesc(g)
}

// inodeBitmap returns group g's inode bitmap, verified, or the all-free
// bitmap ext4_read_inode_bitmap makes for an INODE_UNINIT group.
func (r *fcReplay) inodeBitmap(g uint64, gd *super.GroupDesc, plan bool) ([]byte, error) {
	return ext4fs.ReadInodeBitmap(r.fs.SB, g, gd, r.reader(plan))
}

// inodeInUse reports whether inode ino is marked in use.
func (r *fcReplay) inodeInUse(ino uint32, plan bool) (bool, error) {
	if ino == 0 || ino > r.fs.SB.InodesCount {
		return false, fcCorrupt("inode %d is out of range (1..%d)", ino, r.fs.SB.InodesCount)
	}
	g, idx := r.fs.SB.GroupOfInode(ino)
	gd, err := r.groupDesc(g, plan)
	if err != nil {
		return false, err
	}
	bm, err := r.inodeBitmap(g, gd, plan)
	if err != nil {
		return false, err
	}
	return bitmap.Test(bm, uint64(idx)), nil
}

// baseMetaBlocks is ext4_num_base_meta_clusters without bigalloc: the
// superblock copy, group descriptor blocks and reserved GDT blocks at the
// start of group g.
func baseMetaBlocks(sb *super.Superblock, g uint64) uint64 {
	hasSuper := sb.GroupHasSuper(g)
	dpb := sb.DescPerBlock()
	metaBG := sb.HasIncompat(super.IncompatMetaBG)
	var n uint64
	if hasSuper {
		n = 1
	}
	if !metaBG || g < uint64(sb.FirstMetaBg)*dpb {
		if hasSuper {
			if metaBG {
				n += uint64(sb.FirstMetaBg)
			} else {
				n += (sb.GroupCount() + dpb - 1) / dpb
			}
			n += uint64(sb.ReservedGdtBlocks)
		}
		return n
	}
	first := g / dpb * dpb
	if g == first || g == first+1 || g == first+dpb-1 {
		n++
	}
	return n
}

// initBlockBitmap is ext4_init_block_bitmap: the bitmap of a BLOCK_UNINIT
// group, with the group's own metadata and the bits past its end set. It
// refuses when the result disagrees with the descriptor's free count.
func (r *fcReplay) initBlockBitmap(g uint64, gd *super.GroupDesc) ([]byte, error) {
	sb := r.fs.SB
	bm := make([]byte, r.fs.BlockSize())
	first, n := sb.GroupFirstBlock(g), sb.BlocksInGroup(g)
	for i := range min(baseMetaBlocks(sb, g), n) {
		bitmap.Set(bm, i)
	}
	itb := sb.InodeTableBlocks()
	for _, iv := range []interval{{gd.BlockBitmap(), gd.BlockBitmap() + 1, 0}, {gd.InodeBitmap(), gd.InodeBitmap() + 1, 0},
		{gd.InodeTable(), gd.InodeTable() + itb, 0}} {
		for b := iv.start; b < iv.end; b++ {
			if b >= first && b < first+n {
				bitmap.Set(bm, b-first)
			}
		}
	}
	for i := n; i < uint64(r.fs.BlockSize())*8; i++ {
		bitmap.Set(bm, i)
	}
	if free := bitmap.CountZero(bm, n); free != uint64(gd.FreeBlocksCount()) {
		return nil, super.Errorf(super.ErrCorrupt, fmt.Sprintf("group descriptor %d", g), super.NoBlock, -1,
			"BLOCK_UNINIT, but its initialised bitmap would have %d free blocks and the descriptor says %d", free, gd.FreeBlocksCount())
	}
	return bm, nil
}

// blockBitmap returns group g's block bitmap, verified, or initialised for
// a BLOCK_UNINIT group (uninit true).
func (r *fcReplay) blockBitmap(g uint64, gd *super.GroupDesc, plan bool) (bm []byte, uninit bool, err error) {
	if r.fs.SB.BlockUninit(gd) {
		bm, err = r.initBlockBitmap(g, gd)
		return bm, true, err
	}
	b, err := r.reader(plan)(gd.BlockBitmap())
	if err != nil {
		return nil, false, err
	}
	bm = slices.Clone(b)
	if !bitmap.VerifyBlockBitmap(r.fs.SB, gd, bm) {
		return nil, false, super.Errorf(super.ErrChecksum, fmt.Sprintf("block bitmap of group %d", g), gd.BlockBitmap(), -1,
			"checksum does not match the group descriptor's (%#x)", gd.BlockBitmapCsum())
	}
	return bm, false, nil
}

// origBlockInUse reports whether block b was marked in use before the replay.
func (r *fcReplay) origBlockInUse(b uint64) (bool, error) {
	g, idx := r.fs.SB.GroupOfBlock(b)
	bm, ok := r.origBitmaps[g]
	if !ok {
		gd, err := r.fs.GroupDesc(g)
		if err != nil {
			return false, err
		}
		if bm, _, err = r.blockBitmap(g, gd, false); err != nil {
			return false, err
		}
		r.origBitmaps[g] = bm
	}
	return bitmap.Test(bm, idx), nil
}

// initBlockGroup clears BLOCK_UNINIT of group g in the plan, writing the
// initialised bitmap (ext4_mark_inode_used does this for the group of an
// inode it marks in use).
func (r *fcReplay) initBlockGroup(g uint64) error {
	gd, err := r.p.GroupDesc(g)
	if err != nil {
		return err
	}
	if !r.fs.SB.HasGroupCsum() || gd.Flags&super.BgBlockUninit == 0 {
		return nil
	}
	bm, err := r.initBlockBitmap(g, gd)
	if err != nil {
		return err
	}
	gd.Flags &^= super.BgBlockUninit
	bitmap.SetBlockBitmapChecksum(r.p.SB, gd, bm)
	r.p.Write(gd.BlockBitmap(), bm, fmt.Sprintf("block bitmap of group %d: initialised (was BLOCK_UNINIT)", g))
	return r.p.PutGroupDesc(g, gd, "BLOCK_UNINIT cleared")
}

// markInodeUsed is ext4_mark_inode_used: initialise the group's block
// bitmap if it was uninitialised, then bitmap.AllocInode does the rest.
func (r *fcReplay) markInodeUsed(ino uint32, isDir bool) error {
	sb := r.p.SB
	g, idx := sb.GroupOfInode(ino)
	gd, err := r.p.GroupDesc(g)
	if err != nil {
		return err
	}
	bm, err := r.inodeBitmap(g, gd, true)
	if err != nil {
		return err
	}
	if bitmap.Test(bm, uint64(idx)) {
		return nil
	}
	if err := r.initBlockGroup(g); err != nil {
		return err
	}
	if gd, err = r.p.GroupDesc(g); err != nil {
		return err
	}
	if err := bitmap.AllocInode(sb, g, gd, bm, idx, isDir); err != nil {
		return err
	}
	r.p.Write(gd.InodeBitmap(), bm, fmt.Sprintf("inode bitmap of group %d: inode %d marked in use", g, ino))
	return r.p.PutGroupDesc(g, gd, fmt.Sprintf("inode %d in use", ino))
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
	groups := map[uint64]*fcGroup{}
	for _, b := range clear {
		if err := r.setBlockBit(groups, b, false); err != nil {
			return err
		}
	}
	for _, iv := range usedM {
		for b := iv.start; b < iv.end; b++ {
			if err := r.setBlockBit(groups, b, true); err != nil {
				return err
			}
		}
	}
	return r.flushGroups(groups)
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
	itb := sb.InodeTableBlocks()
	var meta []interval
	for g := range sb.GroupCount() {
		gd, err := r.fs.GroupDesc(g)
		if err != nil {
			return err
		}
		first := sb.GroupFirstBlock(g)
		meta = append(meta, interval{first, first + baseMetaBlocks(sb, g), 0},
			interval{gd.BlockBitmap(), gd.BlockBitmap() + 1, 0}, interval{gd.InodeBitmap(), gd.InodeBitmap() + 1, 0},
			interval{gd.InodeTable(), gd.InodeTable() + itb, 0})
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
		bm, err := r.inodeBitmap(g, gd, false)
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
			if err != nil && ino < sb.FirstInode() && ino != RootIno && ino != sb.JournalInum {
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

// fcGroup is one group's block bitmap being changed by the final pass.
type fcGroup struct {
	gd     *super.GroupDesc
	bm     []byte
	uninit bool
	dirty  bool
	delta  int64 // change of the free count
}

func (r *fcReplay) setBlockBit(groups map[uint64]*fcGroup, b uint64, inUse bool) error {
	sb := r.p.SB
	if b < uint64(sb.FirstDataBlock) || b >= sb.BlocksCount() {
		return fcCorrupt("block %d is outside the filesystem", b)
	}
	g, idx := sb.GroupOfBlock(b)
	st, ok := groups[g]
	if !ok {
		gd, err := r.p.GroupDesc(g)
		if err != nil {
			return err
		}
		bm, uninit, err := r.blockBitmap(g, gd, true)
		if err != nil {
			return err
		}
		st = &fcGroup{gd: gd, bm: bm, uninit: uninit}
		groups[g] = st
	}
	if bitmap.Test(st.bm, idx) == inUse {
		return nil
	}
	st.dirty = true
	if inUse {
		bitmap.Set(st.bm, idx)
		st.delta--
	} else {
		bitmap.Clear(st.bm, idx)
		st.delta++
	}
	return nil
}

func (r *fcReplay) flushGroups(groups map[uint64]*fcGroup) error {
	sb := r.p.SB
	var total int64
	for _, g := range slices.Sorted(maps.Keys(groups)) {
		st := groups[g]
		if !st.dirty && !st.uninit {
			continue
		}
		free := int64(st.gd.FreeBlocksCount()) + st.delta
		if free < 0 || free > int64(sb.ClustersPerGroupN()) {
			return super.Errorf(super.ErrCorrupt, fmt.Sprintf("group descriptor %d", g), super.NoBlock, -1,
				"free block count %d would become %d", st.gd.FreeBlocksCount(), free)
		}
		st.gd.SetFreeBlocksCount(uint32(free))
		st.gd.Flags &^= super.BgBlockUninit
		bitmap.SetBlockBitmapChecksum(sb, st.gd, st.bm)
		r.p.Write(st.gd.BlockBitmap(), st.bm, fmt.Sprintf("block bitmap of group %d: blocks of the fast-commit replay", g))
		if err := r.p.PutGroupDesc(g, st.gd, "free block count and bitmap checksum after the fast-commit replay"); err != nil {
			return err
		}
		total += st.delta
	}
	free := int64(sb.FreeBlocksCount()) + total
	if free < 0 {
		free = 0
	}
	sb.SetFreeBlocksCount(uint64(free))
	return nil
}
