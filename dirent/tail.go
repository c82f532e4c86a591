package dirent

import (
	"bytes"
	"encoding/binary"

	"github.com/ext4relink/ext4relink/internal/layout"
	"github.com/ext4relink/ext4relink/super"
)

// TailSize is sizeof(struct ext4_dir_entry_tail).
const TailSize = 12

// Tail is struct ext4_dir_entry_tail: a fake, unused 12-byte record at the
// very end of a leaf block that holds the block's checksum under
// metadata_csum.
type Tail struct {
	ReservedZero1 uint32 // det_reserved_zero1 (the inode field): 0
	RecLen        uint16 // det_rec_len: 12
	ReservedZero2 uint8  // det_reserved_zero2 (name_len): 0
	ReservedFt    uint8  // det_reserved_ft (file_type): EXT4_FT_DIR_CSUM
	Checksum      uint32 // det_checksum
}

func (t *Tail) fields() []layout.Field {
	return []layout.Field{
		layout.F(0, &t.ReservedZero1), layout.F(4, &t.RecLen), layout.F(6, &t.ReservedZero2),
		layout.F(7, &t.ReservedFt), layout.F(8, &t.Checksum),
	}
}

// NewTail is an initialised tail (ext4_initialize_dirent_tail) with a zero checksum.
func NewTail() *Tail { return &Tail{RecLen: TailSize, ReservedFt: FtDirCsum} }

// DecodeTail reads a tail from the last TailSize bytes of b.
func DecodeTail(b []byte) (*Tail, error) {
	if len(b) < TailSize {
		return nil, super.Errorf(super.ErrCorrupt, "dirent tail", super.NoBlock, -1, "%d bytes, need %d", len(b), TailSize)
	}
	t := new(Tail)
	layout.Decode(b[len(b)-TailSize:], t.fields())
	return t, nil
}

// Encode returns the 12 on-disk bytes.
func (t *Tail) Encode() []byte {
	b := make([]byte, TailSize)
	layout.Encode(b, t.fields())
	return b
}

// Valid reports whether the reserved fields hold what the kernel's
// get_dirent_tail expects (the checksum is not looked at).
func (t *Tail) Valid(blockSize int) bool {
	return t.ReservedZero1 == 0 && RecLenFromDisk(t.RecLen, blockSize) == TailSize &&
		t.ReservedZero2 == 0 && t.ReservedFt == FtDirCsum
}

// HasTail reports whether the last 12 bytes of the block are a well-formed
// ext4_dir_entry_tail, as the kernel's get_dirent_tail decides.
func HasTail(block []byte) bool {
	t, err := DecodeTail(block)
	return err == nil && t.Valid(len(block))
}

// LeafChecksum is the checksum of a leaf block with a tail:
// crc32c(directory seed, block without its last 12 bytes).
func LeafChecksum(block []byte, seed uint32) uint32 {
	if len(block) < TailSize {
		return 0
	}
	return super.Crc32c(seed, block[:len(block)-TailSize])
}

// VerifyLeafChecksum reports whether the leaf block's tail holds the right
// checksum: true when metadata_csum is off, false when there is no tail.
func VerifyLeafChecksum(block []byte, p Params) bool {
	if !p.Csum {
		return true
	}
	if !HasTail(block) {
		return false
	}
	return binary.LittleEndian.Uint32(block[len(block)-4:]) == LeafChecksum(block, p.Seed)
}

// SetLeafChecksum stores the checksum in the block's tail (in place); a
// no-op without metadata_csum. It fails when the block has no tail.
func SetLeafChecksum(block []byte, p Params) error {
	if !p.Csum {
		return nil
	}
	if !HasTail(block) {
		return super.Errorf(super.ErrCorrupt, "directory block", super.NoBlock, -1, "no ext4_dir_entry_tail to hold the checksum")
	}
	binary.LittleEndian.PutUint32(block[len(block)-4:], LeafChecksum(block, p.Seed))
	return nil
}

// putTail writes an initialised tail over the last 12 bytes of block.
func putTail(block []byte) {
	copy(block[len(block)-TailSize:], NewTail().Encode())
}

// Block is a linear directory block or an htree leaf: its records and,
// under metadata_csum, its tail.
type Block struct {
	Entries []Entry
	Tail    *Tail // nil without metadata_csum
}

// LeafSpace returns the part of a leaf block that holds records: the whole
// block, or all but the tail under metadata_csum. A metadata_csum block
// without a tail is refused (the kernel cannot verify it either).
func LeafSpace(block []byte, p Params) ([]byte, error) {
	if err := p.checkBlock(block, "directory block"); err != nil {
		return nil, err
	}
	if !p.Csum {
		return block, nil
	}
	if !HasTail(block) {
		return nil, super.Errorf(super.ErrChecksum, "directory block", super.NoBlock, int64(len(block)-TailSize),
			"metadata_csum is on but the block has no ext4_dir_entry_tail (e2fsck -D adds one)")
	}
	return block[:len(block)-TailSize], nil
}

// DecodeBlock decodes and validates a leaf block. It does not verify the
// checksum; see VerifyLeafChecksum.
func DecodeBlock(block []byte, p Params) (*Block, error) {
	space, err := LeafSpace(block, p)
	if err != nil {
		return nil, err
	}
	es, err := Entries(space, p)
	if err != nil {
		return nil, err
	}
	k := &Block{Entries: es}
	if p.Csum {
		k.Tail, _ = DecodeTail(block)
	}
	return k, nil
}

// Encode returns the block's bytes: its records in order, then the tail.
func (k *Block) Encode() []byte {
	var b bytes.Buffer
	for i := range k.Entries {
		b.Write(k.Entries[i].Encode())
	}
	if k.Tail != nil {
		b.Write(k.Tail.Encode())
	}
	return b.Bytes()
}

// ValidateLeaf decodes nothing but checks everything a reader relies on: the
// block's records (and tail) are well formed and, under metadata_csum, the
// checksum matches.
func ValidateLeaf(block []byte, p Params) error {
	space, err := LeafSpace(block, p)
	if err != nil {
		return err
	}
	if err := WalkRecords(space, p, func(int, int, uint32, []byte) bool { return true }); err != nil {
		return err
	}
	if !VerifyLeafChecksum(block, p) {
		return super.Errorf(super.ErrChecksum, "directory block", super.NoBlock, int64(len(block)-4),
			"checksum %#08x does not match contents (computed %#08x)",
			binary.LittleEndian.Uint32(block[len(block)-4:]), LeafChecksum(block, p.Seed))
	}
	return nil
}
