package inode

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/ext4relink/ext4relink/super"
)

// Inline data (fs/ext4/inline.c): with INLINE_DATA_FL a file's content is
// the 60 bytes of i_block followed by the value of the in-inode attribute
// "system.data". The inline size (i_inline_size) is 60 + that value's size.
// An inline directory keeps its parent's inode number in the first 4 bytes
// of i_block and directory entries in the rest, then more entries in the
// system.data value when it is not empty.
const (
	MinInlineDataSize = BlockBytes // EXT4_MIN_INLINE_DATA_SIZE
	InlineDotdotSize  = 4          // EXT4_INLINE_DOTDOT_SIZE
)

// inlineEntry finds and checks the system.data entry of an inline inode.
func (i *Inode) inlineEntry(ino uint32) (*Ibody, *XattrEntry, error) {
	if !i.HasInlineData() {
		return nil, nil, inodeErr(super.ErrUnsupported, ino, "no inline data (INLINE_DATA_FL is clear)")
	}
	x, err := i.Xattrs(ino)
	if err != nil {
		return nil, nil, err
	}
	e := x.Find(XattrIndexSystem, InlineDataName)
	if e == nil {
		return nil, nil, inodeErr(super.ErrCorrupt, ino, "INLINE_DATA_FL is set but there is no system.data attribute")
	}
	if e.ValueInum != 0 {
		return nil, nil, inodeErr(super.ErrCorrupt, ino, "system.data refers to an EA inode")
	}
	return x, e, nil
}

// InlineData returns the whole inline area of an INLINE_DATA_FL inode:
// i_block's 60 bytes followed by the system.data value (i_inline_size
// bytes, not cut to i_size).
func InlineData(i *Inode, ino uint32) ([]byte, error) {
	x, e, err := i.inlineEntry(ino)
	if err != nil {
		return nil, err
	}
	out := append([]byte(nil), i.Block[:]...)
	return append(out, x.Value(e)...), nil
}

// InlineSize is i_inline_size: 60 plus the system.data value size.
func InlineSize(i *Inode, ino uint32) (int, error) {
	_, e, err := i.inlineEntry(ino)
	if err != nil {
		return 0, err
	}
	return MinInlineDataSize + int(e.ValueSize), nil
}

// MaxInlineValue is get_max_inline_xattr_value_size: the largest
// system.data value the inode could hold, counting the current value's
// space as free. It is 0 when the inode has no attribute space.
func MaxInlineValue(i *Inode, ino uint32) (int, error) {
	if !i.HasXattrSpace() {
		return 0, nil
	}
	x, err := i.Xattrs(ino)
	if err != nil {
		return 0, err
	}
	if x == nil {
		minOffs := len(i.Raw) - i.XattrStart() - ibodyHeaderSize
		return max(0, XattrSize(minOffs-XattrLen(len(InlineDataName))-xattrRound-4)), nil
	}
	free := x.Free()
	if e := x.Find(XattrIndexSystem, InlineDataName); e != nil {
		return free + XattrSize(int(e.ValueSize)), nil
	}
	free -= XattrLen(len(InlineDataName))
	if free <= xattrRound {
		return 0, nil
	}
	return XattrSize(free - xattrRound), nil
}

// SetInlineData replaces the inline content of an INLINE_DATA_FL inode:
// the first 60 bytes of data go to i_block (zero-filled when shorter), the
// rest becomes the system.data value. Like ext4_xattr_set_entry, a value of
// the same padded size is rewritten in place; otherwise the old value is
// removed (the values below it slide up) and the new one is placed below
// the lowest remaining value. It fails with ErrNoSpace when the value does
// not fit. e_hash is recomputed (XattrHash) when the old entry carried a
// hash and left 0 when it did not, which is what the kernel writes for
// in-inode attributes. i_size, i_flags and the checksum are the caller's.
func SetInlineData(i *Inode, ino uint32, data []byte) error {
	x, e, err := i.inlineEntry(ino)
	if err != nil {
		return err
	}
	var value []byte
	if len(data) > MinInlineDataSize {
		value = data[MinInlineDataSize:]
	}
	oldSize := 0
	if e.hasLocalValue() {
		oldSize = XattrSize(int(e.ValueSize))
	}
	newSize := XattrSize(len(value))
	if newSize > x.Free()+oldSize || len(value) > XattrSizeMax {
		return errors.Join(ErrNoSpace, inodeErr(super.ErrUnsupported, ino,
			"inline data of %d bytes does not fit (at most %d)", len(data), MinInlineDataSize+x.Free()+oldSize))
	}
	x.placeValue(e, value, oldSize, newSize)
	i.Block = [BlockBytes]byte{}
	copy(i.Block[:], data)
	i.sync()
	copy(i.Raw[x.Start+ibodyHeaderSize:], x.Area)
	return nil
}

// placeValue rewrites entry e's value in x.Area as ext4_xattr_set_entry
// does for an existing in-inode entry.
func (x *Ibody) placeValue(e *XattrEntry, value []byte, oldSize, newSize int) {
	a := x.Area
	if oldSize == newSize && oldSize != 0 {
		v := a[e.ValueOffs : int(e.ValueOffs)+newSize]
		clear(v)
		copy(v, value)
	} else {
		if oldSize != 0 {
			x.removeValue(e, oldSize)
		}
		e.ValueOffs = 0
		if newSize != 0 {
			at := x.minValueOffs() - newSize
			copy(a[at:at+newSize], value)
			e.ValueOffs = uint16(at)
		}
	}
	e.ValueSize = uint32(len(value))
	if e.Hash != 0 {
		e.Hash = XattrHash(e.Name, value)
	}
	x.writeEntry(e)
}

// removeValue drops e's value: the values stored below it move up by its
// padded size and their offsets follow.
func (x *Ibody) removeValue(e *XattrEntry, size int) {
	a := x.Area
	first, offs := x.minValueOffs(), int(e.ValueOffs)
	copy(a[first+size:offs+size], a[first:offs])
	clear(a[first : first+size])
	e.ValueSize = 0
	for k := range x.Entries {
		o := &x.Entries[k]
		if o.Off != e.Off && o.hasLocalValue() && int(o.ValueOffs) < offs {
			o.ValueOffs += uint16(size)
			x.writeEntry(o)
		}
	}
}

// writeEntry stores an entry's fixed fields back into the area.
func (x *Ibody) writeEntry(e *XattrEntry) {
	b := x.Area[e.Off : e.Off+XattrEntrySize]
	b[0], b[1] = e.NameLen, e.NameIndex
	binary.LittleEndian.PutUint16(b[2:], e.ValueOffs)
	binary.LittleEndian.PutUint32(b[4:], e.ValueInum)
	binary.LittleEndian.PutUint32(b[8:], e.ValueSize)
	binary.LittleEndian.PutUint32(b[12:], e.Hash)
	for k := range x.Entries {
		if x.Entries[k].Off == e.Off {
			x.Entries[k] = *e
		}
	}
}

// DropInlineData takes an inode out of inline data, as the kernel's
// ext4_destroy_inline_data_nolock does when a file or directory is
// converted to a block: the system.data attribute is removed (its value
// freed, the entries after it moved up), i_block is cleared and
// INLINE_DATA_FL dropped. The caller maps the new block, sets i_size and
// i_blocks, and the checksum.
func DropInlineData(i *Inode, ino uint32) error {
	x, e, err := i.inlineEntry(ino)
	if err != nil {
		return err
	}
	if e.hasLocalValue() {
		x.removeValue(e, XattrSize(int(e.ValueSize)))
	}
	n := XattrLen(int(e.NameLen))
	a := x.Area
	end := x.Last + 4 // the terminating zero word moves up too
	copy(a[e.Off:], a[e.Off+n:end])
	clear(a[end-n : end])
	i.Flags &^= InlineDataFl
	i.Block = [BlockBytes]byte{}
	i.sync()
	copy(i.Raw[x.Start+ibodyHeaderSize:], a)
	if _, err := i.Xattrs(ino); err != nil {
		return fmt.Errorf("internal error: removing system.data left invalid attributes: %w", err)
	}
	return nil
}
