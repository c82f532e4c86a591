package inode

import (
	"bytes"
	"encoding/binary"

	"github.com/ext4relink/ext4relink/internal/layout"
	"github.com/ext4relink/ext4relink/super"
)

// In-inode extended attributes (fs/ext4/xattr.h). After 128+i_extra_isize
// comes struct ext4_xattr_ibody_header (h_magic), then ext4_xattr_entry
// records up to four zero bytes; values sit at the end of the inode, their
// e_value_offs counted from the first entry.
const (
	XattrMagic      = 0xEA020000
	XattrEntrySize  = 16 // fixed part of struct ext4_xattr_entry
	XattrSizeMax    = 1 << 24
	xattrPad        = 4
	xattrRound      = xattrPad - 1
	ibodyHeaderSize = 4

	nameHashShift  = 5
	valueHashShift = 16
)

// Attribute name indexes (e_name_index).
const (
	XattrIndexUser            = 1
	XattrIndexPosixACLAccess  = 2
	XattrIndexPosixACLDefault = 3
	XattrIndexTrusted         = 4
	XattrIndexLustre          = 5
	XattrIndexSecurity        = 6
	XattrIndexSystem          = 7 // "system.data" holds inline data
	XattrIndexRichACL         = 8
	XattrIndexEncryption      = 9
	XattrIndexHurd            = 10
)

// InlineDataName is the name, under XattrIndexSystem, of the inline data attribute.
const InlineDataName = "data"

// XattrLen is EXT4_XATTR_LEN: the padded size of an entry with a name of n bytes.
func XattrLen(n int) int { return (n + xattrRound + XattrEntrySize) &^ xattrRound }

// XattrSize is EXT4_XATTR_SIZE: a value size rounded up to 4 bytes.
func XattrSize(n int) int { return (n + xattrRound) &^ xattrRound }

// XattrEntry is struct ext4_xattr_entry. Off is the entry's offset from the
// first entry.
type XattrEntry struct {
	NameLen   uint8  // 0x0 e_name_len
	NameIndex uint8  // 0x1 e_name_index
	ValueOffs uint16 // 0x2 e_value_offs
	ValueInum uint32 // 0x4 e_value_inum
	ValueSize uint32 // 0x8 e_value_size
	Hash      uint32 // 0xC e_hash
	Name      []byte

	Off int
}

func (e *XattrEntry) fields() []layout.Field {
	return []layout.Field{layout.F(0, &e.NameLen), layout.F(1, &e.NameIndex), layout.F(2, &e.ValueOffs),
		layout.F(4, &e.ValueInum), layout.F(8, &e.ValueSize), layout.F(12, &e.Hash)}
}

// hasLocalValue reports a value stored in this area (not in an EA inode, not empty).
func (e *XattrEntry) hasLocalValue() bool { return e.ValueInum == 0 && e.ValueSize != 0 }

// Ibody is the decoded in-inode attribute area of one inode.
type Ibody struct {
	Start   int // offset of the ibody header in the inode: 128 + i_extra_isize
	Magic   uint32
	Entries []XattrEntry
	Last    int    // offset of the terminating zero word, from the first entry
	Area    []byte // from the first entry to the end of the inode
}

// HasXattrSpace is EXT4_INODE_HAS_XATTR_SPACE: i_extra_isize is nonzero
// and the inode has room for the header and one padded entry word.
func (i *Inode) HasXattrSpace() bool {
	return len(i.Raw) > GoodOldSize && i.ExtraIsize != 0 &&
		GoodOldSize+int(i.ExtraIsize)+ibodyHeaderSize+xattrPad <= len(i.Raw)
}

// Xattrs decodes and validates the in-inode attributes, as the kernel's
// xattr_check_inode and ext4_xattr_check_entries do. It returns nil and no
// error when the inode has no attribute space or no header magic.
func (i *Inode) Xattrs(ino uint32) (*Ibody, error) {
	if !i.HasXattrSpace() {
		return nil, nil
	}
	raw := i.Encode()
	start := i.XattrStart()
	magic := binary.LittleEndian.Uint32(raw[start:])
	if magic != XattrMagic {
		return nil, nil
	}
	x := &Ibody{Start: start, Magic: magic, Area: raw[start+ibodyHeaderSize:]}
	if err := x.decode(); err != nil {
		return nil, inodeErr(super.ErrCorrupt, ino, "in-inode extended attributes: %v", err)
	}
	return x, nil
}

type xattrError string

func (e xattrError) Error() string { return string(e) }

// decode walks the entries (names first, then values) like
// ext4_xattr_check_entries.
func (x *Ibody) decode() error {
	a := x.Area
	off := 0
	for {
		if off+4 > len(a) {
			return xattrError("entries run past the end of the inode")
		}
		if binary.LittleEndian.Uint32(a[off:]) == 0 {
			break
		}
		if off+XattrEntrySize > len(a) {
			return xattrError("entry header runs past the end of the inode")
		}
		e := XattrEntry{Off: off}
		layout.Decode(a[off:off+XattrEntrySize], e.fields())
		next := off + XattrLen(int(e.NameLen))
		if next >= len(a) {
			return xattrError("entry runs past the end of the inode")
		}
		e.Name = append([]byte(nil), a[off+XattrEntrySize:off+XattrEntrySize+int(e.NameLen)]...)
		if bytes.IndexByte(e.Name, 0) >= 0 {
			return xattrError("attribute name contains a NUL byte")
		}
		x.Entries = append(x.Entries, e)
		off = next
	}
	x.Last = off
	for k := range x.Entries {
		if err := x.checkValue(&x.Entries[k]); err != nil {
			return err
		}
	}
	return nil
}

// checkValue: the value must lie after the entry list's terminator and,
// padded, inside the area.
func (x *Ibody) checkValue(e *XattrEntry) error {
	if e.ValueSize > XattrSizeMax {
		return xattrError("value size is over the maximum")
	}
	if !e.hasLocalValue() {
		return nil
	}
	end := len(x.Area)
	offs := int(e.ValueOffs)
	if offs > end || offs < x.Last+4 || int(e.ValueSize) > end-offs || XattrSize(int(e.ValueSize)) > end-offs {
		return xattrError("value lies outside the attribute area or overlaps the entries")
	}
	return nil
}

// Value returns a copy of an entry's value held in this area; nil for an
// empty value or one stored in an EA inode.
func (x *Ibody) Value(e *XattrEntry) []byte {
	if !e.hasLocalValue() {
		return nil
	}
	return append([]byte(nil), x.Area[e.ValueOffs:int(e.ValueOffs)+int(e.ValueSize)]...)
}

// Find returns the entry with the given index and name, or nil.
func (x *Ibody) Find(index uint8, name string) *XattrEntry {
	if x == nil {
		return nil
	}
	for k := range x.Entries {
		e := &x.Entries[k]
		if e.NameIndex == index && string(e.Name) == name {
			return e
		}
	}
	return nil
}

// minValueOffs is the lowest e_value_offs of local values, or the area size.
func (x *Ibody) minValueOffs() int {
	m := len(x.Area)
	for _, e := range x.Entries {
		if e.hasLocalValue() && int(e.ValueOffs) < m {
			m = int(e.ValueOffs)
		}
	}
	return m
}

// Free is the space between the terminator and the lowest value.
func (x *Ibody) Free() int { return x.minValueOffs() - x.Last - 4 }

// XattrHash is ext4_xattr_hash_entry / ext2fs_ext_attr_hash_entry: the
// name bytes (unsigned) rotated in by 5 bits, then the value, zero-padded
// to 4 bytes, as little-endian words rotated in by 16 bits.
func XattrHash(name, value []byte) uint32 { return xattrHash(name, value, false) }

// XattrHashSigned is the variant e2fsprogs also accepts, which reads name
// bytes as signed chars (what kernels built with signed char produced).
func XattrHashSigned(name, value []byte) uint32 { return xattrHash(name, value, true) }

func xattrHash(name, value []byte, signed bool) uint32 {
	var h uint32
	for _, c := range name {
		v := uint32(c)
		if signed {
			v = uint32(int32(int8(c)))
		}
		h = h<<nameHashShift ^ h>>(32-nameHashShift) ^ v
	}
	padded := make([]byte, XattrSize(len(value)))
	copy(padded, value)
	for k := 0; k < len(padded); k += 4 {
		h = h<<valueHashShift ^ h>>(32-valueHashShift) ^ binary.LittleEndian.Uint32(padded[k:])
	}
	return h
}
