package ext4fs

import (
	"fmt"

	"github.com/ext4relink/ext4relink/bitmap"
	"github.com/ext4relink/ext4relink/super"
)

// Geometry that needs more than the superblock. What the superblock alone
// decides lives in super/geometry.go: the group of a block or inode
// (GroupOfBlock, GroupOfInode), the inode table size (InodeTableBlocks),
// the uninit policy (BlockUninit, InodeUninit: honoured only with group
// checksums).

// BaseMetaBlocks is ext4_num_base_meta_clusters without bigalloc: the
// superblock copy, group descriptor blocks and reserved GDT blocks at the
// start of group g.
func BaseMetaBlocks(sb *super.Superblock, g uint64) uint64 {
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

// GroupMetadata lists the block ranges [start, end) holding group g's
// metadata: its base metadata (BaseMetaBlocks), block and inode bitmaps
// and inode table.
func GroupMetadata(sb *super.Superblock, g uint64, gd *super.GroupDesc) [][2]uint64 {
	first := sb.GroupFirstBlock(g)
	return [][2]uint64{{first, first + BaseMetaBlocks(sb, g)},
		{gd.BlockBitmap(), gd.BlockBitmap() + 1}, {gd.InodeBitmap(), gd.InodeBitmap() + 1},
		{gd.InodeTable(), gd.InodeTable() + sb.InodeTableBlocks()}}
}

// InitBlockBitmap is ext4_init_block_bitmap: the bitmap of a BLOCK_UNINIT
// group, with the group's own metadata and the bits past its end set. It
// refuses when the result disagrees with the descriptor's free count.
func InitBlockBitmap(sb *super.Superblock, g uint64, gd *super.GroupDesc) ([]byte, error) {
	bs := uint64(sb.BlockSize())
	bm := make([]byte, bs)
	first, n := sb.GroupFirstBlock(g), sb.BlocksInGroup(g)
	for i := range min(BaseMetaBlocks(sb, g), n) {
		bitmap.Set(bm, i)
	}
	for _, iv := range GroupMetadata(sb, g, gd)[1:] {
		for b := iv[0]; b < iv[1]; b++ {
			if b >= first && b < first+n {
				bitmap.Set(bm, b-first)
			}
		}
	}
	for i := n; i < bs*8; i++ {
		bitmap.Set(bm, i)
	}
	if free := bitmap.CountZero(bm, n); free != uint64(gd.FreeBlocksCount()) {
		return nil, super.Errorf(super.ErrCorrupt, fmt.Sprintf("group descriptor %d", g), super.NoBlock, -1,
			"BLOCK_UNINIT, but its initialised bitmap would have %d free blocks and the descriptor says %d", free, gd.FreeBlocksCount())
	}
	return bm, nil
}
