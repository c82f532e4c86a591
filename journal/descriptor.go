package journal

import (
	"github.com/ext4relink/ext4relink/super"
)

// Tag flags (t_flags).
const (
	FlagEscape   = 1 // JBD2_FLAG_ESCAPE: the logged copy had its magic zeroed
	FlagSameUUID = 2 // JBD2_FLAG_SAME_UUID: no 16-byte UUID follows the tag
	FlagDeleted  = 4 // JBD2_FLAG_DELETED (obsolete, ignored by recovery)
	FlagLastTag  = 8 // JBD2_FLAG_LAST_TAG: the last tag of the descriptor
)

// Tag is one journal_block_tag_t or journal_block_tag3_t of a descriptor
// block: it names the filesystem block that the next data block of the log
// belongs to.
//
// journal_block_tag_t (8, 10, 12 or 14 bytes, see Format.TagBytes):
//
//	0 t_blocknr  4 t_checksum (be16)  6 t_flags (be16)  8 t_blocknr_high
//
// journal_block_tag3_t (16 bytes, checksum v3):
//
//	0 t_blocknr  4 t_flags (be32)  8 t_blocknr_high  12 t_checksum (be32)
//
// Recovery reads the flags as the be16 at offset 6 in both layouts, i.e. the
// low 16 bits of a tag3's t_flags; FlagBits returns exactly that.
type Tag struct {
	Off         int      // byte offset of the tag in its descriptor block
	BlockNr     uint32   // t_blocknr
	BlockNrHigh uint32   // t_blocknr_high (used only with 64-bit journals)
	Flags       uint32   // t_flags (16 bits wide in journal_block_tag_t)
	Checksum    uint32   // t_checksum (16 bits wide in journal_block_tag_t)
	UUID        [16]byte // the UUID following a tag without FlagSameUUID
}

// FlagBits is the flag word recovery acts on.
func (t *Tag) FlagBits() uint16 { return uint16(t.Flags) }

// Block is the filesystem block the tag describes (read_tag_block).
func (t *Tag) Block(fm Format) uint64 {
	b := uint64(t.BlockNr)
	if fm.Is64Bit() {
		b |= uint64(t.BlockNrHigh) << 32
	}
	return b
}

// SetBlock stores a filesystem block number (write_tag_block).
func (t *Tag) SetBlock(fm Format, blk uint64) {
	t.BlockNr = uint32(blk)
	t.BlockNrHigh = 0
	if fm.Is64Bit() {
		t.BlockNrHigh = uint32(blk >> 32)
	}
}

// VerifyData reports whether the tag's checksum matches the logged data
// block (jbd2_block_tag_csum_verify); true without checksum v2/v3.
func (t *Tag) VerifyData(fm Format, seed, sequence uint32, data []byte) bool {
	if !fm.CsumV2or3() {
		return true
	}
	c := DataChecksum(seed, sequence, data)
	if fm.CsumV3() {
		return t.Checksum == c
	}
	return uint16(t.Checksum) == uint16(c)
}

// SetDataChecksum stores the checksum of the logged data block
// (jbd2_block_tag_csum_set); a no-op without checksum v2/v3.
func (t *Tag) SetDataChecksum(fm Format, seed, sequence uint32, data []byte) {
	if !fm.CsumV2or3() {
		return
	}
	c := DataChecksum(seed, sequence, data)
	if fm.CsumV3() {
		t.Checksum = c
	} else {
		t.Checksum = uint32(uint16(c))
	}
}

// tagFields is the table of one tag at its offset; 16-bit fields go through
// the temporaries so that Tag keeps one shape for both layouts.
func (t *Tag) tagFields(fm Format, cs16, fl16 *uint16) []field {
	o := t.Off
	if fm.CsumV3() {
		return []field{f(o, &t.BlockNr), f(o+4, &t.Flags), f(o+8, &t.BlockNrHigh), f(o+12, &t.Checksum)}
	}
	fs := []field{f(o, &t.BlockNr), f(o+4, cs16), f(o+6, fl16)}
	if fm.Is64Bit() {
		fs = append(fs, f(o+8, &t.BlockNrHigh))
	}
	return fs
}

func (t *Tag) decode(b []byte, fm Format) {
	var cs, fl uint16
	decodeBE(b, t.tagFields(fm, &cs, &fl))
	if !fm.CsumV3() {
		t.Checksum, t.Flags = uint32(cs), uint32(fl)
	}
	if t.FlagBits()&FlagSameUUID == 0 {
		if u := t.Off + fm.TagBytes(); u < len(b) {
			copy(t.UUID[:], b[u:])
		}
	}
}

func (t *Tag) encode(b []byte, fm Format) {
	cs, fl := uint16(t.Checksum), uint16(t.Flags)
	encodeBE(b, t.tagFields(fm, &cs, &fl))
	if t.FlagBits()&FlagSameUUID == 0 {
		if u := t.Off + fm.TagBytes(); u >= 0 && u < len(b) {
			n := min(16, len(b)-u)
			copy(b[u:u+n], t.UUID[:n])
		}
	}
}

// Descriptor is a descriptor block: a header, the tags of the data blocks
// that follow it in the log, and (checksum v2/v3) a jbd2_journal_block_tail.
// Bytes no tag covers are kept, so Encode(Decode(b)) == b.
type Descriptor struct {
	Header
	Tags     []Tag
	Checksum uint32 // tail t_checksum (checksum v2/v3 only)
	fm       Format
	raw      []byte
}

// DecodeDescriptor parses a descriptor block the way the kernel's
// count_tags and PASS_REPLAY walk it: tags from offset 12 while a whole tag
// fits before the tail, skipping 16 UUID bytes after a tag without
// FlagSameUUID, ending after the tag with FlagLastTag. The block size is
// len(b).
func DecodeDescriptor(b []byte, fm Format) (*Descriptor, error) {
	h, err := DecodeHeader(b)
	if err != nil {
		return nil, err
	}
	if !h.Valid() || h.BlockType != BlockDescriptor {
		return nil, super.Errorf(super.ErrCorrupt, "journal descriptor block", super.NoBlock, 0,
			"header magic %#x type %d is not a descriptor block", h.Magic, h.BlockType)
	}
	d := &Descriptor{Header: h, fm: fm, raw: append([]byte(nil), b...)}
	for off := firstTag(b, fm); off >= 0; off = nextTag(b, fm, off) {
		t := Tag{Off: off}
		t.decode(b, fm)
		d.Tags = append(d.Tags, t)
	}
	if fm.CsumV2or3() && len(b) >= TailSize {
		d.Checksum = be32(b, len(b)-TailSize)
	}
	return d, nil
}

// newDescriptor starts an empty descriptor block for the writer.
func newDescriptor(fm Format, seq uint32) *Descriptor {
	return &Descriptor{Header: Header{Magic: Magic, BlockType: BlockDescriptor, Sequence: seq},
		fm: fm, raw: make([]byte, fm.BlockSize)}
}

// Encode returns the block. It does not update the tail checksum.
func (d *Descriptor) Encode() []byte {
	b := append([]byte(nil), d.raw...)
	d.Header.Encode(b)
	for i := range d.Tags {
		d.Tags[i].encode(b, d.fm)
	}
	if d.fm.CsumV2or3() && len(b) >= HeaderSize+TailSize {
		encodeBE(b, []field{f(len(b)-TailSize, &d.Checksum)})
	}
	return b
}

// ChecksumValue is the tail checksum the block should carry.
func (d *Descriptor) ChecksumValue(seed uint32) uint32 { return tailChecksum(seed, d.Encode()) }

// VerifyChecksum is jbd2_descriptor_block_csum_verify: true without
// checksum v2/v3.
func (d *Descriptor) VerifyChecksum(seed uint32) bool {
	return !d.fm.CsumV2or3() || d.Checksum == d.ChecksumValue(seed)
}

// SetChecksum is jbd2_descriptor_block_csum_set.
func (d *Descriptor) SetChecksum(seed uint32) {
	if d.fm.CsumV2or3() {
		d.Checksum = d.ChecksumValue(seed)
	}
}

// Escape returns the copy of a data block as it must be logged and the tag
// flag it needs: a block starting with the jbd2 magic has those four bytes
// zeroed and is tagged FlagEscape, so that recovery cannot mistake it for a
// journal metadata block.
func Escape(data []byte) ([]byte, uint16) {
	out := append([]byte(nil), data...)
	if be32(out, 0) == Magic {
		clear(out[:4])
		return out, FlagEscape
	}
	return out, 0
}

// Unescape restores a logged data block in place: with FlagEscape its first
// four bytes become the jbd2 magic again.
func Unescape(data []byte, flags uint16) {
	if flags&FlagEscape != 0 && len(data) >= 4 {
		encodeBE(data, []field{f(0, ptrU32(Magic))})
	}
}

func ptrU32(v uint32) *uint32 { return &v }
