package engine

import (
	"fmt"

	"github.com/ext4relink/ext4relink/dirent"
	"github.com/ext4relink/ext4relink/super"
)

// verifyCreated re-reads each directory --parents created, as e2fsck's
// checks of a directory would: its path resolves to it, it is a directory
// with links 2 (or more, when relinked subdirectories were added), valid
// block 0 starting with "." (itself) and ".." (its parent), its inode and
// block marked in use, and its parent is a directory with links.
func verifyCreated(q *Plan, created []CreatedDir) error {
	for _, c := range created {
		if err := verifyCreatedDir(q, c); err != nil {
			return fmt.Errorf("%w: created directory %s (inode %d): %v", ErrVerify, c.Path, c.Inode, err)
		}
	}
	return nil
}

func verifyCreatedDir(q *Plan, c CreatedDir) error {
	_, _, existing, err := q.Resolve(c.Path)
	if err != nil {
		return err
	}
	if existing != c.Inode {
		return fmt.Errorf("the path resolves to inode %d", existing)
	}
	d, err := q.OpenDir(c.Inode)
	if err != nil {
		return err
	}
	if d.In.LinksCount < 2 && !(d.In.LinksCount == 1 && q.SB.HasRoCompat(super.RoCompatDirNlink)) {
		return fmt.Errorf("links %d", d.In.LinksCount)
	}
	used, err := q.InodeInUse(c.Inode)
	if err != nil || !used {
		return fmt.Errorf("inode not marked in use (%v)", err)
	}
	phys, err := d.Phys(0)
	if err != nil {
		return err
	}
	if used, err := q.BlockInUse(phys); err != nil || !used {
		return fmt.Errorf("block %d not marked in use (%v)", phys, err)
	}
	b, err := q.Read(phys)
	if err != nil {
		return err
	}
	if err := checkDirBlock0(b, c.Inode, d.Indexed(q.SB), d.Params); err != nil {
		return err
	}
	if !d.Indexed(q.SB) && !dirent.VerifyLeafChecksum(b, d.Params) {
		return fmt.Errorf("block 0 fails its checksum")
	}
	if parent := dirent.DotDot(b); parent != c.Parent {
		return fmt.Errorf("\"..\" names inode %d, not %d", parent, c.Parent)
	}
	pd, err := q.OpenDir(c.Parent)
	if err != nil {
		return err
	}
	if pd.In.LinksCount < 2 && !(pd.In.LinksCount == 1 && q.SB.HasRoCompat(super.RoCompatDirNlink)) {
		return fmt.Errorf("parent %d has links %d", c.Parent, pd.In.LinksCount)
	}
	return nil
}
