package super

import (
	"encoding/binary"
)

// Orphan file block layout (fs/ext4/orphan.c): the block is an array of
// __le32 inode numbers (0 = free slot) followed by struct
// ext4_orphan_block_tail { __le32 ob_magic; __le32 ob_checksum; }.
const (
	OrphanBlockMagic    = 0x0b10ca04
	OrphanBlockTailSize = 8
)

// OrphanBlock is one block of the orphan file (feature orphan_file).
type OrphanBlock struct {
	Inodes []uint32 // (blocksize-8)/4 slots, 0 when free
	Magic  uint32   // ob_magic
	Csum   uint32   // ob_checksum
}

// OrphanSlotsPerBlock is ext4_inodes_per_orphan_block.
func OrphanSlotsPerBlock(blockSize uint32) int {
	return int(blockSize-OrphanBlockTailSize) / 4
}

// DecodeOrphanBlock parses a whole orphan-file block.
func DecodeOrphanBlock(b []byte) *OrphanBlock {
	n := OrphanSlotsPerBlock(uint32(len(b)))
	if len(b) < OrphanBlockTailSize || n < 0 {
		return &OrphanBlock{}
	}
	o := &OrphanBlock{Inodes: make([]uint32, n)}
	for i := range o.Inodes {
		o.Inodes[i] = binary.LittleEndian.Uint32(b[4*i:])
	}
	o.Magic = binary.LittleEndian.Uint32(b[len(b)-8:])
	o.Csum = binary.LittleEndian.Uint32(b[len(b)-4:])
	return o
}

// Encode returns the block, blockSize bytes long.
func (o *OrphanBlock) Encode(blockSize uint32) []byte {
	b := make([]byte, blockSize)
	for i, ino := range o.Inodes {
		binary.LittleEndian.PutUint32(b[4*i:], ino)
	}
	binary.LittleEndian.PutUint32(b[blockSize-8:], o.Magic)
	binary.LittleEndian.PutUint32(b[blockSize-4:], o.Csum)
	return b
}

// Checksum is ob_checksum: crc32c seeded with the orphan file inode's own
// checksum seed (see inode.CsumSeed), over the block's physical number as
// __le64, then the slot array.
func (o *OrphanBlock) Checksum(inodeSeed uint32, physBlock uint64, blockSize uint32) uint32 {
	var le [8]byte
	binary.LittleEndian.PutUint64(le[:], physBlock)
	c := Crc32c(inodeSeed, le[:])
	return Crc32c(c, o.Encode(blockSize)[:4*len(o.Inodes)])
}

// VerifyChecksum is true when metadata_csum is off or the checksum matches.
func (o *OrphanBlock) VerifyChecksum(sb *Superblock, inodeSeed uint32, physBlock uint64) bool {
	return !sb.HasMetadataCsum() || o.Checksum(inodeSeed, physBlock, sb.BlockSize()) == o.Csum
}

// SetChecksum stores the checksum when metadata_csum is on.
func (o *OrphanBlock) SetChecksum(sb *Superblock, inodeSeed uint32, physBlock uint64) {
	if sb.HasMetadataCsum() {
		o.Csum = o.Checksum(inodeSeed, physBlock, sb.BlockSize())
	}
}

// Validate checks the magic: the kernel refuses to mount on a bad one.
func (o *OrphanBlock) Validate(physBlock uint64) error {
	if o.Magic != OrphanBlockMagic {
		return Errorf(ErrCorrupt, "orphan file block", physBlock, -1, "bad magic %#08x (want %#08x)", o.Magic, OrphanBlockMagic)
	}
	return nil
}

// Used lists the occupied slots as (slot index, inode number).
func (o *OrphanBlock) Used() (slots []int) {
	for i, ino := range o.Inodes {
		if ino != 0 {
			slots = append(slots, i)
		}
	}
	return slots
}
