package engine

import (
	"fmt"

	"github.com/ext4relink/ext4relink/dirent"
	"github.com/ext4relink/ext4relink/ext4fs"
	"github.com/ext4relink/ext4relink/inode"
	"github.com/ext4relink/ext4relink/super"
)

// linkMax is EXT4_LINK_MAX: beyond it, with dir_nlink, a directory's link
// count is kept at 1 ("many").
const linkMax = 65000

// relinkDirOrphan brings back a directory removed with rmdir while still
// open: its ".." is pointed at the new parent, it gets links 2, and the
// parent gains the link its ".." accounts for. rmdir only removes empty
// directories, so this restores an empty directory.
func (p *Plan) relinkDirOrphan(ino uint32, in *inode.Inode, parent uint32) error {
	if err := p.setDotDot(ino, in, parent); err != nil {
		return err
	}
	pin, _, err := p.Inode(parent)
	if err != nil {
		return err
	}
	switch {
	case pin.LinksCount == 1 && p.SB.HasRoCompat(super.RoCompatDirNlink):
		// already "many subdirectories"
	case pin.LinksCount+1 >= linkMax && p.SB.HasRoCompat(super.RoCompatDirNlink):
		pin.LinksCount = 1
	case pin.LinksCount+1 >= linkMax:
		return fmt.Errorf("%w: directory inode %d has %d links, the most ext4 allows without dir_nlink", ErrRequest, parent, pin.LinksCount)
	default:
		pin.LinksCount++
	}
	return p.PutInode(parent, pin, "one more link (the new subdirectory's \"..\")")
}

// setDotDot points the directory's ".." at parent (in i_block for an inline
// directory, else in the second record of block 0, which a dx_root shares).
func (p *Plan) setDotDot(ino uint32, in *inode.Inode, parent uint32) error {
	params := dirent.NewParams(p.SB, in.Seed(p.SB.CsumSeed(), ino))
	if in.HasInlineData() {
		dirent.SetInlineParent(in.Block[:], parent)
		return nil
	}
	m, err := p.ReadMap(ino, in)
	if err != nil {
		return err
	}
	phys, unwritten, ok := m.Map(0)
	if !ok || unwritten {
		return super.Errorf(super.ErrCorrupt, fmt.Sprintf("directory inode %d", ino), super.NoBlock, -1, "block 0 is not mapped")
	}
	b, err := p.Read(phys)
	if err != nil {
		return err
	}
	indexed := ext4fs.IsHtree(p.SB, in)
	if err := checkDirBlock0(b, ino, indexed, params); err != nil {
		return dirent.AtBlock(err, phys)
	}
	dirent.SetParent(b, parent)
	if indexed {
		err = dirent.SetDxChecksum(b, params)
	} else {
		err = dirent.SetLeafChecksum(b, params)
	}
	if err != nil {
		return dirent.AtBlock(err, phys)
	}
	p.Write(phys, b, fmt.Sprintf("directory %d block 0: \"..\" -> inode %d", ino, parent))
	return nil
}

// checkDirBlock0 validates block 0 and that it starts with "." (ino) and "..".
func checkDirBlock0(b []byte, ino uint32, indexed bool, params dirent.Params) error {
	var err error
	if indexed {
		err = dirent.CheckDxRoot(b, params)
		if err == nil && !dirent.VerifyDxChecksum(b, params) {
			err = super.Errorf(super.ErrChecksum, "htree root", super.NoBlock, -1, "dx_tail checksum does not match")
		}
	} else {
		err = dirent.ValidateLeaf(b, params)
	}
	if err != nil {
		return err
	}
	return dirent.CheckDots(b, ino)
}
