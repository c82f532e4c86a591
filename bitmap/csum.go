package bitmap

import "github.com/ext4relink/ext4relink/super"

// BlockBitmapChecksum is ext4_block_bitmap_csum: crc32c(fs seed) over the
// clusters_per_group/8 bytes of the block bitmap.
func BlockBitmapChecksum(sb *super.Superblock, bm []byte) uint32 {
	n := min(int(sb.ClustersPerGroupN()/8), len(bm))
	return super.Crc32c(sb.CsumSeed(), bm[:n])
}

// InodeBitmapChecksum is ext4_inode_bitmap_csum: crc32c(fs seed) over the
// inodes_per_group/8 bytes of the inode bitmap.
func InodeBitmapChecksum(sb *super.Superblock, bm []byte) uint32 {
	n := min(int(sb.InodesPerGroup/8), len(bm))
	return super.Crc32c(sb.CsumSeed(), bm[:n])
}

// VerifyBlockBitmap checks the block bitmap against the descriptor's
// stored checksum; true without metadata_csum or for a BLOCK_UNINIT group
// (whose on-disk bitmap is never read).
func VerifyBlockBitmap(sb *super.Superblock, gd *super.GroupDesc, bm []byte) bool {
	if !sb.HasMetadataCsum() || gd.Flags&super.BgBlockUninit != 0 {
		return true
	}
	m := gd.BitmapCsumMask()
	return BlockBitmapChecksum(sb, bm)&m == gd.BlockBitmapCsum()&m
}

// VerifyInodeBitmap checks the inode bitmap like VerifyBlockBitmap.
func VerifyInodeBitmap(sb *super.Superblock, gd *super.GroupDesc, bm []byte) bool {
	if !sb.HasMetadataCsum() || gd.Flags&super.BgInodeUninit != 0 {
		return true
	}
	m := gd.BitmapCsumMask()
	return InodeBitmapChecksum(sb, bm)&m == gd.InodeBitmapCsum()&m
}

// SetBlockBitmapChecksum stores the block bitmap checksum in the descriptor.
func SetBlockBitmapChecksum(sb *super.Superblock, gd *super.GroupDesc, bm []byte) {
	if sb.HasMetadataCsum() {
		gd.SetBlockBitmapCsum(BlockBitmapChecksum(sb, bm))
	}
}

// SetInodeBitmapChecksum stores the inode bitmap checksum in the descriptor.
func SetInodeBitmapChecksum(sb *super.Superblock, gd *super.GroupDesc, bm []byte) {
	if sb.HasMetadataCsum() {
		gd.SetInodeBitmapCsum(InodeBitmapChecksum(sb, bm))
	}
}
