package dirent

import (
	"math/bits"

	"github.com/ext4relink/ext4relink/super"
)

// Directory hash versions: dx_root_info.hash_version and s_def_hash_version
// (DX_HASH_*). The on-disk root only holds the first three (or SipHash); the
// unsigned variants are selected by the superblock's s_flags.
const (
	HashLegacy          = 0 // DX_HASH_LEGACY: dx_hack_hash over signed chars
	HashHalfMD4         = 1 // DX_HASH_HALF_MD4
	HashTea             = 2 // DX_HASH_TEA
	HashLegacyUnsigned  = 3 // DX_HASH_LEGACY_UNSIGNED
	HashHalfMD4Unsigned = 4 // DX_HASH_HALF_MD4_UNSIGNED
	HashTeaUnsigned     = 5 // DX_HASH_TEA_UNSIGNED
	HashSiphash         = 6 // DX_HASH_SIPHASH: casefolded + encrypted directories
)

// Superblock s_flags bits that choose the char signedness of the hashes.
const (
	FlagsSignedHash   = 0x1 // EXT2_FLAGS_SIGNED_HASH
	FlagsUnsignedHash = 0x2 // EXT2_FLAGS_UNSIGNED_HASH
)

// htreeEOF32 is EXT4_HTREE_EOF_32BIT: the hash value reserved for end of directory.
const htreeEOF32 = 0x7fffffff

// EffectiveHashVersion maps the hash version stored in a dx_root to the one
// actually computed: the three classic hashes become their unsigned variants
// when the filesystem says so (the kernel's s_hash_unsigned).
func EffectiveHashVersion(rootVersion uint8, unsigned bool) uint8 {
	if unsigned && rootVersion <= HashTea {
		return rootVersion + 3
	}
	return rootVersion
}

// DirHash computes the directory name hash of ext4fs_dirhash: the major hash
// (always even; the low bit is the htree continuation flag) and the minor
// hash (zero for the legacy hash). An all-zero seed means the default MD4
// initial values. SipHash (casefold + encryption) is refused with
// ErrUnsupported; an unknown version is ErrCorrupt.
func DirHash(version uint8, seed [4]uint32, name []byte) (major, minor uint32, err error) {
	buf := [4]uint32{0x67452301, 0xefcdab89, 0x98badcfe, 0x10325476}
	if seed != [4]uint32{} {
		buf = seed
	}
	var h uint32
	switch version {
	case HashLegacy, HashLegacyUnsigned:
		h = legacyHash(name, version == HashLegacyUnsigned)
	case HashHalfMD4, HashHalfMD4Unsigned:
		h, minor = halfMD4Hash(&buf, name, version == HashHalfMD4Unsigned)
	case HashTea, HashTeaUnsigned:
		h, minor = teaHash(&buf, name, version == HashTeaUnsigned)
	case HashSiphash:
		return 0, 0, super.Errorf(super.ErrUnsupported, "directory hash", super.NoBlock, -1,
			"SipHash directories (casefold with encryption) are not supported")
	default:
		return 0, 0, super.Errorf(super.ErrCorrupt, "directory hash", super.NoBlock, -1,
			"unknown hash version %d", version)
	}
	h &^= 1
	if h == htreeEOF32<<1 {
		h = (htreeEOF32 - 1) << 1
	}
	return h, minor, nil
}

// char widens one name byte the way the C code does for signed or unsigned char.
func char(c byte, unsigned bool) uint32 {
	if unsigned {
		return uint32(c)
	}
	return uint32(int32(int8(c)))
}

// legacyHash is dx_hack_hash.
func legacyHash(name []byte, unsigned bool) uint32 {
	h0, h1 := uint32(0x12a3fe2d), uint32(0x37abe8f9)
	for _, c := range name {
		h := h1 + (h0 ^ char(c, unsigned)*7152373)
		if h&0x80000000 != 0 {
			h -= 0x7fffffff
		}
		h1, h0 = h0, h
	}
	return h0 << 1
}

// packName fills out (len(out) words) from msg as str2hashbuf does: big-endian
// packing of the chars on top of a padding word made of the remaining length.
func packName(msg []byte, out []uint32, unsigned bool) {
	pad := uint32(len(msg)) | uint32(len(msg))<<8
	pad |= pad << 16
	if len(msg) > 4*len(out) {
		msg = msg[:4*len(out)]
	}
	n, val := 0, pad
	for i, c := range msg {
		val = char(c, unsigned) + val<<8
		if i%4 == 3 {
			out[n], n, val = val, n+1, pad
		}
	}
	if n < len(out) {
		out[n], n = val, n+1
	}
	for ; n < len(out); n++ {
		out[n] = pad
	}
}

func halfMD4Hash(buf *[4]uint32, name []byte, unsigned bool) (uint32, uint32) {
	var in [8]uint32
	for p := name; len(p) > 0; p = p[min(32, len(p)):] {
		packName(p, in[:], unsigned)
		halfMD4Transform(buf, &in)
	}
	return buf[1], buf[2]
}

func teaHash(buf *[4]uint32, name []byte, unsigned bool) (uint32, uint32) {
	var in [4]uint32
	for p := name; len(p) > 0; p = p[min(16, len(p)):] {
		packName(p, in[:], unsigned)
		teaTransform(buf, &in)
	}
	return buf[0], buf[1]
}

// teaTransform is 16 rounds of TEA on buf[0..1] keyed by in.
func teaTransform(buf *[4]uint32, in *[4]uint32) {
	const delta = 0x9E3779B9
	var sum uint32
	b0, b1 := buf[0], buf[1]
	for range 16 {
		sum += delta
		b0 += (b1<<4 + in[0]) ^ (b1 + sum) ^ (b1>>5 + in[1])
		b1 += (b0<<4 + in[2]) ^ (b0 + sum) ^ (b0>>5 + in[3])
	}
	buf[0] += b0
	buf[1] += b1
}

// md4Step is one MD4 operation: a = rotl(a + f + x, s).
func md4Step(a, f, x uint32, s int) uint32 { return bits.RotateLeft32(a+f+x, s) }

// halfMD4Transform is the reduced MD4 compression (three rounds of eight
// steps over eight input words) used by the half_md4 hash.
func halfMD4Transform(buf *[4]uint32, in *[8]uint32) {
	const k2, k3 = 0x5A827999, 0x6ED9EBA1
	a, b, c, d := buf[0], buf[1], buf[2], buf[3]
	sel := func(x, y, z uint32) uint32 { return z ^ (x & (y ^ z)) }
	maj := func(x, y, z uint32) uint32 { return (x & y) + ((x ^ y) & z) }
	par := func(x, y, z uint32) uint32 { return x ^ y ^ z }

	r1 := [8]int{3, 7, 11, 19, 3, 7, 11, 19}
	for i := 0; i < 8; i += 4 {
		a = md4Step(a, sel(b, c, d), in[i], r1[i])
		d = md4Step(d, sel(a, b, c), in[i+1], r1[i+1])
		c = md4Step(c, sel(d, a, b), in[i+2], r1[i+2])
		b = md4Step(b, sel(c, d, a), in[i+3], r1[i+3])
	}
	x2 := [8]int{1, 3, 5, 7, 0, 2, 4, 6}
	for i := 0; i < 8; i += 4 {
		a = md4Step(a, maj(b, c, d), in[x2[i]]+k2, 3)
		d = md4Step(d, maj(a, b, c), in[x2[i+1]]+k2, 5)
		c = md4Step(c, maj(d, a, b), in[x2[i+2]]+k2, 9)
		b = md4Step(b, maj(c, d, a), in[x2[i+3]]+k2, 13)
	}
	x3 := [8]int{3, 7, 2, 6, 1, 5, 0, 4}
	for i := 0; i < 8; i += 4 {
		a = md4Step(a, par(b, c, d), in[x3[i]]+k3, 3)
		d = md4Step(d, par(a, b, c), in[x3[i+1]]+k3, 9)
		c = md4Step(c, par(d, a, b), in[x3[i+2]]+k3, 11)
		b = md4Step(b, par(c, d, a), in[x3[i+3]]+k3, 15)
	}
	buf[0] += a
	buf[1] += b
	buf[2] += c
	buf[3] += d
}
