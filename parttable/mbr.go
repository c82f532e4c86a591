// Package parttable decodes and encodes the partition tables a disk image
// or a whole disk starts with: the MBR (with its extended boot records) and
// GPT (protective MBR, primary and backup headers, entry arrays, their
// CRC32s). It reads through io.ReaderAt only and never opens files.
//
// ext4relink uses it to say what a disk image holds when --dev names one
// instead of a filesystem, and to find the byte range of --partition N.
package parttable

import (
	"github.com/ext4relink/ext4relink/internal/layout"
	"github.com/ext4relink/ext4relink/super"
)

// MBR layout (the classic PC boot sector, UEFI spec 5.2.1 "Legacy MBR").
const (
	MBRSize         = 512
	MBRSignature    = 0xAA55 // boot_signature at 510, bytes 0x55 0xAA
	mbrEntriesOff   = 446
	MBREntrySize    = 16
	mbrEntries      = 4
	TypeGPTProtect  = 0xEE // the protective MBR's single entry
	TypeEmpty       = 0x00
	bootIndicatorOn = 0x80
)

// MBREntry is one 16-byte partition record of an MBR or EBR.
type MBREntry struct {
	BootIndicator uint8   // 0x00 or 0x80
	StartCHS      [3]byte // ignored: every tool since the 1990s uses the LBA fields
	OSType        uint8   // partition type
	EndCHS        [3]byte
	StartingLBA   uint32 // in sectors; for an EBR, relative (see readEBRs)
	SizeInLBA     uint32
}

func (e *MBREntry) fields() []layout.Field {
	return []layout.Field{
		layout.F(0, &e.BootIndicator), layout.F(1, e.StartCHS[:]), layout.F(4, &e.OSType),
		layout.F(5, e.EndCHS[:]), layout.F(8, &e.StartingLBA), layout.F(12, &e.SizeInLBA),
	}
}

// Used reports whether the record describes a partition.
func (e *MBREntry) Used() bool { return e.OSType != TypeEmpty && e.SizeInLBA != 0 }

// IsExtended reports whether the record is an extended partition (a
// container of logical partitions, chained through EBRs).
func (e *MBREntry) IsExtended() bool {
	return e.OSType == 0x05 || e.OSType == 0x0F || e.OSType == 0x85
}

// MBR is sector 0 of a disk (or an extended boot record, which has the same
// layout with only the first two entries used).
type MBR struct {
	BootCode           [440]byte
	UniqueMBRSignature uint32 // the "disk identifier" fdisk prints (0x1b8)
	Unknown            uint16 // 0x1bc
	Entries            [mbrEntries]MBREntry
	Signature          uint16 // 0x1fe: MBRSignature
}

func (m *MBR) fields() []layout.Field {
	f := []layout.Field{layout.F(0, m.BootCode[:]), layout.F(440, &m.UniqueMBRSignature), layout.F(444, &m.Unknown)}
	for i := range m.Entries {
		for _, ef := range m.Entries[i].fields() {
			ef.Off += mbrEntriesOff + i*MBREntrySize
			f = append(f, ef)
		}
	}
	return append(f, layout.F(510, &m.Signature))
}

// DecodeMBR parses a 512-byte MBR or EBR. It checks nothing; see Validate.
func DecodeMBR(b []byte) (*MBR, error) {
	if len(b) < MBRSize {
		return nil, super.Errorf(super.ErrCorrupt, "MBR", super.NoBlock, 0, "short read: %d of %d bytes", len(b), MBRSize)
	}
	m := new(MBR)
	layout.Decode(b[:MBRSize], m.fields())
	return m, nil
}

// Encode returns the 512 on-disk bytes of m.
func (m *MBR) Encode() []byte {
	b := make([]byte, MBRSize)
	layout.Encode(b, m.fields())
	return b
}

// Validate checks what makes 512 bytes an MBR rather than, say, a FAT or
// NTFS boot sector (which also end in 0x55AA): the signature, and a boot
// indicator of 0x00 or 0x80 in every entry. what names the record in
// errors ("MBR", "EBR at sector 4096"); off is its byte offset.
func (m *MBR) Validate(what string, off int64) error {
	if m.Signature != MBRSignature {
		return super.Errorf(super.ErrCorrupt, what, super.NoBlock, off+510, "no boot signature (%#04x, want 0xaa55)", m.Signature)
	}
	for i, e := range m.Entries {
		if e.BootIndicator != 0 && e.BootIndicator != bootIndicatorOn {
			return super.Errorf(super.ErrCorrupt, what, super.NoBlock, off+int64(mbrEntriesOff+i*MBREntrySize),
				"entry %d has boot indicator %#02x (want 0x00 or 0x80): a boot sector, not a partition table", i+1, e.BootIndicator)
		}
	}
	return nil
}

// Protective reports whether the MBR protects a GPT disk: an entry of type
// 0xEE (UEFI 5.2.3; a hybrid MBR has other entries besides it).
func (m *MBR) Protective() bool {
	for _, e := range m.Entries {
		if e.OSType == TypeGPTProtect {
			return true
		}
	}
	return false
}
