// Package undo writes and reads the e2fsprogs undo file (e2undo(8),
// format "E2UNDO02"): header.go is the on-disk format, dev.go the device
// wrapper that saves each block's old content before it is first changed.
package undo

import (
	"encoding/binary"

	"github.com/ext4relink/ext4relink/internal/layout"
	"github.com/ext4relink/ext4relink/super"
)

// The e2fsprogs undo file (e2undo(8), format "E2UNDO02"), as ext4relink
// writes it. The file is a sequence of blocks of Header.BlockSize bytes
// (here the filesystem block size):
//
//	block 0      the header (512 bytes, the rest of the block zero)
//	blocks 1, 2  two slots for the copy of the device's superblock; the
//	             header names the current one (super_offset)
//	block 3      the first key block (key_offset), followed by the data of
//	             its keys, then the next key block, and so on
//
// A key block starts with its magic and a CRC32C of the whole block (taken
// with the CRC field zero) and holds up to BlockSize/16-1 keys: filesystem
// block number (in fs_block_size units), CRC32C of the saved bytes, number
// of saved bytes. The saved bytes of each key follow one another right after
// the key block, each key taking whole blocks; every key block but the last
// is full, because e2undo finds the next key block by adding up the sizes of
// the keys before it. Every CRC is crc32c seeded with ~0 and without the
// final inversion (super.Crc32c(^0, ...)).
//
// e2undo refuses a file unless the device's superblock is byte for byte the
// copy in the undo file (stored with s_magic bit-inverted, so that nothing
// mistakes the undo file for a filesystem; sb_crc is taken over the copy
// with the real magic). A file whose state lacks "finished" is replayed and
// then the filesystem is marked as needing fsck, which changes the
// superblock again; so ext4relink writes every header with the finished
// state, and writes one only when the file describes the device exactly.
const (
	Magic            = "E2UNDO02"
	keyBlockMagic    = 0xCADECADE
	StateFinished    = 0x1
	HeaderSize       = 512
	KeySize          = 16
	keyBlockHdr      = 16
	firstKeyBlock    = 3
	superSlotA       = 1
	superSlotB       = 2
	SuperMagicOffset = 0x38 // s_magic inside the superblock
	// FeatureCompatFSOffset is E2UNDO_FEATURE_COMPAT_FS_OFFSET: the
	// header's fs_offset says where the filesystem starts in the device.
	FeatureCompatFSOffset = 0x1
	MinBlockSize          = 1024 // e2undo's limits on the undo block size
	MaxBlockSize          = 1 << 20
	maxKeyBlocks          = 512 // e2undo refuses a key longer than this many blocks
	headerCRCBytes        = HeaderSize - 4
)

// Header is struct undo_header of e2fsprogs.
type Header struct {
	Magic       [8]byte
	NumKeys     uint64
	SuperOffset uint64 // file block holding the superblock copy
	KeyOffset   uint64 // file block of the first key block
	BlockSize   uint32 // block size of the undo file
	FSBlockSize uint32 // block size of the device (unit of Key.FSBlock)
	SBCrc       uint32
	State       uint32
	FCompat     uint32
	FIncompat   uint32
	FRoCompat   uint32
	Pad32       uint32
	FSOffset    uint64
	Padding     [436]byte
	HeaderCrc   uint32
}

func (h *Header) fields() []layout.Field {
	return []layout.Field{
		layout.F(0, h.Magic[:]), layout.F(8, &h.NumKeys), layout.F(16, &h.SuperOffset), layout.F(24, &h.KeyOffset),
		layout.F(32, &h.BlockSize), layout.F(36, &h.FSBlockSize), layout.F(40, &h.SBCrc), layout.F(44, &h.State),
		layout.F(48, &h.FCompat), layout.F(52, &h.FIncompat), layout.F(56, &h.FRoCompat), layout.F(60, &h.Pad32),
		layout.F(64, &h.FSOffset), layout.F(72, h.Padding[:]), layout.F(headerCRCBytes, &h.HeaderCrc),
	}
}

// Encode returns the 512 header bytes with HeaderCrc recomputed.
func (h *Header) Encode() []byte {
	b := make([]byte, HeaderSize)
	layout.Encode(b, h.fields())
	h.HeaderCrc = super.Crc32c(^uint32(0), b[:headerCRCBytes])
	layout.Encode(b, h.fields())
	return b
}

// DecodeHeader parses and checks an undo file header as e2undo does
// (magic, header CRC, block sizes, no unknown incompatible features).
func DecodeHeader(b []byte) (*Header, error) {
	bad := func(format string, args ...any) error {
		return super.Errorf(super.ErrCorrupt, "undo file header", super.NoBlock, 0, format, args...)
	}
	if len(b) < HeaderSize {
		return nil, bad("short: %d of %d bytes", len(b), HeaderSize)
	}
	h := new(Header)
	layout.Decode(b[:HeaderSize], h.fields())
	switch {
	case string(h.Magic[:]) != Magic:
		return nil, bad("magic %q, want %q: not an e2undo file", h.Magic[:], Magic)
	case h.HeaderCrc != super.Crc32c(^uint32(0), b[:headerCRCBytes]):
		return nil, super.Errorf(super.ErrChecksum, "undo file header", super.NoBlock, 0, "header checksum mismatch")
	case h.BlockSize < MinBlockSize || h.BlockSize > MaxBlockSize || h.FSBlockSize == 0:
		return nil, bad("block size %d, fs block size %d", h.BlockSize, h.FSBlockSize)
	case h.FIncompat != 0 || h.FRoCompat != 0:
		return nil, bad("unknown features (incompat %#x, ro_compat %#x)", h.FIncompat, h.FRoCompat)
	}
	return h, nil
}

// Key is struct undo_key: FSBlock in Header.FSBlockSize units, the
// CRC32C and length in bytes of the saved old content.
type Key struct {
	FSBlock uint64
	Crc     uint32
	Size    uint32
}

func (k *Key) fields() []layout.Field {
	return []layout.Field{layout.F(0, &k.FSBlock), layout.F(8, &k.Crc), layout.F(12, &k.Size)}
}

// KeysPerBlock is how many keys a key block of blockSize bytes holds.
func KeysPerBlock(blockSize uint32) int { return int(blockSize)/KeySize - 1 }

// EncodeKeyBlock builds a key block (magic, CRC, reserved, keys) of
// blockSize bytes.
func EncodeKeyBlock(blockSize uint32, keys []Key) []byte {
	b := make([]byte, blockSize)
	binary.LittleEndian.PutUint32(b[0:], keyBlockMagic)
	for i := range keys {
		layout.Encode(b[keyBlockHdr+i*KeySize:keyBlockHdr+(i+1)*KeySize], keys[i].fields())
	}
	binary.LittleEndian.PutUint32(b[4:], super.Crc32c(^uint32(0), b))
	return b
}

// DecodeKeyBlock checks a key block's magic and CRC and returns its first n keys.
func DecodeKeyBlock(b []byte, n int) ([]Key, error) {
	bad := func(sentinel error, format string, args ...any) error {
		return super.Errorf(sentinel, "undo key block", super.NoBlock, -1, format, args...)
	}
	if len(b) < keyBlockHdr || n < 0 || n > (len(b)-keyBlockHdr)/KeySize {
		return nil, bad(super.ErrCorrupt, "%d bytes cannot hold %d keys", len(b), n)
	}
	if m := binary.LittleEndian.Uint32(b[0:]); m != keyBlockMagic {
		return nil, bad(super.ErrCorrupt, "magic %#x, want %#x", m, keyBlockMagic)
	}
	c := append([]byte(nil), b...)
	binary.LittleEndian.PutUint32(c[4:], 0)
	if got, want := binary.LittleEndian.Uint32(b[4:]), super.Crc32c(^uint32(0), c); got != want {
		return nil, bad(super.ErrChecksum, "checksum %#x, computed %#x", got, want)
	}
	keys := make([]Key, n)
	for i := range keys {
		layout.Decode(b[keyBlockHdr+i*KeySize:keyBlockHdr+(i+1)*KeySize], keys[i].fields())
	}
	return keys, nil
}
