package bitmap

import (
	"fmt"

	"github.com/ext4relink/ext4relink/super"
)

// Group is one block group's allocation state as the engine loaded it.
type Group struct {
	Num         uint64
	Desc        *super.GroupDesc
	BlockBitmap []byte // one block; nil if not loaded
}

// AllocBlock marks the cluster holding block blk in use and updates, in one
// step, everything that must agree with the bitmap: the group's free count,
// the BLOCK_UNINIT flag, the bitmap checksum, the descriptor checksum, and
// the superblock's free count. It refuses (without changing anything) a
// block outside the group, a cluster already in use, or a group whose
// bitmap is uninitialised on disk.
func AllocBlock(sb *super.Superblock, g *Group, blk uint64) error {
	return blockStats(sb, g, blk, +1)
}

// FreeBlock is the inverse of AllocBlock.
func FreeBlock(sb *super.Superblock, g *Group, blk uint64) error {
	return blockStats(sb, g, blk, -1)
}

func blockStats(sb *super.Superblock, g *Group, blk uint64, delta int) error {
	grp, idx := sb.GroupOfBlock(blk)
	where := fmt.Sprintf("block bitmap of group %d", g.Num)
	if grp != g.Num {
		return super.Errorf(super.ErrCorrupt, where, g.Desc.BlockBitmap(), -1, "block %d belongs to group %d", blk, grp)
	}
	if sb.BlockUninit(g.Desc) {
		return super.Errorf(super.ErrUnsupported, where, g.Desc.BlockBitmap(), -1, "group is BLOCK_UNINIT; allocating in it is not supported")
	}
	bit := idx >> sb.ClusterBits()
	if Test(g.BlockBitmap, bit) == (delta > 0) {
		return super.Errorf(super.ErrCorrupt, where, g.Desc.BlockBitmap(), int64(bit/8), "cluster of block %d is already %s", blk, map[bool]string{true: "in use", false: "free"}[delta > 0])
	}
	free := g.Desc.FreeBlocksCount()
	if delta > 0 && free == 0 {
		return super.Errorf(super.ErrCorrupt, "group descriptor "+fmt.Sprint(g.Num), super.NoBlock, -1, "free block count is 0 but the bitmap has a free bit")
	}
	// The group counts clusters, the superblock blocks (as e2fsprogs'
	// ext2fs_block_alloc_stats2 multiplies by the cluster ratio).
	perCluster := uint64(1) << sb.ClusterBits()
	if delta > 0 {
		Set(g.BlockBitmap, bit)
		g.Desc.SetFreeBlocksCount(free - 1)
		sb.SetFreeBlocksCount(sb.FreeBlocksCount() - perCluster)
	} else {
		Clear(g.BlockBitmap, bit)
		g.Desc.SetFreeBlocksCount(free + 1)
		sb.SetFreeBlocksCount(sb.FreeBlocksCount() + perCluster)
	}
	SetBlockBitmapChecksum(sb, g.Desc, g.BlockBitmap)
	g.Desc.SetChecksum(sb, uint32(g.Num))
	sb.SetChecksum()
	return nil
}

// MarkBlocks sets the clusters holding blks (all in group g) in use or
// free, leaving alone those already so, and then updates what must agree
// with the bitmap as AllocBlock does, once for the whole batch: the
// group's free count, BLOCK_UNINIT (cleared), the bitmap and descriptor
// checksums, the superblock's free count (clamped at 0: a summary the
// kernel recomputes at mount). It returns how many clusters changed. It
// refuses, changing nothing, a block outside the group or a free count
// that would leave [0, clusters per group]. A BLOCK_UNINIT group's bitmap
// must have been initialised by the caller (the flag is then cleared).
func MarkBlocks(sb *super.Superblock, g *Group, blks []uint64, inUse bool) (int, error) {
	bits := map[uint64]bool{}
	for _, blk := range blks {
		grp, idx := sb.GroupOfBlock(blk)
		if grp != g.Num {
			return 0, super.Errorf(super.ErrCorrupt, fmt.Sprintf("block bitmap of group %d", g.Num), g.Desc.BlockBitmap(), -1, "block %d belongs to group %d", blk, grp)
		}
		if bit := idx >> sb.ClusterBits(); Test(g.BlockBitmap, bit) != inUse {
			bits[bit] = true
		}
	}
	delta := int64(len(bits))
	if inUse {
		delta = -delta
	}
	free := int64(g.Desc.FreeBlocksCount()) + delta
	if free < 0 || free > int64(sb.ClustersPerGroupN()) {
		return 0, super.Errorf(super.ErrCorrupt, fmt.Sprintf("group descriptor %d", g.Num), super.NoBlock, -1,
			"free block count %d would become %d", g.Desc.FreeBlocksCount(), free)
	}
	for bit := range bits {
		if inUse {
			Set(g.BlockBitmap, bit)
		} else {
			Clear(g.BlockBitmap, bit)
		}
	}
	g.Desc.SetFreeBlocksCount(uint32(free))
	g.Desc.Flags &^= super.BgBlockUninit
	sbFree := int64(sb.FreeBlocksCount()) + delta<<sb.ClusterBits()
	sb.SetFreeBlocksCount(uint64(max(sbFree, 0)))
	SetBlockBitmapChecksum(sb, g.Desc, g.BlockBitmap)
	g.Desc.SetChecksum(sb, uint32(g.Num))
	sb.SetChecksum()
	return len(bits), nil
}

// FindFree finds a free cluster in the group at or after goal (wrapping), and
// returns the first block of that cluster. BLOCK_UNINIT groups are skipped by
// the caller.
func FindFree(sb *super.Superblock, g *Group, goal uint64) (uint64, bool) {
	first := sb.GroupFirstBlock(g.Num)
	nbits := sb.BlocksInGroup(g.Num) >> sb.ClusterBits()
	from := uint64(0)
	if goal >= first {
		from = (goal - first) >> sb.ClusterBits()
	}
	if from >= nbits {
		from = 0
	}
	bit, ok := FindZero(g.BlockBitmap, from, nbits)
	if !ok {
		return 0, false
	}
	return first + bit<<sb.ClusterBits(), true
}

// AllocInode is the bookkeeping of ext4_mark_inode_used for inode index
// idx (0-based) of group g, whose inode bitmap is bm: it sets the bit, and
// with group checksums clears INODE_UNINIT and keeps bg_itable_unused
// above the inode; it counts the inode as used in the group (a directory
// also in bg_used_dirs_count) and in the superblock's summary, and sets
// the bitmap and descriptor checksums. It refuses, changing nothing, an
// inode already in use or a group whose free count is already 0. A
// BLOCK_UNINIT group's block bitmap must be initialised by the caller first.
func AllocInode(sb *super.Superblock, g uint64, gd *super.GroupDesc, bm []byte, idx uint32, isDir bool) error {
	where := fmt.Sprintf("inode bitmap of group %d", g)
	if Test(bm, uint64(idx)) {
		return super.Errorf(super.ErrCorrupt, where, gd.InodeBitmap(), int64(idx/8), "inode %d is already in use", g*uint64(sb.InodesPerGroup)+uint64(idx)+1)
	}
	if gd.FreeInodesCount() == 0 {
		return super.Errorf(super.ErrCorrupt, fmt.Sprintf("group descriptor %d", g), super.NoBlock, -1,
			"inode %d is marked free but the free inode count is 0", g*uint64(sb.InodesPerGroup)+uint64(idx)+1)
	}
	Set(bm, uint64(idx))
	if sb.HasGroupCsum() {
		free := sb.InodesPerGroup - min(gd.ItableUnused(), sb.InodesPerGroup)
		if gd.Flags&super.BgInodeUninit != 0 {
			gd.Flags &^= super.BgInodeUninit
			free = 0
		}
		if idx >= free {
			gd.SetItableUnused(sb.InodesPerGroup - idx - 1)
		}
	}
	gd.SetFreeInodesCount(gd.FreeInodesCount() - 1)
	if isDir {
		gd.SetUsedDirsCount(gd.UsedDirsCount() + 1)
	}
	if sb.FreeInodesCount > 0 { // a summary the kernel recomputes at mount
		sb.FreeInodesCount--
	}
	SetInodeBitmapChecksum(sb, gd, bm)
	gd.SetChecksum(sb, uint32(g))
	return nil
}
