package inode

import "encoding/binary"

// Offsets of the fields Peek reads (struct ext4_inode).
const (
	offMode       = 0x00 // i_mode
	offLinksCount = 0x1A // i_links_count
)

// Glance is the three fields a scan of whole inode tables for orphans
// looks at first: most in-use inodes are ruled out by these alone, without
// decoding (or checksumming) the record.
type Glance struct {
	Mode       uint16 // i_mode
	LinksCount uint16 // i_links_count
	Dtime      uint32 // i_dtime (an orphan chain link on the chain)
}

// Peek reads the Glance fields of the on-disk inode at the start of b; ok
// is false when b is shorter than the 128-byte base every inode has.
func Peek(b []byte) (g Glance, ok bool) {
	if len(b) < GoodOldSize {
		return Glance{}, false
	}
	le := binary.LittleEndian
	return Glance{
		Mode:       le.Uint16(b[offMode:]),
		LinksCount: le.Uint16(b[offLinksCount:]),
		Dtime:      le.Uint32(b[OffsetDtime:]),
	}, true
}
