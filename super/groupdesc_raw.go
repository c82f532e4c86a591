package super

import "encoding/binary"

// offBgFlags is where bg_flags lies in a group descriptor.
const offBgFlags = 0x12

// RawInodeUninit reports, from group group's descriptor bytes as stored,
// that INODE_UNINIT is set and honoured (group checksums on) and that the
// descriptor's checksum verifies. A scan of every inode table skips such
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
	return descChecksum(sb, group, raw) == le.Uint16(raw[offBgChecksum:])
}
