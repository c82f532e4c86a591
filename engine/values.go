package engine

import (
	"encoding/json"
	"fmt"
	"slices"
)

// Typed values that drive logic: where an orphan was found, what state it
// is in, what kind of file it is. Each prints and marshals as the string
// the CLI and its JSON have always used; the zero value prints as "".

// OrphanSource says where an orphan was found.
type OrphanSource uint8

const (
	_                OrphanSource = iota
	SourceChain                   // the superblock's s_last_orphan chain, through i_dtime
	SourceOrphanFile              // a slot of the orphan file (feature orphan_file)
	// SourceStranded: on the chain before a fast-commit replay cut it off
	// (see walkStranded).
	SourceStranded
	// SourceLinked: on no list; an earlier run had already linked it
	// (Relinked.AlreadyDone).
	SourceLinked
	// SourceScan: on no list; found by reading every inode table (list
	// --scan, see ScanOrphans): a chain member behind a cut or damaged link.
	SourceScan
)

var sourceNames = []string{"", "chain", "orphan_file", "stranded", "linked", "scan"}

func (s OrphanSource) String() string               { return enumString(sourceNames, uint8(s)) }
func (s OrphanSource) MarshalJSON() ([]byte, error) { return json.Marshal(s.String()) }
func (s *OrphanSource) UnmarshalJSON(b []byte) error {
	return enumParse(sourceNames, b, "orphan source", (*uint8)(s))
}

// OrphanState says what ext4relink may do with an orphan.
type OrphanState uint8

const (
	_                OrphanState = iota
	StateDeletedOpen             // links 0: the file ext4relink brings back
	// StatePastEOF: a regular file, links 0, i_size > 0 and written blocks
	// mapped at or past the first block wholly beyond i_size. The kernel's
	// release never leaves this (it cuts i_size to 0 first); an extending
	// O_DIRECT write does (ext4_dio_write_iter allocates written blocks past
	// EOF and commits them before the I/O completes and i_disksize is
	// raised), and so does a shrinking ftruncate of the deleted file cut
	// short between the new i_size and the end of ext4_truncate. Everything
	// up to i_size is intact: relinked, with the blocks past i_size freed
	// (what the truncate the kernel runs on such an inode would do) or, with
	// --keep-past-eof, kept and covered by a larger i_size.
	StatePastEOF
	StateTruncating // links > 0: a truncate was in progress; never touched
	// StateReleasing: links 0, i_size 0 and written blocks still mapped.
	// ext4_evict_inode (the last close of a deleted file) sets i_size to 0
	// before ext4_truncate frees the blocks, and ext4_ext_truncate /
	// ext4_ind_truncate write that size to disk (i_disksize) in the same
	// handle as the first blocks freed: a crash after a truncate restart
	// leaves exactly this. The file's size is lost; never touched.
	StateReleasing
)

var stateNames = []string{"", "deleted-open", "past-eof", "truncating", "releasing"}

func (s OrphanState) String() string               { return enumString(stateNames, uint8(s)) }
func (s OrphanState) MarshalJSON() ([]byte, error) { return json.Marshal(s.String()) }
func (s *OrphanState) UnmarshalJSON(b []byte) error {
	return enumParse(stateNames, b, "orphan state", (*uint8)(s))
}

// FileType is the kind of file an inode is, from its mode.
type FileType uint8

const (
	_            FileType = iota
	TypeFile              // regular file
	TypeDir               // directory
	TypeSymlink           // symbolic link
	TypeFifo              // named pipe
	TypeSocket            // socket
	TypeChardev           // character device
	TypeBlockdev          // block device
	TypeUnknown           // a mode ext4 does not define
)

var typeNames = []string{"", "file", "dir", "symlink", "fifo", "socket", "chardev", "blockdev", "unknown"}

func (t FileType) String() string               { return enumString(typeNames, uint8(t)) }
func (t FileType) MarshalJSON() ([]byte, error) { return json.Marshal(t.String()) }
func (t *FileType) UnmarshalJSON(b []byte) error {
	return enumParse(typeNames, b, "file type", (*uint8)(t))
}

func enumString(names []string, v uint8) string {
	if int(v) < len(names) {
		return names[v]
	}
	return fmt.Sprintf("invalid(%d)", v)
}

func enumParse(names []string, b []byte, what string, out *uint8) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	i := slices.Index(names, s)
	if i < 0 {
		return fmt.Errorf("unknown %s %q", what, s)
	}
	*out = uint8(i)
	return nil
}
