package inode

import (
	"github.com/ext4relink/ext4relink/super"
)

// CsumSeed is the per-inode checksum seed (ext4_inode_info.i_csum_seed):
// crc32c(fsSeed, le32 ino) continued over le32 generation. fsSeed is the
// superblock's CsumSeed(). Inode, extent block, directory block, xattr
// hash and orphan-file block checksums all start from it.
func CsumSeed(fsSeed, ino, gen uint32) uint32 {
	return super.Crc32cLE32(super.Crc32cLE32(fsSeed, ino), gen)
}

// Seed is CsumSeed for this inode's own generation.
func (i *Inode) Seed(fsSeed, ino uint32) uint32 { return CsumSeed(fsSeed, ino, i.Generation) }

// Checksum computes the inode checksum as ext4_inode_csum does: crc32c from
// the inode's seed over all s_inode_size bytes with l_i_checksum_lo read as
// zero and, when the inode holds it, i_checksum_hi read as zero too. The
// result is masked to 16 bits when the inode has no i_checksum_hi.
// (When the inode is larger than 128 bytes but i_extra_isize < 4, the two
// bytes at 0x82 are hashed as they are: they are not a checksum field.)
func (i *Inode) Checksum(fsSeed, ino uint32) uint32 {
	b := i.Encode()
	b[offChecksumLo], b[offChecksumLo+1] = 0, 0
	hi := i.HasChecksumHi()
	if hi {
		b[offChecksumHi], b[offChecksumHi+1] = 0, 0
	}
	c := super.Crc32c(i.Seed(fsSeed, ino), b)
	if !hi {
		c &= 0xFFFF
	}
	return c
}

// StoredChecksum joins l_i_checksum_lo and (when present) i_checksum_hi.
func (i *Inode) StoredChecksum() uint32 {
	c := uint32(i.ChecksumLo)
	if i.HasChecksumHi() {
		c |= uint32(i.ChecksumHi) << 16
	}
	return c
}

// VerifyChecksum reports whether the stored checksum matches; true when
// metadata_csum is off. Unlike e2fsprogs it does not excuse an all-zero
// inode: the kernel's ext4_inode_csum_verify does not either.
func (i *Inode) VerifyChecksum(sb *super.Superblock, ino uint32) bool {
	return !sb.HasMetadataCsum() || i.Checksum(sb.CsumSeed(), ino) == i.StoredChecksum()
}

// SetChecksum stores the checksum when metadata_csum is on.
func (i *Inode) SetChecksum(sb *super.Superblock, ino uint32) {
	if !sb.HasMetadataCsum() {
		return
	}
	c := i.Checksum(sb.CsumSeed(), ino)
	i.ChecksumLo = uint16(c)
	if i.HasChecksumHi() {
		i.ChecksumHi = uint16(c >> 16)
	}
}
