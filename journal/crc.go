package journal

import (
	"encoding/binary"

	"github.com/ext4relink/ext4relink/super"
)

// crc32BETable is the MSB-first table of the CRC-32 polynomial 0x04C11DB7.
var crc32BETable = func() (t [256]uint32) {
	for i := range t {
		c := uint32(i) << 24
		for range 8 {
			if c&0x80000000 != 0 {
				c = c<<1 ^ 0x04C11DB7
			} else {
				c <<= 1
			}
		}
		t[i] = c
	}
	return
}()

// Crc32BE is the kernel's crc32_be(seed, b): the big-endian (MSB-first)
// CRC-32 register update with no inversion. jbd2's checksum v1
// (JBD2_FEATURE_COMPAT_CHECKSUM) chains it over a transaction's descriptor
// and data blocks, starting from ~0.
func Crc32BE(seed uint32, b []byte) uint32 {
	c := seed
	for _, x := range b {
		c = c<<8 ^ crc32BETable[byte(c>>24)^x]
	}
	return c
}

// CsumSeed is j_csum_seed: crc32c(~0, s_uuid), the seed of every checksum
// v2/v3 computation of a journal.
func CsumSeed(uuid [16]byte) uint32 { return super.Crc32c(^uint32(0), uuid[:]) }

// tailChecksum is the checksum of a descriptor or revoke block: crc32c over
// the whole block with the 4-byte jbd2_journal_block_tail zeroed.
func tailChecksum(seed uint32, b []byte) uint32 {
	if len(b) < TailSize {
		return super.Crc32c(seed, b)
	}
	n := len(b) - TailSize
	c := super.Crc32c(seed, b[:n])
	return super.Crc32c(c, zeroTail[:])
}

var zeroTail [TailSize]byte

// DataChecksum is the checksum a block tag carries for its data block (as
// stored in the log, i.e. escaped): crc32c(j_csum_seed, be32 sequence),
// continued over the block. v2 tags keep its low 16 bits, v3 tags all 32.
func DataChecksum(seed, sequence uint32, data []byte) uint32 {
	var s [4]byte
	binary.BigEndian.PutUint32(s[:], sequence)
	return super.Crc32c(super.Crc32c(seed, s[:]), data)
}
