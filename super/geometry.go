package super

// Geometry: where groups, descriptors and inodes live. These are pure
// functions of a validated superblock.

// DescPerBlock is the number of group descriptors in one block.
func (s *Superblock) DescPerBlock() uint64 {
	return uint64(s.BlockSize() / s.DescSizeBytes())
}

// GroupFirstBlock is ext4_group_first_block_no.
func (s *Superblock) GroupFirstBlock(g uint64) uint64 {
	return uint64(s.FirstDataBlock) + g*uint64(s.BlocksPerGroup)
}

// GroupOfBlock returns the group holding block b and b's index inside it.
func (s *Superblock) GroupOfBlock(b uint64) (group, index uint64) {
	b -= uint64(s.FirstDataBlock)
	return b / uint64(s.BlocksPerGroup), b % uint64(s.BlocksPerGroup)
}

// GroupOfInode returns the group of inode ino (1-based) and its index in that group.
func (s *Superblock) GroupOfInode(ino uint32) (group uint64, index uint32) {
	return uint64((ino - 1) / s.InodesPerGroup), (ino - 1) % s.InodesPerGroup
}

// GroupHasSuper is ext4_bg_has_super: does group g carry a superblock copy
// (and so the group descriptor table or meta_bg descriptor backups)?
func (s *Superblock) GroupHasSuper(g uint64) bool {
	if g == 0 {
		return true
	}
	if s.HasCompat(CompatSparseSuper2) {
		return g == uint64(s.BackupBgs[0]) || g == uint64(s.BackupBgs[1])
	}
	if g <= 1 || !s.HasRoCompat(RoCompatSparseSuper) {
		return true
	}
	if g&1 == 0 {
		return false
	}
	return isPower(g, 3) || isPower(g, 5) || isPower(g, 7)
}

func isPower(n, base uint64) bool {
	for n%base == 0 {
		n /= base
	}
	return n == 1
}

// DescLocation returns the block holding group g's descriptor and the byte
// offset inside it, as the kernel's descriptor_loc computes it (including
// meta_bg, where each meta group keeps its descriptor block in its own first
// group).
func (s *Superblock) DescLocation(g uint64) (block uint64, off uint32) {
	per := s.DescPerBlock()
	nr := g / per
	off = uint32(g%per) * s.DescSizeBytes()
	if !s.HasIncompat(IncompatMetaBG) || nr < uint64(s.FirstMetaBg) {
		return uint64(s.FirstDataBlock) + 1 + nr, off
	}
	first := nr * per
	block = s.GroupFirstBlock(first)
	if s.GroupHasSuper(first) {
		block++
	}
	return block, off
}

// InodeLocation returns the block and byte offset of inode ino given its
// group's inode table start.
func (s *Superblock) InodeLocation(ino uint32, inodeTable uint64) (block uint64, off uint32) {
	_, idx := s.GroupOfInode(ino)
	isz := s.InodeSizeBytes()
	perBlock := s.BlockSize() / isz
	return inodeTable + uint64(idx/perBlock), (idx % perBlock) * isz
}

// ClustersPerGroupN is the number of bitmap bits in a block bitmap.
func (s *Superblock) ClustersPerGroupN() uint32 {
	if s.HasRoCompat(RoCompatBigalloc) {
		return s.ClustersPerGroup
	}
	return s.BlocksPerGroup
}

// BlocksInGroup is the number of blocks group g spans (the last one may be short).
func (s *Superblock) BlocksInGroup(g uint64) uint64 {
	if g+1 < s.GroupCount() {
		return uint64(s.BlocksPerGroup)
	}
	return s.BlocksCount() - s.GroupFirstBlock(g)
}

// InodeTableBlocks is the size in blocks of one group's inode table.
func (s *Superblock) InodeTableBlocks() uint64 {
	bs := uint64(s.BlockSize())
	return (uint64(s.InodesPerGroup)*uint64(s.InodeSizeBytes()) + bs - 1) / bs
}

// BlockUninit and InodeUninit report whether group descriptor gd's
// BLOCK_UNINIT / INODE_UNINIT flag counts: the kernel honours them only
// when group descriptors carry checksums (ext4_has_group_desc_csum).
func (s *Superblock) BlockUninit(gd *GroupDesc) bool {
	return s.HasGroupCsum() && gd.Flags&BgBlockUninit != 0
}

// InodeUninit: see BlockUninit.
func (s *Superblock) InodeUninit(gd *GroupDesc) bool {
	return s.HasGroupCsum() && gd.Flags&BgInodeUninit != 0
}
