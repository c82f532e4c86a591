package parttable

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"unicode/utf16"

	"github.com/ext4relink/ext4relink/internal/layout"
	"github.com/ext4relink/ext4relink/super"
)

// GPT header layout (UEFI spec 5.3.2, "GPT Header").
const (
	GPTSignature     = "EFI PART"
	GPTHeaderMinSize = 92
	GPTEntryMinSize  = 128
	// maxEntryArray bounds the partition entry array read into memory. The
	// usual array is 128 entries of 128 bytes (16 KiB); the spec sets no
	// upper limit, so a damaged count must not make us allocate gigabytes.
	maxEntryArray = 4 << 20
)

// GPTHeader is the GPT header (at LBA 1, the backup at the last LBA).
type GPTHeader struct {
	Signature                [8]byte
	Revision                 uint32
	HeaderSize               uint32
	HeaderCRC32              uint32
	Reserved                 uint32
	MyLBA                    uint64
	AlternateLBA             uint64
	FirstUsableLBA           uint64
	LastUsableLBA            uint64
	DiskGUID                 [16]byte
	PartitionEntryLBA        uint64
	NumberOfPartitionEntries uint32
	SizeOfPartitionEntry     uint32
	PartitionEntryArrayCRC32 uint32
	// raw is the whole sector the header was decoded from: the header CRC
	// covers HeaderSize bytes, which may exceed the 92 the fields cover.
	raw []byte
}

func (h *GPTHeader) fields() []layout.Field {
	return []layout.Field{
		layout.F(0, h.Signature[:]), layout.F(8, &h.Revision), layout.F(12, &h.HeaderSize),
		layout.F(16, &h.HeaderCRC32), layout.F(20, &h.Reserved), layout.F(24, &h.MyLBA),
		layout.F(32, &h.AlternateLBA), layout.F(40, &h.FirstUsableLBA), layout.F(48, &h.LastUsableLBA),
		layout.F(56, h.DiskGUID[:]), layout.F(72, &h.PartitionEntryLBA), layout.F(80, &h.NumberOfPartitionEntries),
		layout.F(84, &h.SizeOfPartitionEntry), layout.F(88, &h.PartitionEntryArrayCRC32),
	}
}

// DecodeGPTHeader parses a GPT header from the sector b (at least 92 bytes;
// the bytes past the fields are kept for the CRC and for Encode).
func DecodeGPTHeader(b []byte) (*GPTHeader, error) {
	if len(b) < GPTHeaderMinSize {
		return nil, super.Errorf(super.ErrCorrupt, "GPT header", super.NoBlock, -1, "short read: %d of %d bytes", len(b), GPTHeaderMinSize)
	}
	h := &GPTHeader{raw: append([]byte(nil), b...)}
	layout.Decode(b, h.fields())
	return h, nil
}

// Encode returns the sector the header was decoded from (or 512 bytes for a
// new header) with the fields stored.
func (h *GPTHeader) Encode() []byte {
	b := append([]byte(nil), h.raw...)
	if len(b) < GPTHeaderMinSize {
		b = append(b, make([]byte, MBRSize-len(b))...)
	}
	layout.Encode(b, h.fields())
	return b
}

// Checksum is the header CRC32 (IEEE, as zlib's crc32) over HeaderSize
// bytes with the HeaderCRC32 field taken as zero. ok is false when
// HeaderSize does not fit the sector.
func (h *GPTHeader) Checksum() (uint32, bool) {
	b := h.Encode()
	if h.HeaderSize < GPTHeaderMinSize || int(h.HeaderSize) > len(b) {
		return 0, false
	}
	binary.LittleEndian.PutUint32(b[16:], 0)
	return crc32.ChecksumIEEE(b[:h.HeaderSize]), true
}

// VerifyChecksum reports whether the stored header CRC matches.
func (h *GPTHeader) VerifyChecksum() bool {
	c, ok := h.Checksum()
	return ok && c == h.HeaderCRC32
}

// SetChecksum stores the header CRC (for tests that build tables).
func (h *GPTHeader) SetChecksum() {
	if c, ok := h.Checksum(); ok {
		h.HeaderCRC32 = c
	}
}

// EntryArraySize is the byte size of the partition entry array.
func (h *GPTHeader) EntryArraySize() uint64 {
	return uint64(h.NumberOfPartitionEntries) * uint64(h.SizeOfPartitionEntry)
}

// Validate checks the header read from LBA lba of a disk of lastLBA+1
// sectors of sectorSize bytes: signature, size, CRC, its own LBA, and that
// the usable range and the entry array lie on the disk. what names it
// ("primary GPT header").
func (h *GPTHeader) Validate(what string, lba, lastLBA uint64, sectorSize int) error {
	off := int64(lba) * int64(sectorSize)
	bad := func(sentinel error, field int64, format string, args ...any) error {
		return super.Errorf(sentinel, what, super.NoBlock, off+field, format, args...)
	}
	switch {
	case string(h.Signature[:]) != GPTSignature:
		return bad(super.ErrCorrupt, 0, "no %q signature", GPTSignature)
	case h.HeaderSize < GPTHeaderMinSize || int(h.HeaderSize) > sectorSize:
		return bad(super.ErrCorrupt, 12, "header size %d outside %d..%d", h.HeaderSize, GPTHeaderMinSize, sectorSize)
	case !h.VerifyChecksum():
		c, _ := h.Checksum()
		return bad(super.ErrChecksum, 16, "header CRC32 %#08x, computed %#08x", h.HeaderCRC32, c)
	case h.MyLBA != lba:
		return bad(super.ErrCorrupt, 24, "MyLBA is %d but the header was read from LBA %d", h.MyLBA, lba)
	case h.SizeOfPartitionEntry < GPTEntryMinSize || h.SizeOfPartitionEntry%8 != 0:
		return bad(super.ErrCorrupt, 84, "partition entry size %d (want a multiple of 8, at least %d)", h.SizeOfPartitionEntry, GPTEntryMinSize)
	case h.EntryArraySize() > maxEntryArray:
		return bad(super.ErrUnsupported, 80, "%d partition entries of %d bytes: more than ext4relink reads (%d bytes)", h.NumberOfPartitionEntries, h.SizeOfPartitionEntry, maxEntryArray)
	case h.FirstUsableLBA > h.LastUsableLBA || h.FirstUsableLBA > lastLBA:
		// A LastUsableLBA past the end is a truncated image, which Read
		// reports per partition; the header itself is still readable.
		return bad(super.ErrCorrupt, 40, "usable LBAs %d..%d do not fit a disk of %d sectors", h.FirstUsableLBA, h.LastUsableLBA, lastLBA+1)
	}
	arraySectors := (h.EntryArraySize() + uint64(sectorSize) - 1) / uint64(sectorSize)
	if h.PartitionEntryLBA < 1 || h.PartitionEntryLBA > lastLBA || arraySectors > lastLBA+1-h.PartitionEntryLBA {
		return bad(super.ErrCorrupt, 72, "the partition entry array (LBA %d, %d sectors) does not fit a disk of %d sectors", h.PartitionEntryLBA, arraySectors, lastLBA+1)
	}
	return nil
}

// GPTEntry is one partition entry (UEFI 5.3.3); the array holds
// NumberOfPartitionEntries of SizeOfPartitionEntry bytes.
type GPTEntry struct {
	PartitionTypeGUID   [16]byte
	UniquePartitionGUID [16]byte
	StartingLBA         uint64
	EndingLBA           uint64 // inclusive
	Attributes          uint64
	PartitionName       [72]byte // UTF-16LE, NUL-padded
}

func (e *GPTEntry) fields() []layout.Field {
	return []layout.Field{
		layout.F(0, e.PartitionTypeGUID[:]), layout.F(16, e.UniquePartitionGUID[:]),
		layout.F(32, &e.StartingLBA), layout.F(40, &e.EndingLBA), layout.F(48, &e.Attributes),
		layout.F(56, e.PartitionName[:]),
	}
}

// DecodeGPTEntry parses one 128-byte entry (the first 128 bytes of b).
func DecodeGPTEntry(b []byte) (*GPTEntry, error) {
	if len(b) < GPTEntryMinSize {
		return nil, super.Errorf(super.ErrCorrupt, "GPT entry", super.NoBlock, -1, "short read: %d of %d bytes", len(b), GPTEntryMinSize)
	}
	e := new(GPTEntry)
	layout.Decode(b[:GPTEntryMinSize], e.fields())
	return e, nil
}

// Encode returns the 128 on-disk bytes of e.
func (e *GPTEntry) Encode() []byte {
	b := make([]byte, GPTEntryMinSize)
	layout.Encode(b, e.fields())
	return b
}

// Used reports whether the entry describes a partition (type GUID not zero).
func (e *GPTEntry) Used() bool { return e.PartitionTypeGUID != [16]byte{} }

// Name decodes PartitionName.
func (e *GPTEntry) Name() string {
	var u []uint16
	for i := 0; i+1 < len(e.PartitionName); i += 2 {
		c := binary.LittleEndian.Uint16(e.PartitionName[i:])
		if c == 0 {
			break
		}
		u = append(u, c)
	}
	return string(utf16.Decode(u))
}

// SetName stores name as UTF-16LE (truncated to 36 code units).
func (e *GPTEntry) SetName(name string) {
	clear(e.PartitionName[:])
	for i, c := range utf16.Encode([]rune(name)) {
		if 2*i+1 >= len(e.PartitionName) {
			break
		}
		binary.LittleEndian.PutUint16(e.PartitionName[2*i:], c)
	}
}

// GUIDString formats an on-disk GUID (first three fields little-endian) as
// the usual upper-case text.
func GUIDString(g [16]byte) string {
	return fmt.Sprintf("%08X-%04X-%04X-%X-%X", binary.LittleEndian.Uint32(g[0:]),
		binary.LittleEndian.Uint16(g[4:]), binary.LittleEndian.Uint16(g[6:]), g[8:10], g[10:16])
}

// ParseGUID is the inverse of GUIDString (for tests and the type table).
func ParseGUID(s string) ([16]byte, error) {
	var g [16]byte
	var a uint32
	var b, c uint16
	var d [2]byte
	var e [6]byte
	if len(s) != 36 {
		return g, fmt.Errorf("GUID %q: want 36 characters", s)
	}
	if _, err := fmt.Sscanf(s, "%08X-%04X-%04X-%02X%02X-%02X%02X%02X%02X%02X%02X", &a, &b, &c, &d[0], &d[1], &e[0], &e[1], &e[2], &e[3], &e[4], &e[5]); err != nil {
		return g, fmt.Errorf("GUID %q: %v", s, err)
	}
	binary.LittleEndian.PutUint32(g[0:], a)
	binary.LittleEndian.PutUint16(g[4:], b)
	binary.LittleEndian.PutUint16(g[6:], c)
	copy(g[8:], d[:])
	copy(g[10:], e[:])
	return g, nil
}

// EntryArrayCRC is the CRC32 of a partition entry array.
func EntryArrayCRC(array []byte) uint32 { return crc32.ChecksumIEEE(array) }
