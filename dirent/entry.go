package dirent

import (
	"bytes"
	"encoding/binary"

	"github.com/ext4relink/ext4relink/internal/layout"
	"github.com/ext4relink/ext4relink/super"
)

// File type codes of ext4_dir_entry_2.file_type (EXT4_FT_*).
const (
	FtUnknown = 0
	FtRegFile = 1
	FtDir     = 2
	FtChrdev  = 3
	FtBlkdev  = 4
	FtFifo    = 5
	FtSock    = 6
	FtSymlink = 7
	FtMax     = 8
	FtDirCsum = 0xDE // the fake entry holding a leaf block's checksum
)

// Sizes of directory records.
const (
	HeaderSize = 8   // inode, rec_len, name_len, file_type
	NameMax    = 255 // EXT4_NAME_LEN
	MinRecLen  = 12  // EXT4_DIR_REC_LEN(1): the smallest record
)

// RecLen is EXT4_DIR_REC_LEN: the space a record with a name of nameLen bytes
// needs, rounded up to four bytes.
func RecLen(nameLen int) int { return (nameLen + HeaderSize + 3) &^ 3 }

// RecLenFromDisk is ext4_rec_len_from_disk: with 64 KiB blocks the stored
// 16-bit value folds bits 16-17 into its two low bits, and 0 or 0xFFFF mean a
// whole block.
func RecLenFromDisk(v uint16, blockSize int) int {
	if blockSize < 65536 {
		return int(v)
	}
	if v == 0xFFFF || v == 0 {
		return blockSize
	}
	return int(v&0xFFFC) | int(v&3)<<16
}

// RecLenToDisk is ext4_rec_len_to_disk. It reports false for a length no
// record can have (negative, beyond the block, not a multiple of four).
func RecLenToDisk(n, blockSize int) (uint16, bool) {
	if n < 0 || n > blockSize || n&3 != 0 || blockSize > 1<<18 {
		return 0, false
	}
	switch {
	case n < 65536:
		return uint16(n), true
	case n == blockSize && blockSize == 65536:
		return 0xFFFF, true
	case n == blockSize:
		return 0, true
	}
	return uint16(n&0xFFFC | (n>>16)&3), true
}

// Entry is struct ext4_dir_entry_2, one directory record. Off is where it
// was found in its buffer (not an on-disk field). Slack holds the record's
// bytes after the name, so that encoding reproduces the record exactly.
type Entry struct {
	Inode    uint32 // inode; 0 marks an unused record
	RecLen   uint16 // rec_len as stored (see RecLenFromDisk)
	NameLen  uint8  // name_len
	FileType uint8  // file_type (EXT4_FT_*), 0 without INCOMPAT_FILETYPE
	Name     []byte // NameLen bytes
	Slack    []byte // the rest of the record
	Off      int
}

func (e *Entry) fields() []layout.Field {
	return []layout.Field{
		layout.F(0, &e.Inode), layout.F(4, &e.RecLen), layout.F(6, &e.NameLen), layout.F(7, &e.FileType),
	}
}

// Size is the record length in bytes (the decoded rec_len).
func (e *Entry) Size(blockSize int) int { return RecLenFromDisk(e.RecLen, blockSize) }

// Used reports whether the record names an inode.
func (e *Entry) Used() bool { return e.Inode != 0 }

// Encode returns the record: header, name and slack.
func (e *Entry) Encode() []byte {
	b := make([]byte, HeaderSize, HeaderSize+len(e.Name)+len(e.Slack))
	layout.Encode(b, e.fields())
	b = append(b, e.Name...)
	return append(b, e.Slack...)
}

// decodeEntry reads the record at off of a space checkEntry accepted.
func decodeEntry(space []byte, off, blockSize int) Entry {
	e := Entry{Off: off}
	layout.Decode(space[off:off+HeaderSize], e.fields())
	end := off + e.Size(blockSize)
	nameEnd := off + HeaderSize + int(e.NameLen)
	e.Name = bytes.Clone(space[off+HeaderSize : nameEnd])
	e.Slack = bytes.Clone(space[nameEnd:end])
	return e
}

// CheckEntry validates the record at off of space, a run of records that
// must exactly fill space (a block without its tail, or an inline region).
// It applies the checks of the kernel's __ext4_check_dir_entry and refuses a
// used record with an empty name, as e2fsck does. Every reader of dirent
// goes through it.
func CheckEntry(space []byte, off int, p Params) error {
	if err := p.check("directory entry"); err != nil {
		return err
	}
	bad := func(format string, args ...any) error {
		return super.Errorf(super.ErrCorrupt, "directory entry", super.NoBlock, int64(off), format, args...)
	}
	if off < 0 || off+HeaderSize > len(space) {
		return bad("record header at %d overruns the %d-byte space", off, len(space))
	}
	ino := binary.LittleEndian.Uint32(space[off:])
	rlen := RecLenFromDisk(binary.LittleEndian.Uint16(space[off+4:]), p.BlockSize)
	nameLen := int(space[off+6])
	next := off + rlen
	switch {
	case rlen < MinRecLen:
		return bad("rec_len %d is smaller than minimal", rlen)
	case rlen%4 != 0:
		return bad("rec_len %d is not a multiple of 4", rlen)
	case rlen < RecLen(nameLen):
		return bad("rec_len %d is too small for name_len %d", rlen, nameLen)
	case next > len(space):
		return bad("rec_len %d overruns the %d-byte space", rlen, len(space))
	case next > len(space)-MinRecLen && next != len(space):
		return bad("rec_len %d leaves %d bytes, too few for another record", rlen, len(space)-next)
	case ino > p.InodesCount:
		return bad("inode %d is beyond s_inodes_count %d", ino, p.InodesCount)
	case ino != 0 && nameLen == 0:
		return bad("inode %d has an empty name", ino)
	case nameLen == 1 && space[off+HeaderSize] == '.' && next == len(space):
		return bad("'.' cannot be the last record")
	}
	return nil
}

// Walk validates the records of space in order and calls fn for each; fn
// returns false to stop early. The records must fill space exactly.
func Walk(space []byte, p Params, fn func(e Entry) bool) error {
	return WalkRecords(space, p, func(off, _ int, _ uint32, _ []byte) bool {
		return fn(decodeEntry(space, off, p.BlockSize))
	})
}

// WalkRecords is Walk without decoding: fn gets each validated record's
// offset, size (the decoded rec_len), inode and name. name is a slice of
// space, not a copy: fn must not modify it nor keep it.
func WalkRecords(space []byte, p Params, fn func(off, size int, ino uint32, name []byte) bool) error {
	for off := 0; off < len(space); {
		if err := CheckEntry(space, off, p); err != nil {
			return err
		}
		size := recLenAt(space, off, p.BlockSize)
		name := space[off+HeaderSize : off+HeaderSize+int(space[off+6])]
		if !fn(off, size, le32(space, off), name) {
			return nil
		}
		off += size
	}
	return nil
}

// Entries decodes and validates every record of space.
func Entries(space []byte, p Params) ([]Entry, error) {
	var out []Entry
	err := Walk(space, p, func(e Entry) bool { out = append(out, e); return true })
	return out, err
}

// Lookup finds the used record named name in space, validating every record
// it passes (ext4_search_dir with full checks).
func Lookup(space, name []byte, p Params) (Entry, bool, error) {
	var found Entry
	ok := false
	err := WalkRecords(space, p, func(off, _ int, ino uint32, n []byte) bool {
		if ino != 0 && bytes.Equal(n, name) {
			found, ok = decodeEntry(space, off, p.BlockSize), true
		}
		return !ok
	})
	return found, ok, err
}

// CheckName refuses names the kernel would never create: empty, longer than
// 255 bytes, "." or "..", or containing '/' or NUL.
func CheckName(name []byte) error {
	bad := func(format string, args ...any) error {
		return super.Errorf(super.ErrCorrupt, "directory entry name", super.NoBlock, -1, format, args...)
	}
	switch {
	case len(name) == 0 || len(name) > NameMax:
		return bad("name length %d is not between 1 and %d", len(name), NameMax)
	case string(name) == "." || string(name) == "..":
		return bad("%q is reserved", name)
	case bytes.IndexByte(name, '/') >= 0 || bytes.IndexByte(name, 0) >= 0:
		return bad("name %q contains '/' or NUL", name)
	}
	return nil
}

// putHeader writes a record header at b[0:8].
func putHeader(b []byte, ino uint32, rlen uint16, nameLen, ft uint8) {
	binary.LittleEndian.PutUint32(b, ino)
	binary.LittleEndian.PutUint16(b[4:], rlen)
	b[6], b[7] = nameLen, ft
}

// setRecLen stores a record length known to be valid for the block size.
func setRecLen(b []byte, n, blockSize int) {
	v, _ := RecLenToDisk(n, blockSize)
	binary.LittleEndian.PutUint16(b[4:], v)
}

// recLenAt reads the decoded rec_len of the record at b[off:].
func recLenAt(b []byte, off, blockSize int) int {
	return RecLenFromDisk(binary.LittleEndian.Uint16(b[off+4:]), blockSize)
}
