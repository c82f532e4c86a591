package inode

import (
	"encoding/binary"

	"github.com/ext4relink/ext4relink/internal/layout"
)

// Raw-inode access by range, for the fast-commit replay: like the kernel's
// ext4_fc_replay_inode it copies a logged inode's bytes over the home
// inode's, i_block excepted, before anything is decoded. Every offset it
// needs lives here.

const (
	offFlags      = 0x20 // i_flags
	offGeneration = 0x64 // i_generation: i_block ends here
)

// RawFlags returns i_flags of a raw inode (at least GoodOldSize bytes).
func RawFlags(raw []byte) uint32 { return binary.LittleEndian.Uint32(raw[offFlags:]) }

// RawExtraIsize returns i_extra_isize of a raw inode; ok is false when raw
// ends before the field.
func RawExtraIsize(raw []byte) (n int, ok bool) {
	if len(raw) < offExtraIsize+2 {
		return 0, false
	}
	return int(binary.LittleEndian.Uint16(raw[offExtraIsize:])), true
}

// RawIBlock returns the i_block bytes of a raw inode, as a slice of raw.
func RawIBlock(raw []byte) []byte { return raw[offBlock:offGeneration] }

// ReplaceExceptIBlock copies src over the start of dst, field for field as
// far as src goes, but keeps dst's i_block.
func ReplaceExceptIBlock(dst, src []byte) {
	copy(dst[:offBlock], src[:offBlock])
	if len(src) > offGeneration {
		copy(dst[offGeneration:len(src)], src[offGeneration:])
	}
}

// ExtentRootHeader decodes the extent header at the start of i_block; ok is
// false when i_block does not start with the extent magic.
func ExtentRootHeader(iblock []byte) (h ExtentHeader, ok bool) {
	layout.Decode(iblock[:ExtentHeaderSize], h.fields())
	return h, h.Magic == ExtentMagic
}

// EnsureExtentHeader gives i_block an empty root header when it does not
// start with one (zeroing only the header, as ext4_fc_replay_inode does).
func EnsureExtentHeader(iblock []byte) {
	if _, ok := ExtentRootHeader(iblock); ok {
		return
	}
	h := ExtentHeader{Magic: ExtentMagic, Max: RootMaxEntries}
	clear(iblock[:ExtentHeaderSize])
	layout.Encode(iblock[:ExtentHeaderSize], h.fields())
}
