package engine

import (
	"fmt"

	"github.com/ext4relink/ext4relink/journal"
	"github.com/ext4relink/ext4relink/super"
)

// applyFastCommits replays fast-commit records (newer than the last full
// commit) on top of the journal overlay, as e2fsck's fast-commit replay
// would, and stores the resulting blocks in fs.fc. Until it is implemented
// it refuses, so pending fast commits are never silently dropped.
func (fs *FS) applyFastCommits(tags []journal.FCTag) error {
	return super.Errorf(super.ErrUnsupported, "journal fast-commit area", super.NoBlock, -1,
		"replaying %d fast-commit records is not implemented", len(tags))
}

var _ = fmt.Sprint
