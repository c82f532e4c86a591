package ext4fs

import (
	"fmt"
	"sort"
	"sync/atomic"

	"github.com/ext4relink/ext4relink/inode"
	"github.com/ext4relink/ext4relink/super"
)

// journalMap maps journal blocks to filesystem blocks through the journal
// inode's block map. The scan and the history ask for the journal's blocks
// in order, so it first tries the run the previous lookup found (a 1 GiB
// journal is a handful of runs; a binary search per block was a tenth of
// list's journal work). Safe for concurrent use: the hint is only a hint.
type journalMap struct {
	ino  uint32
	m    *inode.BlockMap
	hint atomic.Int32 // index in m.Runs of the run last found
}

func (jm *journalMap) mapBlock(jblk uint64) (uint64, error) {
	if jblk >= 1<<32 {
		return 0, fmt.Errorf("journal block %d out of range", jblk)
	}
	runs := jm.m.Runs
	k := int(jm.hint.Load())
	if k >= len(runs) || uint64(runs[k].Logical) > jblk || runs[k].End() <= jblk {
		k = sort.Search(len(runs), func(k int) bool { return runs[k].End() > jblk })
		if k == len(runs) || uint64(runs[k].Logical) > jblk {
			return 0, jm.unmapped(jblk)
		}
		jm.hint.Store(int32(k))
	}
	r := runs[k]
	if r.Unwritten {
		return 0, jm.unmapped(jblk)
	}
	return r.Physical + (jblk - uint64(r.Logical)), nil
}

func (jm *journalMap) unmapped(jblk uint64) error {
	return super.Errorf(super.ErrCorrupt, fmt.Sprintf("journal inode %d", jm.ino), super.NoBlock, -1, "journal block %d is not mapped", jblk)
}
