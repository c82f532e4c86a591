package dirent

import (
	"encoding/binary"

	"github.com/ext4relink/ext4relink/internal/layout"
	"github.com/ext4relink/ext4relink/super"
)

// Block 0 of every directory starts with "." (12 bytes) and then "..",
// whose inode is the parent; a dx_root keeps both as its fake entries.

// dotDotOff is where the ".." record starts in block 0.
const dotDotOff = MinRecLen

// CheckDots reports whether block 0 starts with "." naming ino (a 12-byte
// record) followed by "..".
func CheckDots(block0 []byte, ino uint32) error {
	bad := super.Errorf(super.ErrCorrupt, "directory block 0", super.NoBlock, 0, "does not start with \".\" (inode %d) and \"..\"", ino)
	if len(block0) < dotDotOff+HeaderSize+2 {
		return bad
	}
	var dot, dotdot Entry
	layout.Decode(block0[:HeaderSize], dot.fields())
	layout.Decode(block0[dotDotOff:dotDotOff+HeaderSize], dotdot.fields())
	if dot.Inode != ino || dot.RecLen != MinRecLen || dot.NameLen != 1 || block0[HeaderSize] != '.' ||
		dotdot.NameLen != 2 || block0[dotDotOff+HeaderSize] != '.' || block0[dotDotOff+HeaderSize+1] != '.' {
		return bad
	}
	return nil
}

// SetParent points ".." of block 0 (checked with CheckDots) at parent. The
// caller sets the block's checksum afterwards.
func SetParent(block0 []byte, parent uint32) {
	var e Entry
	layout.Decode(block0[dotDotOff:dotDotOff+HeaderSize], e.fields())
	e.Inode = parent
	layout.Encode(block0[dotDotOff:dotDotOff+HeaderSize], e.fields())
}

// SetInlineParent points ".." of an inline directory, the first four bytes
// of i_block, at parent.
func SetInlineParent(iblock []byte, parent uint32) {
	binary.LittleEndian.PutUint32(iblock[:InlineDotDotSize], parent)
}

// IsDxNode reports whether b looks like an htree interior block: it starts
// with a fake, empty record that spans the whole block.
func IsDxNode(b []byte) bool {
	if len(b) < HeaderSize {
		return false
	}
	var e Entry
	layout.Decode(b[:HeaderSize], e.fields())
	return e.Inode == 0 && e.Size(len(b)) == len(b)
}
