package fastcommit

import (
	"errors"
	"fmt"
	"slices"

	"github.com/ext4relink/ext4relink/ext4fs"
	"github.com/ext4relink/ext4relink/inode"
	"github.com/ext4relink/ext4relink/internal/devio"
	"github.com/ext4relink/ext4relink/journal"
)

// ADD_RANGE and DEL_RANGE: the extent list of the inode is edited (e2fsck's
// ext4_modify_extent_list: punch the range, add the new extent, sort and
// merge), then the extent tree is rewritten from it (rewrite_extent_tree)
// unless the list did not change.

// maxLblk is EXT_MAX_BLOCKS: no extent reaches past it.
const maxLblk = 1<<32 - 1

// fcExtent is one extent of the list: [lblk, lblk+n) at [pblk, pblk+n).
type fcExtent struct {
	lblk, n, pblk uint64
	unwritten     bool
}

func (e fcExtent) end() uint64 { return e.lblk + e.n }

// rangeInode loads the inode a range record changes. The kernel silently
// skips a record whose inode it cannot iget (no links, bad checksum) while
// e2fsck applies it; such records, and inodes that are not extent-mapped
// files, are refused.
func (r *fcReplay) rangeInode(ino uint32) (*inode.Inode, error) {
	if ino < r.p.SB.FirstInode() && ino != ext4fs.RootIno || ino > r.p.SB.InodesCount {
		return nil, fcCorrupt("inode %d is out of range or reserved", ino)
	}
	used, err := r.inodeInUse(r.p, ino)
	if err != nil {
		return nil, err
	}
	if !used {
		return nil, fcUnsupported("inode %d is not in use: the kernel skips the record and e2fsck applies it", ino)
	}
	in, _, err := r.p.Inode(ino)
	if err != nil {
		return nil, fmt.Errorf("inode %d cannot be validated (the kernel would skip the record, e2fsck apply it): %w", ino, err)
	}
	switch {
	case in.LinksCount == 0:
		return nil, fcUnsupported("inode %d has no links (deleted, or an orphan): the kernel skips the record and e2fsck applies it", ino)
	case !in.HasExtents() || in.HasInlineData():
		return nil, fcUnsupported("inode %d is not extent-mapped; neither the kernel nor e2fsck replays ranges of such inodes", ino)
	case !in.IsReg() && !in.IsDir() && !in.IsSymlink():
		return nil, fcCorrupt("inode %d (mode %#o) has no data blocks", ino, in.Mode)
	}
	if err := r.touch(ino); err != nil {
		return nil, err
	}
	return in, nil
}

// extentList reads the inode's current extents (through the plan) and its
// extent tree blocks.
func (r *fcReplay) extentList(ino uint32, in *inode.Inode) ([]fcExtent, []uint64, error) {
	m, err := r.p.ReadMap(ino, in)
	if err != nil {
		return nil, nil, err
	}
	var out []fcExtent
	for _, rn := range m.Runs {
		out = append(out, fcExtent{uint64(rn.Logical), uint64(rn.Len), rn.Physical, rn.Unwritten})
	}
	return out, m.Meta, nil
}

// punch removes [lblk, end) from the list and returns what it removed.
func punch(list []fcExtent, lblk, end uint64) (kept, removed []fcExtent) {
	for _, e := range list {
		if e.end() <= lblk || e.lblk >= end {
			kept = append(kept, e)
			continue
		}
		if e.lblk < lblk {
			kept = append(kept, fcExtent{e.lblk, lblk - e.lblk, e.pblk, e.unwritten})
		}
		if e.end() > end {
			off := end - e.lblk
			kept = append(kept, fcExtent{end, e.end() - end, e.pblk + off, e.unwritten})
		}
		from, to := max(e.lblk, lblk), min(e.end(), end)
		removed = append(removed, fcExtent{from, to - from, e.pblk + from - e.lblk, e.unwritten})
	}
	return kept, removed
}

// normalize sorts the list, merges extents that continue each other
// (logically and physically, same state) and splits those longer than an
// extent can be (32768 blocks written, 32767 unwritten).
func normalize(list []fcExtent) []fcExtent {
	l := slices.Clone(list)
	slices.SortFunc(l, func(a, b fcExtent) int {
		switch {
		case a.lblk < b.lblk:
			return -1
		case a.lblk > b.lblk:
			return 1
		}
		return 0
	})
	var m []fcExtent
	for _, e := range l {
		if e.n == 0 {
			continue
		}
		if k := len(m) - 1; k >= 0 && m[k].end() == e.lblk && m[k].pblk+m[k].n == e.pblk && m[k].unwritten == e.unwritten {
			m[k].n += e.n
			continue
		}
		m = append(m, e)
	}
	var out []fcExtent
	for _, e := range m {
		limit := uint64(inode.InitMaxLen)
		if e.unwritten {
			limit = inode.UnwrittenMaxLen
		}
		for e.n > limit {
			out = append(out, fcExtent{e.lblk, limit, e.pblk, e.unwritten})
			e.lblk, e.pblk, e.n = e.lblk+limit, e.pblk+limit, e.n-limit
		}
		out = append(out, e)
	}
	return out
}

func (r *fcReplay) addRange(t journal.FCTag) error {
	return r.editRange(t, func(kept []fcExtent) []fcExtent {
		return append(kept, fcExtent{uint64(t.LBlk), uint64(t.Count), t.PBlk, t.Unwritten})
	})
}

func (r *fcReplay) delRange(t journal.FCTag) error {
	return r.editRange(t, func(kept []fcExtent) []fcExtent { return kept })
}

// editRange applies a range record: the logical range is punched out of
// the inode's extent list, then fill gives the list to write (ADD_RANGE
// maps the range anew, DEL_RANGE leaves it a hole).
func (r *fcReplay) editRange(t journal.FCTag, fill func(kept []fcExtent) []fcExtent) error {
	if t.Count == 0 || uint64(t.LBlk)+uint64(t.Count) > maxLblk {
		return fcCorrupt("logical range [%d,+%d) is empty or past the largest file", t.LBlk, t.Count)
	}
	in, err := r.rangeInode(t.Ino)
	if err != nil {
		return err
	}
	old, meta, err := r.extentList(t.Ino, in)
	if err != nil {
		return err
	}
	kept, removed := punch(old, uint64(t.LBlk), uint64(t.LBlk)+uint64(t.Count))
	return r.rewriteExtents(t.Ino, in, old, fill(kept), removed, meta)
}

// rewriteExtents stores the new extent list of inode ino. Directory blocks
// are metadata that the fast commit does not carry, so a directory's
// mapping may not change.
func (r *fcReplay) rewriteExtents(ino uint32, in *inode.Inode, old, next, removed []fcExtent, meta []uint64) error {
	next = normalize(next)
	if slices.Equal(normalize(old), next) {
		return nil // already applied
	}
	if in.IsDir() {
		return fcUnsupported("directory inode %d: its block mapping would change, but directory blocks are not in the fast commit (their content is lost)", ino)
	}
	for _, e := range removed {
		r.freed = append(r.freed, interval{e.pblk, e.pblk + e.n, ino})
	}
	if err := r.buildTree(ino, in, next, meta); err != nil {
		return err
	}
	if err := r.setIBlocks(ino, in); err != nil {
		return err
	}
	return r.p.PutInode(ino, in, "extent tree rewritten by the fast-commit replay")
}

// buildTree writes the extent tree for list (normalized): in the inode when
// it fits, else in tree blocks, reusing the inode's old tree blocks first
// and taking free blocks outside every fast-commit range for the rest. Old
// tree blocks left over are released.
func (r *fcReplay) buildTree(ino uint32, in *inode.Inode, list []fcExtent, oldMeta []uint64) error {
	oldRoot, err := inode.DecodeExtentNode(in.Block[:])
	if err != nil {
		return err
	}
	spans := make([]inode.ExtentSpan, len(list))
	for k, e := range list {
		spans[k] = inode.ExtentSpan{Logical: uint32(e.lblk), Len: uint16(e.n), Physical: e.pblk, Unwritten: e.unwritten}
	}
	tree, err := inode.BuildExtentTree(spans, r.fs.BlockSize())
	if errors.Is(err, inode.ErrTreeTooDeep) {
		return fcUnsupported("inode %d: the extent tree would be deeper than %d levels", ino, inode.MaxExtentDepth)
	}
	if err != nil {
		return err
	}
	goal := uint64(0)
	if len(list) > 0 {
		goal = list[0].pblk
	}
	blocks, err := r.treeBlocks(ino, len(tree.Nodes()), oldMeta, goal)
	if err != nil {
		return err
	}
	mp := r.fs.InodeFS().Params(ino, in)
	root, nodes := tree.Encode(blocks, r.fs.BlockSize(), oldRoot.Header.Generation, mp.Csum, mp.Seed)
	for k, b := range nodes {
		r.p.Write(blocks[k], b, fmt.Sprintf("extent tree of inode %d (fast-commit replay)", ino))
	}
	in.Block = root
	return r.checkTree(ino, in, list, mp)
}

// treeBlocks chooses n blocks for a rebuilt tree. Tree blocks of the home
// filesystem are never rewritten in place (copy on write): should the
// replay be interrupted after some blocks reached the disk, the journal
// replay that follows restores the old inode, whose old tree must still be
// intact. Blocks this replay took itself are reused; new ones come from
// near the data (goal); old home tree blocks are released.
func (r *fcReplay) treeBlocks(ino uint32, n int, oldMeta []uint64, goal uint64) ([]uint64, error) {
	var reuse []uint64
	for _, b := range oldMeta {
		if r.reserved[b] {
			reuse = append(reuse, b)
		} else {
			r.freed = append(r.freed, interval{b, b + 1, ino})
		}
	}
	blocks := make([]uint64, n)
	for k := range blocks {
		if len(reuse) > 0 {
			blocks[k], reuse = reuse[0], reuse[1:]
			continue
		}
		b, err := r.chooseTreeBlock(goal)
		if err != nil {
			return nil, err
		}
		blocks[k] = b
	}
	for _, b := range reuse {
		delete(r.reserved, b) // taken by this replay and no longer needed
	}
	if err := r.p.MarkBlocks(reuse, false, "extent tree blocks the fast-commit replay no longer needs"); err != nil {
		return nil, err
	}
	return blocks, nil
}

// checkTree maps the rebuilt tree back and compares it with list.
func (r *fcReplay) checkTree(ino uint32, in *inode.Inode, list []fcExtent, mp inode.MapParams) error {
	m, err := inode.MapExtents(in.Block[:], mp, r.p.Read)
	if err != nil {
		return fmt.Errorf("%w: the rebuilt extent tree of inode %d does not map: %v", devio.ErrInternal, ino, err)
	}
	if len(m.Runs) != len(list) {
		return fmt.Errorf("%w: the rebuilt extent tree of inode %d maps %d extents, not %d", devio.ErrInternal, ino, len(m.Runs), len(list))
	}
	for k, rn := range m.Runs {
		e := list[k]
		if uint64(rn.Logical) != e.lblk || uint64(rn.Len) != e.n || rn.Physical != e.pblk || rn.Unwritten != e.unwritten {
			return fmt.Errorf("%w: the rebuilt extent tree of inode %d differs at extent %d", devio.ErrInternal, ino, k)
		}
	}
	return nil
}

// chooseTreeBlock takes a block for an extent tree node through the
// allocator: free in the block bitmap, in no fast-commit range (those
// blocks are the replay's data), searching goal's group from its start,
// then the following groups (BLOCK_UNINIT ones initialised).
func (r *fcReplay) chooseTreeBlock(goal uint64) (uint64, error) {
	sb := r.p.SB
	if goal < uint64(sb.FirstDataBlock) || goal >= sb.BlocksCount() {
		goal = uint64(sb.FirstDataBlock)
	}
	g, _ := sb.GroupOfBlock(goal)
	excluded := merged(r.excluded)
	b, err := r.p.AllocBlockFor(ext4fs.AllocRequest{Goal: sb.GroupFirstBlock(g), Why: "an extent tree node", InitUninit: true,
		Avoid: func(b uint64) bool { return covered(excluded, b) }})
	if err != nil {
		return 0, err
	}
	r.reserved[b] = true
	return b, nil
}

// setIBlocks sets i_blocks from the block map as the replay recounts it
// (data and extent tree blocks), plus the extended attribute block.
func (r *fcReplay) setIBlocks(ino uint32, in *inode.Inode) error {
	fsi := r.fs.InodeFS()
	m, err := inode.MapInode(in, fsi, ino, r.p.Read)
	if err != nil {
		return err
	}
	if m.Format == inode.FormatIndirect && (len(m.Runs) > 0 || len(m.Meta) > 0) {
		return fcUnsupported("inode %d maps blocks through indirect blocks; the kernel and e2fsck recount i_blocks of extent trees only", ino)
	}
	n := m.Mapped() + uint64(len(m.Meta))
	if in.FileACL(fsi.Bit64) != 0 {
		n++
	}
	return in.SetBlocks(n*uint64(r.fs.BlockSize()/512), fsi.HugeFile, r.fs.BlockSize())
}
