package engine

import (
	"fmt"

	"github.com/ext4relink/ext4relink/ext4fs"
	"github.com/ext4relink/ext4relink/ext4fs/fastcommit"
	"github.com/ext4relink/ext4relink/internal/undo"
)

// FS is the filesystem the engine works on: the ext4fs read view (every
// method of ext4fs.FS: ReadBlock, ReadInode, BlockMap, GroupDesc, SB,
// ...) plus the engine's own operations (Orphans, PlanRelink, Commit,
// JournalReport, ReadPath, ...).
type FS struct{ *ext4fs.FS }

type (
	// JournalState summarises the journal as ext4relink found it.
	JournalState = ext4fs.JournalState
	// InodeLoc is where an inode lives: block and byte offset in it.
	InodeLoc = ext4fs.InodeLoc
)

// Reserved inode numbers (EXT4_*_INO).
const (
	RootIno    = ext4fs.RootIno
	JournalIno = ext4fs.JournalIno
)

// LoadFS reads and validates the superblock, loads the journal and, when
// recovery is needed, replays it into an in-memory overlay, then replays
// pending fast commits on top (nothing is written). Every later read goes
// through both.
func LoadFS(dev Dev) (*FS, error) {
	efs, err := ext4fs.Load(dev)
	if err != nil {
		return nil, err
	}
	fs := &FS{efs}
	fs.loadFastCommits()
	return fs, nil
}

// loadFastCommits replays the fast commits newer than the last full commit
// and pushes the result as the fast-commit layer; when that fails the
// reason is kept in Journal.FastCommitsRefused (list warns, a relink
// refuses) and the layer stays empty.
func (fs *FS) loadFastCommits() {
	tags, pending := fs.PendingFastCommits()
	if pending == nil {
		return
	}
	blocks, err := fastcommit.Replay(fs.Below(ext4fs.LayerFastCommit), tags)
	if err == nil && blocks != nil {
		err = fs.SetFastCommit(blocks)
	}
	if err != nil {
		fs.Journal.FastCommitsRefused = fmt.Errorf("%w; replaying them failed: %w", pending, err)
	} else {
		fs.Journal.FastCommits = len(tags)
	}
}

// Opened is a filesystem loaded from an opened device.
type Opened struct {
	FS  *FS
	Dev *Device
	// Undo is set by OpenFSWithUndo: the undo file every write of FS goes
	// through. The caller closes it (Close, or Discard when the run
	// failed) before closing Dev.
	Undo *undo.Dev
	Use  Use // the mounts and holders found before opening
}

// OpenFS opens the device at path and loads the filesystem on it.
func OpenFS(path string, o Options) (*Opened, error) {
	dev, use, err := Open(path, o)
	if err != nil {
		return nil, err
	}
	fs, err := LoadFS(dev)
	if err != nil {
		err = dev.ExplainNoFS(err)
		dev.Close()
		return nil, err
	}
	return &Opened{FS: fs, Dev: dev, Use: use}, nil
}
