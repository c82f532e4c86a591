package journal

import (
	"encoding/binary"
	"fmt"
)

// jbd2 records are big-endian, unlike every ext4 structure, so the package
// keeps its own (offset, field) tables in the manner of internal/layout. A
// table is written once per record and drives both decoding and encoding.

// field is one fixed-width big-endian field: ptr is a *uint8, *uint16,
// *uint32, *uint64 or a []byte aliasing a fixed-size array of the record.
type field struct {
	off int
	ptr any
}

// f builds a field; tables read as f(offset, &r.Field).
func f(off int, ptr any) field { return field{off: off, ptr: ptr} }

func (x field) size() int {
	switch p := x.ptr.(type) {
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
	panic(fmt.Sprintf("journal: unsupported field type %T", x.ptr))
}

func (x field) end() int { return x.off + x.size() }

// decodeBE fills every field from b; fields beyond len(b) are zeroed.
func decodeBE(b []byte, fields []field) {
	for _, x := range fields {
		if x.off < 0 || x.end() > len(b) {
			zeroField(x)
			continue
		}
		switch p := x.ptr.(type) {
		case *uint8:
			*p = b[x.off]
		case *uint16:
			*p = binary.BigEndian.Uint16(b[x.off:])
		case *uint32:
			*p = binary.BigEndian.Uint32(b[x.off:])
		case *uint64:
			*p = binary.BigEndian.Uint64(b[x.off:])
		case []byte:
			copy(p, b[x.off:x.end()])
		}
	}
}

// encodeBE writes every field that fits into b; other bytes are untouched.
func encodeBE(b []byte, fields []field) {
	for _, x := range fields {
		if x.off < 0 || x.end() > len(b) {
			continue
		}
		switch p := x.ptr.(type) {
		case *uint8:
			b[x.off] = *p
		case *uint16:
			binary.BigEndian.PutUint16(b[x.off:], *p)
		case *uint32:
			binary.BigEndian.PutUint32(b[x.off:], *p)
		case *uint64:
			binary.BigEndian.PutUint64(b[x.off:], *p)
		case []byte:
			copy(b[x.off:x.end()], p)
		}
	}
}

func zeroField(x field) {
	switch p := x.ptr.(type) {
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

// checkTable reports whether a table is sorted, non-overlapping and ends at
// or before size. Tests use it.
func checkTable(fields []field, size int) error {
	prev := 0
	for i, x := range fields {
		if x.off < prev {
			return fmt.Errorf("field %d at %#x overlaps the previous one (ends %#x)", i, x.off, prev)
		}
		prev = x.end()
	}
	if prev > size {
		return fmt.Errorf("fields end at %#x, past the record size %#x", prev, size)
	}
	return nil
}

// be32 and friends read big-endian values at an offset, returning 0 when
// the slice is too short: decoders use them for bounded ad-hoc reads.
func be32(b []byte, off int) uint32 {
	if off < 0 || off+4 > len(b) {
		return 0
	}
	return binary.BigEndian.Uint32(b[off:])
}
