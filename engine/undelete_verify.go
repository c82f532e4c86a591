package engine

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"

	"github.com/ext4relink/ext4relink/bitmap"
	"github.com/ext4relink/ext4relink/inode"
)

// VerifyUndelete re-reads the device from scratch (a new FS, no caches, no
// overlay) and checks what Commit promised: no recovery pending, every
// changed block as planned, the path resolving to the inode, which is in
// use with one link and dtime 0, every block of its map in use, and its
// content (read through the filesystem as the kernel would) equal by
// sha256 to what the recovered map gave before anything was written.
func VerifyUndelete(dev Dev, p *Plan, u *Undeleted) error {
	fs, err := LoadFS(dev)
	if err != nil {
		return fmt.Errorf("%w: reloading the filesystem: %v", ErrVerify, err)
	}
	if fs.Journal.NeedsRecovery {
		return fmt.Errorf("%w: needs_recovery is still set", ErrVerify)
	}
	if !u.AlreadyDone {
		if err := verifyBlocks(fs, p); err != nil {
			return err
		}
	}
	q := NewPlan(fs, p.Now)
	_, _, ino, err := q.Resolve(u.Path)
	if err != nil || ino != u.Inode {
		return fmt.Errorf("%w: %s does not name inode %d (names %d; %v)", ErrVerify, u.Path, u.Inode, ino, err)
	}
	used, err := fs.InodeInUse(ino)
	if err != nil || !used {
		return fmt.Errorf("%w: inode %d is not marked in use (%v)", ErrVerify, ino, err)
	}
	in, _, err := fs.ReadInode(ino)
	if err != nil || in.LinksCount != 1 || in.Dtime != 0 {
		return fmt.Errorf("%w: inode %d: %v (links %d, dtime %d)", ErrVerify, ino, err, linksOf(in), dtimeOf(in))
	}
	m, err := fs.BlockMap(ino, in)
	if err != nil {
		return fmt.Errorf("%w: inode %d's map: %v", ErrVerify, ino, err)
	}
	for _, b := range neededBlocks(m) {
		g, idx := fs.SB.GroupOfBlock(b)
		grp, err := q.BlockBitmapView(g)
		if err != nil || grp.BlockBitmap == nil || !bitmap.Test(grp.BlockBitmap, idx>>fs.SB.ClusterBits()) {
			return fmt.Errorf("%w: block %d of inode %d is not marked in use (%v)", ErrVerify, b, ino, err)
		}
	}
	if u.AlreadyDone {
		return nil
	}
	data, err := fs.ReadPath(u.Path)
	if err != nil {
		return fmt.Errorf("%w: reading %s back: %v", ErrVerify, u.Path, err)
	}
	if s := sha256.Sum256(data); hex.EncodeToString(s[:]) != u.SHA256 {
		return fmt.Errorf("%w: %s reads back with another content than the journal's map gave", ErrVerify, u.Path)
	}
	return nil
}

func linksOf(in *inode.Inode) uint16 {
	if in == nil {
		return 0
	}
	return in.LinksCount
}

func dtimeOf(in *inode.Inode) uint32 {
	if in == nil {
		return 0
	}
	return in.Dtime
}
