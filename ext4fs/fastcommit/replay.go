// Package fastcommit replays jbd2 fast commits on the filesystem layer.
//
// The records of the valid fast commits (journal.FastCommitArea.Replay) are
// applied in order on top of the journal overlay, into an ext4fs.Tx, the way the
// kernel's ext4_fc_replay and e2fsck's ext4_fc_replay do:
//
//   - INODE copies the logged inode over the home inode, except i_block,
//     which keeps the home block map (extent inodes) or takes the logged one
//     (inline data); i_blocks is recounted from the block map; the inode is
//     marked in use (ext4_mark_inode_used).
//   - ADD_RANGE maps [lblk, lblk+len) to the logged physical blocks (written
//     or unwritten), replacing whatever mapped that range; DEL_RANGE unmaps
//     a range. The extent tree is rewritten from the resulting extent list,
//     as e2fsck's rewrite_extent_tree does.
//   - CREAT and LINK add a directory entry; UNLINK removes one. Link counts
//     come from the INODE records that follow.
//   - At the end, as ext4_fc_set_bitmaps_and_counters does, every block the
//     replay released is freed in the block bitmaps and every block (data and
//     extent tree) of every inode the replay touched is marked in use; group
//     free counts, flags and checksums and the superblock counts follow.
//
// Where the kernel and e2fsck disagree, or where either would leave a
// damaged filesystem, the record is refused instead (see inode.go, extents.go, dentry.go);
// the engine then refuses to touch the filesystem, naming the pending fast
// commits. Nothing is ever dropped silently.
package fastcommit

import (
	"fmt"

	"github.com/ext4relink/ext4relink/ext4fs"
	"github.com/ext4relink/ext4relink/journal"
	"github.com/ext4relink/ext4relink/super"
)

// Replay applies fast-commit records (newer than the last full commit) on
// top of the view fs (the filesystem as the journal replay leaves it) and
// returns the blocks the replay changes: the caller pushes them as the
// fast-commit layer (ext4fs.FS.SetFastCommit), so that every later read
// sees the filesystem as the replay leaves it. Nothing is written, and fs
// is not changed.
func Replay(fs *ext4fs.FS, tags []journal.FCTag) (ext4fs.BlockSet, error) {
	if len(tags) == 0 {
		return nil, nil
	}
	r, err := newFCReplay(fs, tags)
	if err != nil {
		return nil, err
	}
	if err := r.run(); err != nil {
		return nil, err
	}
	changes, err := r.p.Changes()
	if err != nil {
		return nil, err
	}
	fc := ext4fs.BlockSet{}
	for _, c := range changes {
		fc[c.Block] = c.New
	}
	return fc, nil
}

// fcReplay is the state of one replay.
type fcReplay struct {
	fs   *ext4fs.FS // the filesystem before the replay (the view under the fast-commit layer)
	p    *ext4fs.Tx // the replay's changes, on fs
	tags []journal.FCTag

	// Inodes whose block map the replay touched (ranges or INODE), in first
	// touch order, with their block maps before the replay.
	modified []uint32
	orig     map[uint32][]interval
	// Blocks the replay released (unmapped ranges, the old map of an inode
	// an INODE record replaces, old extent tree blocks).
	freed []interval
	// Physical ranges of every ADD_RANGE record: never used for new extent
	// tree blocks (ext4_fc_replay_check_excluded).
	excluded []interval
	// Extent tree blocks taken during the replay.
	reserved map[uint64]bool
	// Per-group state of block bitmaps before the replay (for the
	// ownership checks), computed for BLOCK_UNINIT groups.
	origBitmaps map[uint64][]byte
}

// interval is the block range [start, end), owned by inode ino when known.
type interval struct {
	start, end uint64
	ino        uint32
}

func newFCReplay(fs *ext4fs.FS, tags []journal.FCTag) (*fcReplay, error) {
	sb := fs.SB
	switch {
	case sb.HasRoCompat(super.RoCompatBigalloc):
		return nil, fcUnsupported("the filesystem uses bigalloc; replaying fast commits over clusters is not supported")
	case sb.HasRoCompat(super.RoCompatQuota) || sb.HasRoCompat(super.RoCompatProject):
		return nil, fcUnsupported("the filesystem has quotas; a fast-commit replay changes block and inode usage, and ext4relink does not edit quota files")
	}
	if err := sb.CheckWrite(); err != nil {
		return nil, err
	}
	r := &fcReplay{fs: fs, p: ext4fs.NewTx(fs), tags: tags, orig: map[uint32][]interval{},
		reserved: map[uint64]bool{}, origBitmaps: map[uint64][]byte{}}
	if err := r.prescan(); err != nil {
		return nil, err
	}
	return r, nil
}

func fcUnsupported(format string, args ...any) error {
	return super.Errorf(super.ErrUnsupported, "journal fast-commit area", super.NoBlock, -1, format, args...)
}

func fcCorrupt(format string, args ...any) error {
	return super.Errorf(super.ErrCorrupt, "journal fast-commit area", super.NoBlock, -1, format, args...)
}

// prescan checks what can be checked before anything is applied: every tag
// is known, ADD_RANGE ranges lie inside the filesystem (they are collected
// as excluded regions), and every directory-entry record is followed by an
// INODE record of its inode (the kernel changes the link count in LINK,
// CREAT and UNLINK and e2fsck does not; only a later INODE record makes the
// two agree).
func (r *fcReplay) prescan() error {
	lastInode := map[uint32]int{}
	for i, t := range r.tags {
		if t.Tag == journal.FCTagInode {
			lastInode[t.Ino] = i
		}
	}
	bc := r.fs.SB.BlocksCount()
	first := uint64(r.fs.SB.FirstDataBlock)
	for i, t := range r.tags {
		var err error
		switch t.Tag {
		case journal.FCTagHead, journal.FCTagTail, journal.FCTagPad, journal.FCTagInode, journal.FCTagDelRange:
		case journal.FCTagAddRange:
			if t.Count == 0 || t.PBlk < first || t.PBlk >= bc || uint64(t.Count) > bc-t.PBlk {
				err = fcCorrupt("physical blocks [%d,+%d) are not inside the filesystem [%d,%d)", t.PBlk, t.Count, first, bc)
				break
			}
			r.excluded = append(r.excluded, interval{t.PBlk, t.PBlk + uint64(t.Count), t.Ino})
		case journal.FCTagCreat, journal.FCTagLink, journal.FCTagUnlink:
			if j, ok := lastInode[t.Ino]; !ok || j < i {
				err = fcUnsupported("no INODE record of inode %d follows it: the kernel would change the inode's link count and e2fsck would not (a file deleted rather than just unlinked, or a directory created, after the last full commit)", t.Ino)
			}
		default:
			err = fcUnsupported("unknown fast-commit tag %d", t.Tag)
		}
		if err != nil {
			return recordErr(i, t, err)
		}
	}
	return nil
}

func recordErr(i int, t journal.FCTag, err error) error {
	return fmt.Errorf("fast-commit record %d (%s): %w", i, t, err)
}

func (r *fcReplay) run() error {
	for i, t := range r.tags {
		var err error
		switch t.Tag {
		case journal.FCTagHead, journal.FCTagTail, journal.FCTagPad:
		case journal.FCTagInode:
			err = r.inodeRecord(t)
		case journal.FCTagAddRange:
			err = r.addRange(t)
		case journal.FCTagDelRange:
			err = r.delRange(t)
		case journal.FCTagCreat, journal.FCTagLink:
			err = r.link(t)
		case journal.FCTagUnlink:
			err = r.unlink(t)
		default:
			err = fcUnsupported("unknown fast-commit tag %d", t.Tag)
		}
		if err != nil {
			return recordErr(i, t, err)
		}
	}
	if err := r.setBitmapsAndCounters(); err != nil {
		return fmt.Errorf("fast-commit replay, final bitmap update: %w", err)
	}
	return r.p.Finish("free counts after the fast-commit replay")
}

// touch records inode ino as modified, remembering its block map as it was
// before the replay (nothing when it was not in use).
func (r *fcReplay) touch(ino uint32) error {
	if _, ok := r.orig[ino]; ok {
		return nil
	}
	ivs, err := r.origMap(ino)
	if err != nil {
		return err
	}
	r.orig[ino] = ivs
	r.modified = append(r.modified, ino)
	return nil
}

// origMap is the block map (data and tree blocks) of inode ino before the
// replay, read without the plan; empty for an inode not in use.
func (r *fcReplay) origMap(ino uint32) ([]interval, error) {
	used, err := r.inodeInUse(r.fs, ino)
	if err != nil || !used {
		return nil, err
	}
	in, _, err := r.fs.ReadInode(ino)
	if err != nil {
		return nil, fmt.Errorf("inode %d is in use but cannot be read: %w", ino, err)
	}
	m, err := r.fs.BlockMap(ino, in)
	if err != nil {
		return nil, fmt.Errorf("inode %d is in use but its block map cannot be read: %w", ino, err)
	}
	return mapIntervals(ino, m.Runs, m.Meta), nil
}
