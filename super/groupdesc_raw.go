package super

import "encoding/binary"

// Offsets of the fields RawInodeUninit reads.
const (
	offBgFlags      = 0x12 // bg_flags
	offFreeInodesLo = 0x0E // bg_free_inodes_count_lo
	offFreeInodesHi = 0x2E // bg_free_inodes_count_hi (64-byte descriptors)
)

// RawInodeUninit reports, from group group's descriptor bytes as stored,
// that INODE_UNINIT is set and honoured (group checksums on), that every
// inode of the group is counted free (as ext4_read_inode_bitmap requires)
// and that the descriptor's checksum verifies. A scan of every inode table skips such
// groups (most of a large filesystem) without decoding their descriptors;
// false means: decode and validate it as usual.
func RawInodeUninit(sb *Superblock, group uint32, raw []byte) bool {
	if !sb.HasGroupCsum() || len(raw) < offBgChecksum+2 {
		return false
	}
	le := binary.LittleEndian
	if le.Uint16(raw[offBgFlags:])&BgInodeUninit == 0 {
		return false
	}
	free := uint32(le.Uint16(raw[offFreeInodesLo:]))
	if len(raw) >= GroupDescSize64 {
		free |= uint32(le.Uint16(raw[offFreeInodesHi:])) << 16
	}
	if free != sb.InodesPerGroup {
		return false // the full path reports the contradiction
	}
	return descChecksum(sb, group, raw) == le.Uint16(raw[offBgChecksum:])
}
