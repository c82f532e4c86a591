package fastcommit

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/ext4relink/ext4relink/dirent"
	"github.com/ext4relink/ext4relink/ext4fs"
	"github.com/ext4relink/ext4relink/inode"
	"github.com/ext4relink/ext4relink/internal/devio"
	"github.com/ext4relink/ext4relink/journal"
	"github.com/ext4relink/ext4relink/super"
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
	switch {
	case d.In.HasInlineData():
		return r.addInlineNoGrow(d, e)
	case d.Indexed(r.p.SB):
		return r.addIndexedNoGrow(d, e)
	}
	return r.addLinearNoGrow(d, e)
}

func noRoom(d *ext4fs.Dir) error {
	return fcUnsupported("directory %d has no room for the entry and would have to grow; the kernel's replay would lose the new block's entries", d.Ino)
}

func (r *fcReplay) addLinearNoGrow(d *ext4fs.Dir, e dirent.NewEntry) error {
	read := r.p.DirReader(d)
	for lblk := range d.NBlocks(r.fs.BlockSize()) {
		b, err := read(lblk)
		if err != nil {
			return err
		}
		phys, _ := d.Phys(lblk)
		nb, err := dirent.AddEntry(b, e, d.Params)
		if errors.Is(err, dirent.ErrNoSpace) {
			continue
		}
		if err != nil {
			return dirent.AtBlock(err, phys)
		}
		r.p.Write(phys, nb, fmt.Sprintf("directory %d block %d: entry %q -> inode %d (fast-commit replay)", d.Ino, lblk, e.Name, e.Inode))
		return nil
	}
	return noRoom(d)
}

func (r *fcReplay) addIndexedNoGrow(d *ext4fs.Dir, e dirent.NewEntry) error {
	need, err := dirent.HtreeBlocksNeeded(d.Params, e, r.p.DirReader(d))
	if err != nil {
		return err
	}
	if need > 0 {
		return noRoom(d)
	}
	res, err := dirent.HtreeAdd(d.Params, e, r.p.DirReader(d), nil)
	if err != nil {
		return err
	}
	for _, c := range res.Changes {
		phys, err := d.Phys(c.Lblk)
		if err != nil {
			return err
		}
		r.p.Write(phys, c.Data, fmt.Sprintf("directory %d htree block %d: entry %q -> inode %d (fast-commit replay)", d.Ino, c.Lblk, e.Name, e.Inode))
	}
	return nil
}

func (r *fcReplay) addInlineNoGrow(d *ext4fs.Dir, e dirent.NewEntry) error {
	ib, xa, err := d.InlineRegions()
	if err != nil {
		return err
	}
	nib, nxa, err := dirent.InlineAdd(ib, xa, e, d.Params)
	if errors.Is(err, dirent.ErrNoSpace) {
		return noRoom(d)
	}
	if err != nil {
		return err
	}
	return r.putInlineDir(d, nib, nxa, fmt.Sprintf("inline directory: entry %q -> inode %d (fast-commit replay)", e.Name, e.Inode))
}

func (r *fcReplay) putInlineDir(d *ext4fs.Dir, ib, xa []byte, note string) error {
	if err := inode.SetInlineData(d.In, d.Ino, append(bytes.Clone(ib), xa...)); err != nil {
		return err
	}
	return r.p.PutInode(d.Ino, d.In, note)
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
	if d.In.HasInlineData() {
		return r.unlinkInline(d, t)
	}
	read := r.p.DirReader(d)
	lblks := []uint32{}
	if d.Indexed(r.p.SB) {
		lblk, _, found, err := dirent.FindIndexed(d.Params, t.Name, read)
		if err != nil || !found {
			return err
		}
		lblks = append(lblks, lblk)
	} else {
		for lblk := range d.NBlocks(r.fs.BlockSize()) {
			lblks = append(lblks, lblk)
		}
	}
	for _, lblk := range lblks {
		b, err := read(lblk)
		if err != nil {
			return err
		}
		phys, _ := d.Phys(lblk)
		if err := dirent.ValidateLeaf(b, d.Params); err != nil {
			return dirent.AtBlock(err, phys)
		}
		space, err := dirent.LeafSpace(b, d.Params)
		if err != nil {
			return dirent.AtBlock(err, phys)
		}
		found, err := removeEntry(space, t.Name, t.Ino, t.Parent, d.Params)
		if err != nil || !found {
			if err != nil {
				return dirent.AtBlock(err, phys)
			}
			continue
		}
		if err := dirent.SetLeafChecksum(b, d.Params); err != nil {
			return err
		}
		if err := dirent.ValidateLeaf(b, d.Params); err != nil {
			return fmt.Errorf("%w: removing %q left an invalid block: %v", devio.ErrInternal, t.Name, err)
		}
		r.p.Write(phys, b, fmt.Sprintf("directory %d block %d: entry %q removed (fast-commit replay)", d.Ino, lblk, t.Name))
		return nil
	}
	return nil
}

func (r *fcReplay) unlinkInline(d *ext4fs.Dir, t journal.FCTag) error {
	ib, xa, err := d.InlineRegions()
	if err != nil {
		return err
	}
	if err := dirent.CheckInline(ib, xa, d.Params); err != nil {
		return err
	}
	ib, xa = bytes.Clone(ib), bytes.Clone(xa)
	for _, space := range [][]byte{ib[dirent.InlineDotDotSize:], xa} {
		found, err := removeEntry(space, t.Name, t.Ino, t.Parent, d.Params)
		if err != nil {
			return err
		}
		if found {
			if err := dirent.CheckInline(ib, xa, d.Params); err != nil {
				return fmt.Errorf("%w: removing %q left an invalid inline directory: %v", devio.ErrInternal, t.Name, err)
			}
			return r.putInlineDir(d, ib, xa, fmt.Sprintf("inline directory: entry %q removed (fast-commit replay)", t.Name))
		}
	}
	return nil
}

// removeEntry removes the record named name from a validated run of records
// (in place) as ext4_generic_delete_entry does: the previous record absorbs
// it, or, first in the run, it is marked unused. It reports whether the name
// was there; a name naming another inode than ino is refused.
func removeEntry(space, name []byte, ino, parent uint32, p dirent.Params) (bool, error) {
	prev := -1
	var hit *dirent.Entry
	err := dirent.Walk(space, p, func(e dirent.Entry) bool {
		if e.Used() && bytes.Equal(e.Name, name) {
			hit = &e
			return false
		}
		prev = e.Off
		return true
	})
	if err != nil || hit == nil {
		return false, err
	}
	if hit.Inode != ino {
		return false, fcUnsupported("%q in directory %d names inode %d, not %d", name, parent, hit.Inode, ino)
	}
	if prev < 0 {
		binary.LittleEndian.PutUint32(space[hit.Off:], 0)
		return true, nil
	}
	size := dirent.RecLenFromDisk(binary.LittleEndian.Uint16(space[prev+4:]), p.BlockSize) + hit.Size(p.BlockSize)
	v, ok := dirent.RecLenToDisk(size, p.BlockSize)
	if !ok {
		return false, super.Errorf(super.ErrCorrupt, "directory entry", super.NoBlock, int64(prev), "merged record length %d is invalid", size)
	}
	binary.LittleEndian.PutUint16(space[prev+4:], v)
	return true, nil
}
