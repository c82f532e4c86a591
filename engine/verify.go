package engine

import (
	"bytes"
	"errors"
	"fmt"

	"github.com/ext4relink/ext4relink/inode"
)

// ErrVerify: the change was written but the check afterwards failed.
var ErrVerify = errors.New("verification failed")

// Verify re-reads the device from scratch (a new FS, no caches, no
// overlay) and checks what Commit promised: no recovery pending, every
// changed block as planned, each relinked name resolving to its inode, which
// has links and is no longer an orphan, and every other orphan still listed.
func Verify(dev Dev, p *Plan, before *OrphanList) error {
	fs, err := LoadFS(dev)
	if err != nil {
		return fmt.Errorf("%w: reloading the filesystem: %v", ErrVerify, err)
	}
	if fs.Journal.NeedsRecovery {
		return fmt.Errorf("%w: needs_recovery is still set", ErrVerify)
	}
	if err := verifyBlocks(fs, p); err != nil {
		return err
	}
	after, err := fs.Orphans()
	if err != nil {
		return fmt.Errorf("%w: listing orphans: %v", ErrVerify, err)
	}
	gone := map[uint32]bool{}
	q := NewPlan(fs, p.Now)
	for _, r := range p.Relinks {
		gone[r.Inode] = true
		if err := verifyRelinked(q, r); err != nil {
			return err
		}
	}
	if err := verifyCreated(q, p.Created); err != nil {
		return err
	}
	if p.list != nil && p.list.scanned {
		before = p.list // the same list, with the scan's finds (see verifyOthers)
	}
	return verifyOthers(before, after, gone)
}

func verifyBlocks(fs *FS, p *Plan) error {
	changes, err := p.Changes()
	if err != nil {
		return err
	}
	sbBlk, _ := fs.SuperblockLocation()
	for _, c := range changes {
		if c.Block == sbBlk {
			continue // compared field by field below (needs_recovery differs)
		}
		got, err := fs.ReadDeviceBlock(c.Block)
		if err != nil {
			return fmt.Errorf("%w: %v", ErrVerify, err)
		}
		if !bytes.Equal(got, c.New) {
			return fmt.Errorf("%w: block %d does not hold what was written", ErrVerify, c.Block)
		}
	}
	if fs.SB.LastOrphan != p.SB.LastOrphan || fs.SB.FreeBlocksCount() != p.SB.FreeBlocksCount() || fs.SB.FeatureRoCompat != p.SB.FeatureRoCompat {
		return fmt.Errorf("%w: the superblock on disk differs from the plan", ErrVerify)
	}
	return nil
}

func verifyRelinked(q *Plan, r Relinked) error {
	_, _, existing, err := q.Resolve(r.Path)
	if err != nil {
		return fmt.Errorf("%w: resolving %s: %v", ErrVerify, r.Path, err)
	}
	if existing != r.Inode {
		return fmt.Errorf("%w: %s resolves to inode %d, not %d", ErrVerify, r.Path, existing, r.Inode)
	}
	in, _, err := q.Inode(r.Inode)
	if err != nil {
		return fmt.Errorf("%w: inode %d: %v", ErrVerify, r.Inode, err)
	}
	if in.LinksCount == 0 || in.Dtime != 0 {
		return fmt.Errorf("%w: inode %d has links %d, dtime %d", ErrVerify, r.Inode, in.LinksCount, in.Dtime)
	}
	if r.PastEOF != nil && !r.AlreadyDone {
		return verifyPastEOF(q, r, in)
	}
	return nil
}

// verifyPastEOF re-reads a past-eof orphan's inode: the planned size, no
// written block past it, every block it still maps marked in use, and
// every cluster the trim freed marked free.
func verifyPastEOF(q *Plan, r Relinked, in *inode.Inode) error {
	pe := r.PastEOF
	if in.Size() != pe.NewSize {
		return fmt.Errorf("%w: inode %d has size %d, not %d", ErrVerify, r.Inode, in.Size(), pe.NewSize)
	}
	if n := q.fs.writtenPastEOF(r.Inode, in); n > 0 {
		return fmt.Errorf("%w: inode %d still maps %d written block(s) past its size", ErrVerify, r.Inode, n)
	}
	if err := q.checkOrphanData(r.Inode, in); err != nil {
		return fmt.Errorf("%w: inode %d: %v", ErrVerify, r.Inode, err)
	}
	for _, c := range pe.freed {
		used, err := q.BlockInUse(c)
		if err != nil {
			return fmt.Errorf("%w: %v", ErrVerify, err)
		}
		if used {
			return fmt.Errorf("%w: block %d, freed past the size of inode %d, is still marked in use", ErrVerify, c, r.Inode)
		}
	}
	return nil
}

func verifyOthers(before, after *OrphanList, gone map[uint32]bool) error {
	left := map[uint32]bool{}
	for _, o := range after.Orphans {
		if gone[o.Inode] {
			return fmt.Errorf("%w: inode %d is still an orphan", ErrVerify, o.Inode)
		}
		left[o.Inode] = true
	}
	for _, o := range before.Orphans {
		// A stranded orphan not relinked is on no list before or after:
		// what is left of the fast-commit replay that cut it off is gone.
		// Nor is a scan find (list --scan); after a scan, the link to an
		// unreadable chain member is cut (see chainDamage).
		cut := before.scanned && o.Problem != ""
		if !gone[o.Inode] && !left[o.Inode] && o.Source != SourceStranded && o.Source != SourceScan && !cut {
			return fmt.Errorf("%w: orphan %d fell off the orphan list", ErrVerify, o.Inode)
		}
	}
	return nil
}
