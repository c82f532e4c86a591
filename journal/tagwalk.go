package journal

import "encoding/binary"

// tagWalk walks the tags of one descriptor block exactly as firstTag,
// nextTag and decodeTag do, with the format's choices (tag size, tail,
// checksum v3, 64-bit) worked out once per block instead of once per tag:
// the scan and the history walk every tag of the log (150,000 on a 1 GiB
// journal), and this loop is most of their CPU time.
type tagWalk struct {
	b     []byte
	limit int // a tag must end at or before it: len(b) minus the tail
	tb    int // fm.TagBytes()
	v3    bool
	is64  bool
}

func newTagWalk(b []byte, fm Format) tagWalk {
	return tagWalk{b: b, limit: len(b) - fm.tailSize(), tb: fm.TagBytes(), v3: fm.CsumV3(), is64: fm.Is64Bit()}
}

// first is firstTag: the offset of the first tag, -1 if none fits.
func (w *tagWalk) first() int {
	if HeaderSize+w.tb > w.limit {
		return -1
	}
	return HeaderSize
}

// next is nextTag: the offset of the tag after the one at off (a valid
// tag offset from first or next), -1 after the last.
func (w *tagWalk) next(off int) int {
	fl := binary.BigEndian.Uint16(w.b[off+6 : off+8])
	if fl&FlagLastTag != 0 {
		return -1
	}
	off += w.tb
	if fl&FlagSameUUID == 0 {
		off += 16
	}
	if off+w.tb > w.limit {
		return -1
	}
	return off
}

// decode is decodeTag for the tag at a valid offset off.
func (w *tagWalk) decode(off int) (home uint64, flags uint16, csum uint32) {
	t := w.b[off : off+w.tb]
	var high uint32
	if w.v3 {
		home, flags, high, csum = uint64(binary.BigEndian.Uint32(t[0:4])), uint16(binary.BigEndian.Uint32(t[4:8])),
			binary.BigEndian.Uint32(t[8:12]), binary.BigEndian.Uint32(t[12:16])
	} else {
		home, csum, flags = uint64(binary.BigEndian.Uint32(t[0:4])), uint32(binary.BigEndian.Uint16(t[4:6])), binary.BigEndian.Uint16(t[6:8])
		if w.is64 {
			high = binary.BigEndian.Uint32(t[8:12])
		}
	}
	if w.is64 {
		home |= uint64(high) << 32
	}
	return home, flags, csum
}
