package journal

import (
	"github.com/ext4relink/ext4relink/super"
)

// RevokeHeaderSize is sizeof(jbd2_journal_revoke_header_t).
const RevokeHeaderSize = 16

// Revoke is a revoke block (jbd2_journal_revoke_header_t and its records):
// every block it lists must not be replayed from this transaction or any
// earlier one. Records are 4 bytes, or 8 with 64-bit journals, from offset
// 16 up to r_count bytes; checksum v2/v3 adds a tail.
type Revoke struct {
	Header
	Count    uint32   // r_count: bytes used, the 16-byte header included
	Records  []uint64 // revoked filesystem blocks
	Checksum uint32   // tail t_checksum (checksum v2/v3 only)
	fm       Format
	raw      []byte
}

// DecodeRevoke parses a revoke block. Like the kernel's
// scan_revoke_records it refuses an r_count larger than the block minus
// its tail (the kernel then fails the whole recovery with EINVAL).
func DecodeRevoke(b []byte, fm Format) (*Revoke, error) {
	h, err := DecodeHeader(b)
	if err != nil {
		return nil, err
	}
	if !h.Valid() || h.BlockType != BlockRevoke {
		return nil, super.Errorf(super.ErrCorrupt, "journal revoke block", super.NoBlock, 0,
			"header magic %#x type %d is not a revoke block", h.Magic, h.BlockType)
	}
	r := &Revoke{Header: h, fm: fm, raw: append([]byte(nil), b...)}
	r.Count = be32(b, HeaderSize)
	if len(b) < RevokeHeaderSize || uint64(r.Count) > uint64(len(b)-fm.tailSize()) {
		return nil, super.Errorf(super.ErrCorrupt, "journal revoke block", super.NoBlock, HeaderSize,
			"r_count %d is larger than the %d-byte block allows", r.Count, len(b))
	}
	rl := fm.revokeRecordSize()
	for off := RevokeHeaderSize; off+rl <= int(r.Count); off += rl {
		var v uint64
		if rl == 8 {
			decodeBE(b, []field{f(off, &v)})
		} else {
			v = uint64(be32(b, off))
		}
		r.Records = append(r.Records, v)
	}
	if fm.CsumV2or3() {
		r.Checksum = be32(b, len(b)-TailSize)
	}
	return r, nil
}

// Encode returns the block: header, r_count, the records and the tail.
// Records that do not fit are dropped; it does not update the checksum.
func (r *Revoke) Encode() []byte {
	b := append([]byte(nil), r.raw...)
	if len(b) == 0 {
		b = make([]byte, r.fm.BlockSize)
	}
	r.Header.Encode(b)
	encodeBE(b, []field{f(HeaderSize, &r.Count)})
	rl := r.fm.revokeRecordSize()
	end := len(b) - r.fm.tailSize()
	for i, v := range r.Records {
		off := RevokeHeaderSize + i*rl
		if off+rl > end {
			break
		}
		if rl == 8 {
			encodeBE(b, []field{f(off, &v)})
		} else {
			w := uint32(v)
			encodeBE(b, []field{f(off, &w)})
		}
	}
	if r.fm.CsumV2or3() && len(b) >= TailSize {
		encodeBE(b, []field{f(len(b)-TailSize, &r.Checksum)})
	}
	return b
}

// ChecksumValue is the tail checksum the block should carry.
func (r *Revoke) ChecksumValue(seed uint32) uint32 { return tailChecksum(seed, r.Encode()) }

// VerifyChecksum is the kernel's revoke-block check in PASS_SCAN; true
// without checksum v2/v3.
func (r *Revoke) VerifyChecksum(seed uint32) bool {
	return !r.fm.CsumV2or3() || r.Checksum == r.ChecksumValue(seed)
}

// SetChecksum is jbd2_revoke_csum_set.
func (r *Revoke) SetChecksum(seed uint32) {
	if r.fm.CsumV2or3() {
		r.Checksum = r.ChecksumValue(seed)
	}
}

// NewRevoke builds a revoke block of transaction seq listing blocks. It
// fails when they do not fit in one block or need 64-bit records the
// journal lacks. Call SetChecksum before Encode.
func NewRevoke(fm Format, seq uint32, blocks []uint64) (*Revoke, error) {
	rl := fm.revokeRecordSize()
	n := RevokeHeaderSize + len(blocks)*rl
	if fm.BlockSize < RevokeHeaderSize+fm.tailSize() || n > fm.BlockSize-fm.tailSize() {
		return nil, super.Errorf(super.ErrUnsupported, "journal revoke block", super.NoBlock, -1,
			"%d records do not fit in one %d-byte block", len(blocks), fm.BlockSize)
	}
	for _, b := range blocks {
		if rl == 4 && b>>32 != 0 {
			return nil, super.Errorf(super.ErrUnsupported, "journal revoke block", super.NoBlock, -1,
				"block %d needs a 64-bit journal", b)
		}
	}
	return &Revoke{Header: Header{Magic: Magic, BlockType: BlockRevoke, Sequence: seq},
		Count: uint32(n), Records: append([]uint64(nil), blocks...), fm: fm, raw: make([]byte, fm.BlockSize)}, nil
}
