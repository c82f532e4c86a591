package ext4fs

import (
	"fmt"
	"slices"

	"github.com/ext4relink/ext4relink/bitmap"
	"github.com/ext4relink/ext4relink/super"
)

// ReadInodeBitmap returns group g's inode bitmap read through read (the
// device, the replay or a Tx), verified; for an INODE_UNINIT group, the
// all-free bitmap ext4_read_inode_bitmap makes, after checking that the
// descriptor agrees. Planning and the fast-commit replay both use it.
func ReadInodeBitmap(sb *super.Superblock, g uint64, gd *super.GroupDesc, read func(uint64) ([]byte, error)) ([]byte, error) {
	bs := uint64(sb.BlockSize())
	if sb.InodeUninit(gd) {
		if gd.FreeInodesCount() != sb.InodesPerGroup {
			return nil, super.Errorf(super.ErrCorrupt, fmt.Sprintf("group descriptor %d", g), super.NoBlock, -1,
				"INODE_UNINIT but %d of %d inodes free", gd.FreeInodesCount(), sb.InodesPerGroup)
		}
		bm := make([]byte, bs)
		for i := uint64(sb.InodesPerGroup); i < bs*8; i++ {
			bitmap.Set(bm, i)
		}
		return bm, nil
	}
	b, err := read(gd.InodeBitmap())
	if err != nil {
		return nil, err
	}
	bm := slices.Clone(b)
	if !bitmap.VerifyInodeBitmap(sb, gd, bm) {
		return nil, super.Errorf(super.ErrChecksum, fmt.Sprintf("inode bitmap of group %d", g), gd.InodeBitmap(), -1,
			"checksum does not match the group descriptor's")
	}
	return bm, nil
}
