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
	if g.Desc.Flags&super.BgBlockUninit != 0 {
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
