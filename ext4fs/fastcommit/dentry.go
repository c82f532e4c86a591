package fastcommit

import (
	"errors"
	"fmt"

	"github.com/ext4relink/ext4relink/dirent"
	"github.com/ext4relink/ext4relink/ext4fs"
	"github.com/ext4relink/ext4relink/inode"
	"github.com/ext4relink/ext4relink/journal"
)

// CREAT, LINK and UNLINK: directory entries. Link counts are left to the
// INODE record that prescan requires after each of them. The parent's
// times are not changed (e2fsck's ext2fs_link/unlink do not change them;
// the kernel stamps the time of the replay).

// dentryTarget loads the inode a directory-entry record names; it must be
// in use, valid and linked (the kernel's iget), and not a directory
// (creating or removing a directory needs its "." and ".." and the parent's
// link count, which the fast commit does not carry consistently).
func (r *fcReplay) dentryTarget(t journal.FCTag) (*inode.Inode, error) {
	if t.Ino == 0 || t.Ino > r.p.SB.InodesCount {
		return nil, fcCorrupt("inode %d is out of range", t.Ino)
	}
	if err := dirent.CheckName(t.Name); err != nil {
		return nil, err
	}
	used, err := r.inodeInUse(r.p, t.Ino)
	if err != nil {
		return nil, err
	}
	if !used {
		return nil, fcUnsupported("inode %d is not in use", t.Ino)
	}
	in, _, err := r.p.Inode(t.Ino)
	if err != nil {
		return nil, fmt.Errorf("inode %d cannot be validated: %w", t.Ino, err)
	}
	switch {
	case in.LinksCount == 0:
		return nil, fcUnsupported("inode %d has no links: the kernel skips the record and e2fsck applies it", t.Ino)
	case in.IsDir():
		return nil, fcUnsupported("inode %d is a directory; creating, linking or removing directories is not replayed consistently by the kernel and e2fsck", t.Ino)
	case in.FileType() == inode.FtUnknown:
		return nil, fcCorrupt("inode %d has mode %#o, which names no file type", t.Ino, in.Mode)
	}
	return in, nil
}

func (r *fcReplay) parentDir(ino uint32) (*ext4fs.Dir, error) {
	d, err := r.p.OpenDir(ino)
	if err != nil {
		return nil, fmt.Errorf("parent directory %d: %w", ino, err)
	}
	return d, nil
}

// link replays CREAT and LINK: the name is added unless it already names
// the inode (an earlier replay, or the block reached the disk). A name
// naming another inode is refused (the kernel keeps the old entry, e2fsck
// replaces it), and so is a directory that would have to grow (the kernel
// would put the entry in a new block that a later ADD_RANGE of the
// directory then replaces with one whose content was never written).
func (r *fcReplay) link(t journal.FCTag) error {
	target, err := r.dentryTarget(t)
	if err != nil {
		return err
	}
	d, err := r.parentDir(t.Parent)
	if err != nil {
		return err
	}
	cur, found, err := r.p.Lookup(d, t.Name)
	if err != nil {
		return err
	}
	if found {
		if cur == t.Ino {
			return nil
		}
		return fcUnsupported("%q in directory %d already names inode %d, not %d", t.Name, t.Parent, cur, t.Ino)
	}
	e := dirent.NewEntry{Name: t.Name, Inode: t.Ino, FileType: target.FileType()}
	err = r.p.AddEntryNoGrow(d, e, "fast-commit replay")
	if errors.Is(err, ext4fs.ErrDirFull) {
		return fcUnsupported("directory %d has no room for the entry and would have to grow; the kernel's replay would lose the new block's entries", d.Ino)
	}
	return err
}

// unlink replays UNLINK: the entry is removed when it names the inode, and
// nothing happens when the name is gone already (the kernel's -ENOENT). A
// name naming another inode is refused (the kernel keeps it, e2fsck fails).
func (r *fcReplay) unlink(t journal.FCTag) error {
	if _, err := r.dentryTarget(t); err != nil {
		return err
	}
	d, err := r.parentDir(t.Parent)
	if err != nil {
		return err
	}
	_, err = r.p.RemoveEntry(d, t.Name, t.Ino, "fast-commit replay")
	var other *ext4fs.OtherInodeError
	if errors.As(err, &other) {
		return dirent.AtBlock(fcUnsupported("%s", other.Error()), other.Block)
	}
	return err
}
