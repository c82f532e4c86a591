package journal

import (
	"fmt"

	"github.com/ext4relink/ext4relink/super"
)

// Magic is JBD2_MAGIC_NUMBER, the first four bytes of every journal
// metadata block (big-endian).
const Magic = 0xC03B3998

// Block types (h_blocktype).
const (
	BlockDescriptor   = 1 // JBD2_DESCRIPTOR_BLOCK
	BlockCommit       = 2 // JBD2_COMMIT_BLOCK
	BlockSuperblockV1 = 3 // JBD2_SUPERBLOCK_V1
	BlockSuperblockV2 = 4 // JBD2_SUPERBLOCK_V2
	BlockRevoke       = 5 // JBD2_REVOKE_BLOCK
	BlockFastCommit   = 6 // JBD2_FC_BLOCK (never written by ext4)
)

// HeaderSize is sizeof(journal_header_t).
const HeaderSize = 12

// TailSize is sizeof(struct jbd2_journal_block_tail): the checksum at the
// end of descriptor and revoke blocks under checksum v2/v3.
const TailSize = 4

// Header is journal_header_t, the first 12 bytes of every journal metadata block.
type Header struct {
	Magic     uint32 // h_magic
	BlockType uint32 // h_blocktype
	Sequence  uint32 // h_sequence: the transaction ID
}

func (h *Header) fields() []field {
	return []field{f(0x0, &h.Magic), f(0x4, &h.BlockType), f(0x8, &h.Sequence)}
}

// DecodeHeader reads the header of a journal block. It checks nothing but
// the length: a block without the magic is a normal end of the log.
func DecodeHeader(b []byte) (Header, error) {
	var h Header
	if len(b) < HeaderSize {
		return h, super.Errorf(super.ErrCorrupt, "journal block header", super.NoBlock, -1,
			"short block: %d bytes", len(b))
	}
	decodeBE(b, h.fields())
	return h, nil
}

// Encode writes the header into the first 12 bytes of b.
func (h *Header) Encode(b []byte) { encodeBE(b, h.fields()) }

// Valid reports whether the header carries the jbd2 magic.
func (h Header) Valid() bool { return h.Magic == Magic }

// BlockTypeName names a block type as debugfs logdump does.
func BlockTypeName(t uint32) string {
	switch t {
	case BlockDescriptor:
		return "descriptor block"
	case BlockCommit:
		return "commit block"
	case BlockSuperblockV1:
		return "V1 superblock"
	case BlockSuperblockV2:
		return "V2 superblock"
	case BlockRevoke:
		return "revoke table"
	case BlockFastCommit:
		return "fast commit block"
	}
	return fmt.Sprintf("unknown type %d", t)
}

// tidGT and tidGEQ compare transaction IDs modulo 2^32, like the kernel's
// tid_gt and tid_geq.
func tidGT(x, y uint32) bool  { return int32(x-y) > 0 }
func tidGEQ(x, y uint32) bool { return int32(x-y) >= 0 }
