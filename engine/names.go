package engine

import (
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/ext4relink/ext4relink/journal"
)

// Original names. Offline, nothing records which name an orphan had; but
// directory entries naming it usually survive: in older copies of its
// parent's directory block still in the journal (before the unlink), as
// the deleted entry's bytes inside the live block (kernels before 5.13 left
// the name in the slack of the previous record), or as an entry that still
// links it. OriginalPaths gathers that evidence and, never guessing, gives
// each orphan at most one path.

// PathSource says where an original name came from.
type PathSource uint8

const (
	_ PathSource = iota
	// PathFromJournal: an older logged copy of the parent's directory
	// block, in any transaction still in the journal (checkpointed ones
	// too).
	PathFromJournal
	// PathFromRemnant: the deleted entry's bytes inside the live
	// directory block (in the slack of the record before it).
	PathFromRemnant
	// PathFromLive: an entry of the live tree that still names it.
	PathFromLive
)

var pathSourceNames = []string{"", "journal", "remnant", "live"}

func (s PathSource) String() string               { return enumString(pathSourceNames, uint8(s)) }
func (s PathSource) MarshalJSON() ([]byte, error) { return json.Marshal(s.String()) }
func (s *PathSource) UnmarshalJSON(b []byte) error {
	return enumParse(pathSourceNames, b, "path source", (*uint8)(s))
}

// NameCandidate is one name found for an orphan: the entry, where it was
// found, and the full path it gives (empty when its directory has no
// known path).
type NameCandidate struct {
	Path     string
	Parent   uint32 // the directory holding the entry
	Name     string
	From     PathSource
	Sequence uint32     // journal: the transaction holding the copy
	Commit   *time.Time // journal: its commit time
	Block    uint64     // the directory block (the inode's block for inline directories)
}

// NameResult is what OriginalPaths found for one orphan. Path is set only
// when the evidence names exactly one path; otherwise Reason says why not
// and Candidates lists every name found (the JSON's path_candidates).
type NameResult struct {
	Path       string
	From       PathSource
	Candidates []NameCandidate
	Reason     string
	// ParentOf lists, for a directory orphan, the orphans whose original
	// parent it is: a removed directory pinned by a file open inside it.
	ParentOf []uint32
	// Parent is the directory the chosen name was in (0 when unknown).
	Parent    uint32
	Name      string
	parentGen uint32
}

// Reasons a path is not given.
const (
	reasonNoEntry = "no directory entry naming it survives: created and deleted within one journal transaction, " +
		"an O_TMPFILE file that never had a name, or its directory's blocks were overwritten"
	reasonAmbiguous = "the surviving entries disagree; no path is given rather than a wrong one (see path_candidates)"
	reasonNoParent  = "its directory (inode %d) is gone and no entry naming it survives"
)

// JournalHistory reads the whole log area of the internal journal (see
// journal.History); nil without an internal journal.
func (fs *FS) JournalHistory() (*journal.History, error) {
	if fs.JournalFile() == nil {
		return nil, nil
	}
	if ov := fs.JournalOverlay(); ov != nil && ov.Log != nil {
		return fs.JournalFile().HistoryWith(ov.Log) // the log replayed at load: not scanned again
	}
	return fs.JournalFile().History()
}

// OriginalPaths finds the original path of every orphan of l that can be
// named: a map from inode number to its result (every orphan that could be
// read has one). h may be nil (no journal, or not read): then only the live
// directory blocks are searched.
//
// An entry counts only when its inode number and file type (with the
// filetype feature) agree with the orphan and its name is valid; the
// directory holding a block is known from its checksum (metadata_csum:
// seeded with the directory's inode number and generation), or else from
// the block maps of the directories whose inodes the journal or the live
// tree hold, and a first block must start with that directory's '.'.
// Evidence older than the orphan's own creation (a transaction committed
// before i_crtime, or an inode copy of that time with another generation)
// belongs to an earlier file with the same number and is discarded. The
// newest evidence wins (a live entry, then the newest transaction, then a
// remnant); when the newest disagree, no path is given.
func (fs *FS) OriginalPaths(l *OrphanList, h *journal.History) (map[uint32]NameResult, error) {
	n, err := fs.newNamer(l, h)
	if err != nil {
		return nil, err
	}
	if err := n.gather(); err != nil {
		return nil, err
	}
	out := map[uint32]NameResult{}
	for ino := range n.targets {
		out[ino] = n.result(ino)
	}
	for ino, r := range out {
		if r.Parent != 0 {
			if p, ok := out[r.Parent]; ok && n.targets[r.Parent].gen == r.parentGen {
				p.ParentOf = append(p.ParentOf, ino)
				out[r.Parent] = p
			}
		}
	}
	for ino, r := range out {
		slices.Sort(r.ParentOf)
		out[ino] = r
	}
	return out, nil
}

// String is the PATH column of list: the path, "parent of N" for a pinned
// directory whose own name is unknown, or "?".
func (r NameResult) String() string {
	s := r.Path
	if s == "" {
		s = "?"
	}
	if len(r.ParentOf) > 0 {
		s += " (parent of"
		for i, c := range r.ParentOf {
			if i > 0 {
				s += ","
			}
			s += fmt.Sprintf(" %d", c)
		}
		s += ")"
	}
	return s
}
