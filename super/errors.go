package super

import (
	"errors"
	"fmt"
)

// Sentinel errors. Every error ext4relink returns about on-disk data wraps
// exactly one of them, so callers (and the CLI's exit codes) can tell
// "the data is damaged" from "the data is fine but we do not handle it".
var (
	// ErrCorrupt: a structure violates an invariant the kernel also checks.
	ErrCorrupt = errors.New("corrupt")
	// ErrChecksum: a structure's stored checksum does not match its contents.
	ErrChecksum = errors.New("checksum mismatch")
	// ErrUnsupported: a valid structure or feature that ext4relink refuses to handle.
	ErrUnsupported = errors.New("unsupported")
)

// NoBlock marks a FormatError that is not tied to a filesystem block.
const NoBlock = ^uint64(0)

// FormatError describes a problem with one on-disk structure, in the manner
// of debug/elf's FormatError: which structure, where, and why.
type FormatError struct {
	Struct string // e.g. "superblock", "group descriptor 3", "inode 12", "directory block"
	Block  uint64 // filesystem block holding it, or NoBlock
	Offset int64  // byte offset inside that block (or inside the device when Block is NoBlock), -1 if unknown
	Reason string // what is wrong, in words
	Err    error  // one of the sentinels above
}

func (e *FormatError) Error() string {
	where := ""
	switch {
	case e.Block != NoBlock && e.Offset >= 0:
		where = fmt.Sprintf(" (block %d, offset %d)", e.Block, e.Offset)
	case e.Block != NoBlock:
		where = fmt.Sprintf(" (block %d)", e.Block)
	case e.Offset >= 0:
		where = fmt.Sprintf(" (byte offset %d)", e.Offset)
	}
	return fmt.Sprintf("%s%s: %s", e.Struct, where, e.Reason)
}

func (e *FormatError) Unwrap() error { return e.Err }

// Errorf builds a FormatError. Pass NoBlock and -1 when the location is unknown.
func Errorf(sentinel error, structure string, block uint64, off int64, format string, args ...any) *FormatError {
	return &FormatError{Struct: structure, Block: block, Offset: off, Reason: fmt.Sprintf(format, args...), Err: sentinel}
}
