package engine

import (
	"errors"
	"fmt"

	"github.com/ext4relink/ext4relink/ext4fs"

	"github.com/ext4relink/ext4relink/internal/undo"
)

// NewUndo creates the undo file path (it must not exist) for the
// filesystem on dev and returns dev wrapped so that every block is saved
// to it before it is first changed (see internal/undo). The filesystem
// block size comes from the device's superblock, which must be valid.
func NewUndo(dev Dev, path string) (*undo.Dev, error) {
	sb, err := ext4fs.ReadSuper(dev)
	if err != nil {
		return nil, err
	}
	u, err := undo.Create(dev, path, sb.BlockSize())
	if errors.Is(err, undo.ErrExists) {
		return nil, fmt.Errorf("%w: undo file %s already exists; ext4relink never overwrites one (it may be the only way back from an earlier run): choose a new name", ErrRequest, path)
	}
	return u, err
}

// OpenFSWithUndo opens the device at path for writing, creates the undo
// file undoPath for it and loads the filesystem through the undo wrapper:
// every write the engine makes (Commit, WriteReplay) is saved first. The
// caller closes Opened.Undo (Close, or Discard when the run failed) and
// then Opened.Dev.
func OpenFSWithUndo(path string, o Options, undoPath string) (*Opened, error) {
	if o.Mode != ReadWrite {
		return nil, fmt.Errorf("%w: internal error: an undo file is only made when writing", ErrRequest)
	}
	dev, use, err := Open(path, o)
	if err != nil {
		return nil, err
	}
	u, err := NewUndo(dev, undoPath)
	if err != nil {
		err = dev.ExplainNoFS(err)
		dev.Close()
		return nil, err
	}
	fs, err := LoadFS(u)
	if err != nil {
		err = dev.ExplainNoFS(err)
		u.Discard()
		dev.Close()
		return nil, err
	}
	return &Opened{FS: fs, Dev: dev, Undo: u, Use: use}, nil
}
