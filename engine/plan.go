package engine

import (
	"time"

	"github.com/ext4relink/ext4relink/ext4fs"
	"github.com/ext4relink/ext4relink/journal"
)

// Plan is one relink (or several, with --all) as a set of whole-block
// changes computed in memory: an ext4fs.Tx (reads through the plan first,
// so later steps see earlier changes; the allocator; directories) plus
// what is relink-specific. Nothing is written until Commit.
type Plan struct {
	*ext4fs.Tx
	fs      *FS
	Now     time.Time
	Relinks []Relinked
	// Ordered is set when the filesystem has no internal journal to commit
	// through: Commit then writes in crash-safe steps (see commitOrdered),
	// which rules out changes that allocate blocks.
	Ordered bool
	// KeepPastEOF keeps the blocks a past-eof orphan wrote past its size
	// (raising i_size) instead of freeing them.
	KeepPastEOF bool
	list        *OrphanList // the orphan list the plan started from
	// Created lists the directories --parents creates, in order.
	Created []CreatedDir
	// JournalStart, when set, is the journal block the commit writes its
	// transaction at instead of the log's first block (see logPlace).
	JournalStart uint64
	// LogPlace says where the transaction goes and which older logged
	// copies it overwrites (nil without an internal journal).
	LogPlace *LogPlace
	// history is the journal's History, read once per command (nil
	// without an internal journal).
	history *journal.History
}

// Relinked describes one orphan the plan brings back.
type Relinked struct {
	Inode     uint32
	Path      string
	Parent    uint32
	Type      FileType
	Size      uint64
	Source    OrphanSource // chain, orphan_file or stranded; linked when an earlier run had already linked it (AlreadyDone)
	Position  int
	Slot      int
	DirChange string // how the entry was added
	// AlreadyDone is set when an earlier run had already linked the name.
	AlreadyDone bool
	// PastEOF says what became of the blocks a past-eof orphan had written
	// past its size.
	PastEOF *PastEOF
	// OriginalPath (--original) is the path the file had; Why says why it
	// was relinked elsewhere (Path) instead.
	OriginalPath string
	Why          string
}

// Change is one block the plan writes.
type Change = ext4fs.Change

// NewPlan starts an empty plan over fs.
func NewPlan(fs *FS, now time.Time) *Plan {
	return &Plan{Tx: ext4fs.NewTx(fs.FS), fs: fs, Now: now, Ordered: fs.JournalFile() == nil}
}

// clone copies the plan's working superblock and blocks (not its notes).
func (p *Plan) clone() *Plan {
	return &Plan{Tx: p.Tx.Clone(), fs: p.fs, Now: p.Now, Ordered: p.fs.JournalFile() == nil, list: p.list}
}
