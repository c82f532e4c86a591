// Package layout maps on-disk little-endian records onto Go struct fields.
//
// Every on-disk structure of ext4relink describes itself once, as a table of
// (byte offset, pointer to field) pairs. The same table drives decoding and
// encoding, so the offsets are written exactly once and a decoder cannot
// disagree with its encoder. Bytes that no field covers are kept by the
// structures themselves (as raw arrays) so that Encode(Decode(b)) == b.
package layout

import (
	"encoding/binary"
	"fmt"
)

// Field is one fixed-width little-endian field of an on-disk record.
// Ptr is a *uint8, *uint16, *uint32, *uint64 or a []byte that aliases a
// fixed-size array of the record.
type Field struct {
	Off int
	Ptr any
}

// Size reports the number of bytes the field occupies.
func (f Field) Size() int {
	switch p := f.Ptr.(type) {
	case *uint8:
		return 1
	case *uint16:
		return 2
	case *uint32:
		return 4
	case *uint64:
		return 8
	case []byte:
		return len(p)
	}
	panic(fmt.Sprintf("layout: unsupported field type %T", f.Ptr))
}

// End is the offset just past the field.
func (f Field) End() int { return f.Off + f.Size() }

// Decode fills every field from b, little-endian (every ext4 structure).
// Fields that lie beyond len(b) are zeroed: records such as inodes and group
// descriptors have a variable on-disk size and their tail fields simply do
// not exist in a short record.
func Decode(b []byte, fields []Field) { decode(b, fields, binary.LittleEndian) }

// DecodeBE is Decode for big-endian records (jbd2).
func DecodeBE(b []byte, fields []Field) { decode(b, fields, binary.BigEndian) }

// Encode writes every field that fits into b, little-endian. Bytes of b
// that no field covers are left untouched.
func Encode(b []byte, fields []Field) { encode(b, fields, binary.LittleEndian) }

// EncodeBE is Encode for big-endian records (jbd2).
func EncodeBE(b []byte, fields []Field) { encode(b, fields, binary.BigEndian) }

func fits(f Field, b []byte) bool { return f.Off >= 0 && f.End() <= len(b) }

func decode(b []byte, fields []Field, order binary.ByteOrder) {
	for _, f := range fields {
		if !fits(f, b) {
			zero(f)
			continue
		}
		switch p := f.Ptr.(type) {
		case *uint8:
			*p = b[f.Off]
		case *uint16:
			*p = order.Uint16(b[f.Off:])
		case *uint32:
			*p = order.Uint32(b[f.Off:])
		case *uint64:
			*p = order.Uint64(b[f.Off:])
		case []byte:
			copy(p, b[f.Off:f.End()])
		}
	}
}

func encode(b []byte, fields []Field, order binary.ByteOrder) {
	for _, f := range fields {
		if !fits(f, b) {
			continue
		}
		switch p := f.Ptr.(type) {
		case *uint8:
			b[f.Off] = *p
		case *uint16:
			order.PutUint16(b[f.Off:], *p)
		case *uint32:
			order.PutUint32(b[f.Off:], *p)
		case *uint64:
			order.PutUint64(b[f.Off:], *p)
		case []byte:
			copy(b[f.Off:f.End()], p)
		}
	}
}

func zero(f Field) {
	switch p := f.Ptr.(type) {
	case *uint8:
		*p = 0
	case *uint16:
		*p = 0
	case *uint32:
		*p = 0
	case *uint64:
		*p = 0
	case []byte:
		clear(p)
	}
}

// Check verifies that a table is well formed: fields sorted, not
// overlapping, and ending at or before size. It is meant for tests.
func Check(fields []Field, size int) error {
	prev := 0
	for i, f := range fields {
		if f.Off < prev {
			return fmt.Errorf("field %d at %#x overlaps the previous field (ends %#x)", i, f.Off, prev)
		}
		prev = f.End()
	}
	if prev > size {
		return fmt.Errorf("fields end at %#x, past the record size %#x", prev, size)
	}
	return nil
}

// Covered reports whether every byte in [0,size) is covered by a field.
func Covered(fields []Field, size int) bool {
	next := 0
	for _, f := range fields {
		if f.Off != next {
			return false
		}
		next = f.End()
	}
	return next == size
}

// F builds a Field; tables read as F(offset, &r.Field).
func F(off int, ptr any) Field { return Field{Off: off, Ptr: ptr} }
