package super

import (
	"encoding/binary"
	"hash/crc32"
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Crc32c is the kernel's crc32c(seed, b): the raw CRC32C register update,
// without the final inversion that hash/crc32 applies.
func Crc32c(seed uint32, b []byte) uint32 {
	return ^crc32.Update(^seed, castagnoli, b)
}

// Crc32cLE32 feeds a little-endian uint32 (an inode or group number) into the CRC.
func Crc32cLE32(seed uint32, v uint32) uint32 {
	var b [4]byte
	binary.LittleEndian.PutUint32(b[:], v)
	return Crc32c(seed, b[:])
}

var crc16Table = func() (t [256]uint16) {
	for i := range t {
		c := uint16(i)
		for range 8 {
			if c&1 != 0 {
				c = c>>1 ^ 0xA001
			} else {
				c >>= 1
			}
		}
		t[i] = c
	}
	return
}()

// Crc16 is the CRC-16 (polynomial 0x8005, reflected) that e2fsprogs' ext2fs_crc16
// and the kernel's crc16 compute; it protects group descriptors under gdt_csum.
func Crc16(crc uint16, b []byte) uint16 {
	for _, c := range b {
		crc = crc>>8 ^ crc16Table[byte(crc)^c]
	}
	return crc
}
