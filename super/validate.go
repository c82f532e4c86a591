package super

// Validate checks every superblock field ext4relink relies on, in the spirit
// of the kernel's ext4_fill_super checks, and the checksum. It never guesses:
// on any doubt it returns a FormatError naming the field.
func (s *Superblock) Validate() error {
	bad := func(sentinel error, format string, args ...any) error {
		return Errorf(sentinel, "superblock", NoBlock, Offset, format, args...)
	}
	if s.Magic != Magic {
		return bad(ErrCorrupt, "bad magic %#04x (want %#04x): not an ext2/3/4 filesystem, or the primary superblock is destroyed", s.Magic, Magic)
	}
	if s.HasMetadataCsum() && s.ChecksumType != 1 {
		return bad(ErrCorrupt, "s_checksum_type %d is not crc32c", s.ChecksumType)
	}
	if !s.VerifyChecksum() {
		return bad(ErrChecksum, "checksum %#08x does not match contents (computed %#08x)", s.Csum, s.Checksum())
	}
	if err := s.CheckRead(); err != nil {
		return err
	}
	if s.RevLevel > 1 {
		return bad(ErrUnsupported, "revision level %d is newer than any known (1)", s.RevLevel)
	}
	if s.LogBlockSize > 6 {
		return bad(ErrCorrupt, "s_log_block_size %d gives a block size over 64 KiB", s.LogBlockSize)
	}
	bs := s.BlockSize()
	if err := s.validateClusters(bad); err != nil {
		return err
	}
	wantFirst := uint32(0)
	if bs == 1024 && s.ClusterBits() == 0 {
		wantFirst = 1
	}
	if s.FirstDataBlock != wantFirst {
		return bad(ErrCorrupt, "s_first_data_block %d, expected %d for %d-byte blocks", s.FirstDataBlock, wantFirst, bs)
	}
	if s.BlocksPerGroup == 0 || s.BlocksPerGroup > 8*bs<<s.ClusterBits() || s.BlocksPerGroup%8 != 0 {
		return bad(ErrCorrupt, "s_blocks_per_group %d is out of range for %d-byte blocks", s.BlocksPerGroup, bs)
	}
	if s.BlocksCount() <= uint64(s.FirstDataBlock) {
		return bad(ErrCorrupt, "s_blocks_count %d is not past s_first_data_block", s.BlocksCount())
	}
	if err := s.validateInodes(bad); err != nil {
		return err
	}
	if s.Is64Bit() {
		d := s.DescSize
		if d < GroupDescSize32 || d > 1024 || d&(d-1) != 0 {
			return bad(ErrCorrupt, "s_desc_size %d is not a power of two between 32 and 1024", d)
		}
	}
	if s.HasIncompat(IncompatMetaBG) && uint64(s.FirstMetaBg) > s.GroupCount() {
		return bad(ErrCorrupt, "s_first_meta_bg %d is beyond the %d groups", s.FirstMetaBg, s.GroupCount())
	}
	if s.HasIncompat(IncompatFlexBG) && s.LogGroupsPerFlex > 30 {
		return bad(ErrCorrupt, "s_log_groups_per_flex %d is absurd", s.LogGroupsPerFlex)
	}
	return nil
}

func (s *Superblock) validateClusters(bad func(error, string, ...any) error) error {
	if !s.HasRoCompat(RoCompatBigalloc) {
		if s.LogClusterSize != s.LogBlockSize && s.LogClusterSize != 0 {
			return bad(ErrCorrupt, "s_log_cluster_size %d differs from s_log_block_size %d without bigalloc", s.LogClusterSize, s.LogBlockSize)
		}
		return nil
	}
	if s.LogClusterSize < s.LogBlockSize || s.LogClusterSize-s.LogBlockSize > 16 {
		return bad(ErrCorrupt, "s_log_cluster_size %d is invalid for s_log_block_size %d", s.LogClusterSize, s.LogBlockSize)
	}
	if s.ClustersPerGroup == 0 || s.ClustersPerGroup > 8*s.BlockSize() ||
		uint64(s.ClustersPerGroup)<<s.ClusterBits() != uint64(s.BlocksPerGroup) {
		return bad(ErrCorrupt, "s_clusters_per_group %d does not match s_blocks_per_group %d", s.ClustersPerGroup, s.BlocksPerGroup)
	}
	return nil
}

func (s *Superblock) validateInodes(bad func(error, string, ...any) error) error {
	bs := s.BlockSize()
	isz := s.InodeSizeBytes()
	if isz < 128 || isz > bs || isz&(isz-1) != 0 {
		return bad(ErrCorrupt, "s_inode_size %d is not a power of two between 128 and the block size", isz)
	}
	if s.InodesPerGroup == 0 || s.InodesPerGroup > 8*bs || s.InodesPerGroup%(bs/isz) != 0 && s.InodesPerGroup > bs/isz {
		return bad(ErrCorrupt, "s_inodes_per_group %d is out of range", s.InodesPerGroup)
	}
	if uint64(s.InodesCount) != uint64(s.InodesPerGroup)*s.GroupCount() {
		return bad(ErrCorrupt, "s_inodes_count %d is not s_inodes_per_group %d times %d groups", s.InodesCount, s.InodesPerGroup, s.GroupCount())
	}
	if s.FirstInode() < 11 || s.FirstInode() >= s.InodesCount {
		return bad(ErrCorrupt, "s_first_ino %d is out of range", s.FirstInode())
	}
	if isz > 128 && s.HasRoCompat(RoCompatExtraIsize) && (uint32(s.MinExtraIsize) > isz-128 || uint32(s.WantExtraIsize) > isz-128) {
		return bad(ErrCorrupt, "s_min_extra_isize %d / s_want_extra_isize %d exceed the inode size", s.MinExtraIsize, s.WantExtraIsize)
	}
	if s.FreeInodesCount > s.InodesCount {
		return bad(ErrCorrupt, "s_free_inodes_count %d exceeds s_inodes_count %d", s.FreeInodesCount, s.InodesCount)
	}
	return nil
}
