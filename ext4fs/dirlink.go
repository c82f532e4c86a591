package ext4fs

import (
	"bytes"
	"errors"
	"fmt"

	"github.com/ext4relink/ext4relink/dirent"
	"github.com/ext4relink/ext4relink/inode"
	"github.com/ext4relink/ext4relink/internal/devio"
	"github.com/ext4relink/ext4relink/super"
)

// Adding and removing directory entries without growing the directory,
// as lib/ext2fs's link and unlink do: the fast-commit replay's CREAT, LINK
// and UNLINK. Adding with growth (a relink) is AddEntry in dirins.go.

// ErrDirFull: the directory has no room for the entry without growing.
var ErrDirFull = errors.New("the directory has no room for the entry without growing")

// AddEntryNoGrow adds entry e to directory d in the first place with room
// (linear: the first block; htree: its leaf; inline: the inode), or
// returns ErrDirFull; nothing else about the directory changes (no times,
// no size). why ends the notes.
func (p *Tx) AddEntryNoGrow(d *Dir, e dirent.NewEntry, why string) error {
	switch {
	case d.In.HasInlineData():
		return p.addInlineNoGrow(d, e, why)
	case d.Indexed(p.SB):
		return p.addIndexedNoGrow(d, e, why)
	}
	return p.addLinearNoGrow(d, e, why)
}

func (p *Tx) addLinearNoGrow(d *Dir, e dirent.NewEntry, why string) error {
	read := p.DirReader(d)
	for lblk := range d.NBlocks(p.fs.BlockSize()) {
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
		p.Write(phys, nb, fmt.Sprintf("directory %d block %d: entry %q -> inode %d (%s)", d.Ino, lblk, e.Name, e.Inode, why))
		return nil
	}
	return ErrDirFull
}

func (p *Tx) addIndexedNoGrow(d *Dir, e dirent.NewEntry, why string) error {
	need, err := dirent.HtreeBlocksNeeded(d.Params, e, p.DirReader(d))
	if err != nil {
		return err
	}
	if need > 0 {
		return ErrDirFull
	}
	res, err := dirent.HtreeAdd(d.Params, e, p.DirReader(d), nil)
	if err != nil {
		return err
	}
	for _, c := range res.Changes {
		phys, err := d.Phys(c.Lblk)
		if err != nil {
			return err
		}
		p.Write(phys, c.Data, fmt.Sprintf("directory %d htree block %d: entry %q -> inode %d (%s)", d.Ino, c.Lblk, e.Name, e.Inode, why))
	}
	return nil
}

func (p *Tx) addInlineNoGrow(d *Dir, e dirent.NewEntry, why string) error {
	ib, xa, err := d.InlineRegions()
	if err != nil {
		return err
	}
	nib, nxa, err := dirent.InlineAdd(ib, xa, e, d.Params)
	if errors.Is(err, dirent.ErrNoSpace) {
		return ErrDirFull
	}
	if err != nil {
		return err
	}
	return p.putInlineDir(d, nib, nxa, fmt.Sprintf("inline directory: entry %q -> inode %d (%s)", e.Name, e.Inode, why))
}

func (p *Tx) putInlineDir(d *Dir, ib, xa []byte, note string) error {
	if err := inode.SetInlineData(d.In, d.Ino, append(bytes.Clone(ib), xa...)); err != nil {
		return err
	}
	return p.PutInode(d.Ino, d.In, note)
}

// RemoveEntry removes the entry name from directory d when it names inode
// ino (ext2fs_unlink), as ext4_generic_delete_entry does: the previous
// record absorbs it, or, first in its run, it is marked unused; checksums
// are set. It reports whether the name was there (a name already gone is
// no error); a name naming another inode is an *OtherInodeError and
// nothing changes. why ends the notes.
func (p *Tx) RemoveEntry(d *Dir, name []byte, ino uint32, why string) (bool, error) {
	if d.In.HasInlineData() {
		return p.removeInline(d, name, ino, why)
	}
	read := p.DirReader(d)
	lblks := []uint32{}
	if d.Indexed(p.SB) {
		lblk, _, found, err := dirent.FindIndexed(d.Params, name, read)
		if err != nil || !found {
			return false, err
		}
		lblks = append(lblks, lblk)
	} else {
		for lblk := range d.NBlocks(p.fs.BlockSize()) {
			lblks = append(lblks, lblk)
		}
	}
	for _, lblk := range lblks {
		b, err := read(lblk)
		if err != nil {
			return false, err
		}
		phys, _ := d.Phys(lblk)
		if err := dirent.ValidateLeaf(b, d.Params); err != nil {
			return false, dirent.AtBlock(err, phys)
		}
		space, err := dirent.LeafSpace(b, d.Params)
		if err != nil {
			return false, dirent.AtBlock(err, phys)
		}
		found, err := removeRecord(space, name, ino, d.Ino, d.Params)
		if oe, ok := err.(*OtherInodeError); ok {
			oe.Block = phys
		}
		if err != nil {
			return false, dirent.AtBlock(err, phys)
		}
		if !found {
			continue
		}
		if err := dirent.SetLeafChecksum(b, d.Params); err != nil {
			return false, err
		}
		if err := dirent.ValidateLeaf(b, d.Params); err != nil {
			return false, fmt.Errorf("%w: removing %q left an invalid block: %v", devio.ErrInternal, name, err)
		}
		p.Write(phys, b, fmt.Sprintf("directory %d block %d: entry %q removed (%s)", d.Ino, lblk, name, why))
		return true, nil
	}
	return false, nil
}

func (p *Tx) removeInline(d *Dir, name []byte, ino uint32, why string) (bool, error) {
	ib, xa, err := d.InlineRegions()
	if err != nil {
		return false, err
	}
	if err := dirent.CheckInline(ib, xa, d.Params); err != nil {
		return false, err
	}
	ib, xa = bytes.Clone(ib), bytes.Clone(xa)
	for _, space := range [][]byte{ib[dirent.InlineDotDotSize:], xa} {
		found, err := removeRecord(space, name, ino, d.Ino, d.Params)
		if err != nil {
			return false, err
		}
		if found {
			if err := dirent.CheckInline(ib, xa, d.Params); err != nil {
				return false, fmt.Errorf("%w: removing %q left an invalid inline directory: %v", devio.ErrInternal, name, err)
			}
			return true, p.putInlineDir(d, ib, xa, fmt.Sprintf("inline directory: entry %q removed (%s)", name, why))
		}
	}
	return false, nil
}

// OtherInodeError: the name to remove names another inode.
type OtherInodeError struct {
	Name      []byte
	Dir       uint32 // the directory inode
	Has, Want uint32 // the inode the entry names, the one it should
	Block     uint64 // the directory block (super.NoBlock: inline)
}

func (e *OtherInodeError) Error() string {
	return fmt.Sprintf("%q in directory %d names inode %d, not %d", e.Name, e.Dir, e.Has, e.Want)
}

// removeRecord removes the record named name from a validated run of
// records (dirent.RemoveEntry), refusing one that names another inode
// than ino.
func removeRecord(space, name []byte, ino, dir uint32, p dirent.Params) (bool, error) {
	return dirent.RemoveEntry(space, name, p, func(e dirent.Entry) error {
		if e.Inode != ino {
			return &OtherInodeError{Name: name, Dir: dir, Has: e.Inode, Want: ino, Block: super.NoBlock}
		}
		return nil
	})
}
