package journal

import (
	"encoding/binary"

	"github.com/ext4relink/ext4relink/internal/layout"
)

// jbd2 records are big-endian, unlike every ext4 structure; they use the
// same (offset, field) tables as the ext4 codecs, decoded big-endian. A
// table is written once per record and drives both decoding and encoding.

type field = layout.Field

// f builds a field; tables read as f(offset, &r.Field).
func f(off int, ptr any) field { return layout.F(off, ptr) }

func decodeBE(b []byte, fields []field) { layout.DecodeBE(b, fields) }
func encodeBE(b []byte, fields []field) { layout.EncodeBE(b, fields) }

// checkTable reports whether a table is sorted, non-overlapping and ends at
// or before size. Tests use it.
func checkTable(fields []field, size int) error { return layout.Check(fields, size) }

// be32 and friends read big-endian values at an offset, returning 0 when
// the slice is too short: decoders use them for bounded ad-hoc reads.
func be32(b []byte, off int) uint32 {
	if off < 0 || off+4 > len(b) {
		return 0
	}
	return binary.BigEndian.Uint32(b[off:])
}

func be16(b []byte, off int) uint16 {
	if off < 0 || off+2 > len(b) {
		return 0
	}
	return binary.BigEndian.Uint16(b[off:])
}
