// Package bitmap handles ext4 block and inode bitmaps: bit operations, their
// crc32c checksums (stored in the group descriptor), and the single
// bookkeeping function through which every allocation change goes, keeping
// bitmap, group descriptor counters, flags, checksums and the superblock's
// free count consistent (as e2fsprogs' alloc_stats.c does).
package bitmap

// Test reports whether bit i is set. Out-of-range bits read as set, so a
// caller that asks about a bit past the bitmap never treats it as free.
func Test(b []byte, i uint64) bool {
	if i/8 >= uint64(len(b)) {
		return true
	}
	return b[i/8]&(1<<(i%8)) != 0
}

// Set sets bit i; it reports false when i is out of range.
func Set(b []byte, i uint64) bool {
	if i/8 >= uint64(len(b)) {
		return false
	}
	b[i/8] |= 1 << (i % 8)
	return true
}

// Clear clears bit i; it reports false when i is out of range.
func Clear(b []byte, i uint64) bool {
	if i/8 >= uint64(len(b)) {
		return false
	}
	b[i/8] &^= 1 << (i % 8)
	return true
}

// FindZero returns the first clear bit in [from, to), searching from from
// and wrapping to 0, like the kernel's goal-directed search within a group.
func FindZero(b []byte, from, to uint64) (uint64, bool) {
	to = min(to, uint64(len(b))*8)
	for _, r := range [][2]uint64{{from, to}, {0, min(from, to)}} {
		for i := r[0]; i < r[1]; i++ {
			if !Test(b, i) {
				return i, true
			}
		}
	}
	return 0, false
}

// CountZero counts clear bits in [0, n).
func CountZero(b []byte, n uint64) uint64 {
	var c uint64
	for i := uint64(0); i < n; i++ {
		if !Test(b, i) {
			c++
		}
	}
	return c
}
