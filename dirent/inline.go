package dirent

import (
	"bytes"
	"encoding/binary"
	"fmt"

	"github.com/ext4relink/ext4relink/super"
)

// Inline directory layout (fs/ext4/inline.c).
const (
	InlineIBlockSize = 60 // EXT4_MIN_INLINE_DATA_SIZE: the i_block array
	InlineDotDotSize = 4  // EXT4_INLINE_DOTDOT_SIZE: the parent's inode number
)

// Inline regions, as InlineLookup reports where a name is.
const (
	RegionIBlock = 1 // i_block after the parent inode number
	RegionXattr  = 2 // the value of the system.data extended attribute
)

// InlineDir is an inline directory: no '.' or '..' records, only the
// parent's inode number in the first four bytes of i_block, then records
// filling the other 56 bytes, then records filling the system.data value.
type InlineDir struct {
	Parent uint32  // '..'
	IBlock []Entry // records of i_block[4:60]
	Xattr  []Entry // records of the system.data value (may be empty)
}

// CheckInline validates both regions: i_block is exactly 60 bytes, the
// parent is a valid inode number and each region is exactly filled by
// records that pass CheckEntry.
func CheckInline(iblock, xattr []byte, p Params) error {
	if err := p.check("inline directory"); err != nil {
		return err
	}
	bad := func(format string, args ...any) error {
		return super.Errorf(super.ErrCorrupt, "inline directory", super.NoBlock, -1, format, args...)
	}
	if len(iblock) != InlineIBlockSize {
		return bad("i_block region is %d bytes, expected %d", len(iblock), InlineIBlockSize)
	}
	if par := binary.LittleEndian.Uint32(iblock); par == 0 || par > p.InodesCount {
		return bad("parent inode %d is not between 1 and s_inodes_count %d", par, p.InodesCount)
	}
	if len(xattr) > p.BlockSize-RecLen(1)-RecLen(2)-(InlineIBlockSize-InlineDotDotSize)-p.csumSize() {
		return bad("system.data value of %d bytes would not fit one block", len(xattr))
	}
	if err := Walk(iblock[InlineDotDotSize:], p, func(Entry) bool { return true }); err != nil {
		return regionError(err, "i_block")
	}
	return regionError(Walk(xattr, p, func(Entry) bool { return true }), "system.data")
}

func regionError(err error, region string) error {
	if err != nil {
		return fmt.Errorf("inline directory, %s region: %w", region, err)
	}
	return nil
}

// DecodeInline decodes and validates an inline directory.
func DecodeInline(iblock, xattr []byte, p Params) (*InlineDir, error) {
	if err := CheckInline(iblock, xattr, p); err != nil {
		return nil, err
	}
	d := &InlineDir{Parent: binary.LittleEndian.Uint32(iblock)}
	d.IBlock, _ = Entries(iblock[InlineDotDotSize:], p)
	d.Xattr, _ = Entries(xattr, p)
	return d, nil
}

// Encode returns the i_block bytes (60) and the system.data value.
func (d *InlineDir) Encode() (iblock, xattr []byte) {
	iblock = binary.LittleEndian.AppendUint32(nil, d.Parent)
	for i := range d.IBlock {
		iblock = append(iblock, d.IBlock[i].Encode()...)
	}
	xattr = []byte{}
	for i := range d.Xattr {
		xattr = append(xattr, d.Xattr[i].Encode()...)
	}
	return iblock, xattr
}

// InlineLookup finds a used record named name in either region.
func InlineLookup(iblock, xattr, name []byte, p Params) (e Entry, region int, found bool, err error) {
	if err := CheckInline(iblock, xattr, p); err != nil {
		return Entry{}, 0, false, err
	}
	if e, ok, _ := Lookup(iblock[InlineDotDotSize:], name, p); ok {
		return e, RegionIBlock, true, nil
	}
	if e, ok, _ := Lookup(xattr, name, p); ok {
		return e, RegionXattr, true, nil
	}
	return Entry{}, 0, false, nil
}

// InlineAdd adds n to an inline directory as ext4_try_add_inline_entry does:
// into i_block if a record there has room, else into the system.data value.
// It returns both regions (copies; only one differs from its input),
// ErrExist when the name is present and ErrNoSpace when neither region has
// room: the caller then grows the system.data value (InlineGrow) or
// converts the directory to a block (ConvertInline, then AddEntry).
func InlineAdd(iblock, xattr []byte, n NewEntry, p Params) (newIBlock, newXattr []byte, err error) {
	if err := n.check(p); err != nil {
		return nil, nil, err
	}
	if _, _, found, err := InlineLookup(iblock, xattr, n.Name, p); err != nil || found {
		if found {
			return nil, nil, ErrExist
		}
		return nil, nil, err
	}
	newIBlock, newXattr = bytes.Clone(iblock), bytes.Clone(xattr)
	for _, space := range [][]byte{newIBlock[InlineDotDotSize:], newXattr} {
		if off, err := findDest(space, len(n.Name), p); err == nil {
			insertDentry(space, off, n, p)
			if err := CheckInline(newIBlock, newXattr, p); err != nil {
				return nil, nil, fmt.Errorf("dirent: internal error, InlineAdd produced an invalid directory: %w", err)
			}
			return newIBlock, newXattr, nil
		}
	}
	return nil, nil, ErrNoSpace
}

// InlineGrow adapts the records of a system.data value that the caller has
// grown to newSize bytes, as ext4_update_final_de: the last record takes the
// added room, or, for a value that was empty, one unused record spans it.
func InlineGrow(xattr []byte, newSize int, p Params) ([]byte, error) {
	if err := p.check("inline directory"); err != nil {
		return nil, err
	}
	if err := Walk(xattr, p, func(Entry) bool { return true }); err != nil {
		return nil, regionError(err, "system.data")
	}
	maxSize := p.BlockSize - RecLen(1) - RecLen(2) - (InlineIBlockSize - InlineDotDotSize) - p.csumSize()
	if newSize < len(xattr) || newSize > maxSize || newSize%4 != 0 || len(xattr) == 0 && newSize > 0 && newSize < MinRecLen {
		return nil, super.Errorf(super.ErrCorrupt, "inline directory", super.NoBlock, -1, "cannot grow %d bytes to %d", len(xattr), newSize)
	}
	out := make([]byte, newSize)
	copy(out, xattr)
	switch last := lastRecord(xattr, p); {
	case newSize == len(xattr):
	case len(xattr) == 0:
		setRecLen(out, newSize, p.BlockSize)
	default:
		setRecLen(out[last:], recLenAt(xattr, last, p.BlockSize)+newSize-len(xattr), p.BlockSize)
	}
	return out, regionError(Walk(out, p, func(Entry) bool { return true }), "system.data")
}

// lastRecord is the offset of the last record of a validated space (0 if empty).
func lastRecord(space []byte, p Params) int {
	last := 0
	for off := 0; off < len(space); off += recLenAt(space, off, p.BlockSize) {
		last = off
	}
	return last
}

// ConvertInline builds the first block of a directory leaving inline data,
// as ext4_convert_inline_data_nolock / ext4_finish_convert_inline_dir do:
// '.' (dirIno) and '..' (the stored parent) as 12-byte records, then the
// records of i_block and of system.data copied as they are, the last one
// stretched to the end of the block, then the tail under metadata_csum.
// The caller maps it as logical block 0, sets i_size to one block and
// replaces the inline data; then adds the new name with AddEntry.
func ConvertInline(iblock, xattr []byte, dirIno uint32, p Params) ([]byte, error) {
	if err := CheckInline(iblock, xattr, p); err != nil {
		return nil, err
	}
	if dirIno == 0 || dirIno > p.InodesCount {
		return nil, super.Errorf(super.ErrCorrupt, "inline directory", super.NoBlock, -1, "directory inode %d is out of range", dirIno)
	}
	ft := uint8(FtUnknown)
	if p.FileType {
		ft = FtDir
	}
	b := make([]byte, p.BlockSize)
	putHeader(b, dirIno, 0, 1, ft)
	setRecLen(b, RecLen(1), p.BlockSize)
	b[8] = '.'
	putHeader(b[12:], binary.LittleEndian.Uint32(iblock), 0, 2, ft)
	setRecLen(b[12:], RecLen(2), p.BlockSize)
	copy(b[20:], "..")
	used := RecLen(1) + RecLen(2)
	used += copy(b[used:], iblock[InlineDotDotSize:])
	used += copy(b[used:], xattr)
	last := lastRecord(b[:used], p)
	setRecLen(b[last:], p.BlockSize-p.csumSize()-last, p.BlockSize)
	if p.Csum {
		putTail(b)
	}
	if err := SetLeafChecksum(b, p); err != nil {
		return nil, err
	}
	if err := ValidateLeaf(b, p); err != nil {
		return nil, fmt.Errorf("dirent: internal error, ConvertInline produced an invalid block: %w", err)
	}
	return b, nil
}
