package ext4fs

import (
	"bytes"
	"errors"
	"fmt"
	"time"

	"github.com/ext4relink/ext4relink/dirent"
	"github.com/ext4relink/ext4relink/inode"
	"github.com/ext4relink/ext4relink/internal/devio"
	"github.com/ext4relink/ext4relink/super"
)

// AddEntry adds name -> ino to directory d, growing it when it has no room
// (ext2fs_link with expand_dir), and stamps the directory's mtime and
// ctime with now. It returns how the entry was placed.
func (p *Tx) AddEntry(d *Dir, name []byte, ino uint32, ft uint8, now time.Time) (string, error) {
	e := dirent.NewEntry{Name: name, Inode: ino, FileType: ft}
	var how string
	var err error
	switch {
	case d.In.HasInlineData():
		how, err = p.addInline(d, e)
	case d.Indexed(p.SB):
		how, err = p.addIndexed(d, e)
	default:
		how, err = p.addLinear(d, e)
	}
	if err != nil {
		return "", err
	}
	d.In.SetMtime(now)
	d.In.SetCtime(now)
	return how, p.PutInode(d.Ino, d.In, "directory "+how+"; mtime and ctime set")
}

// addLinear puts the entry in the first block with room, as the kernel's
// ext4_add_entry does, or appends one new block to the directory.
//
// It gives the result of calling dirent.AddEntry on each block from block 0
// until one does not report ErrNoSpace, without re-reading every block:
// the transaction's index of the directory (FirstFit) knows which block that is.
func (p *Tx) addLinear(d *Dir, e dirent.NewEntry) (string, error) {
	if err := e.Check(d.Params); err != nil {
		// AddEntry refuses the entry on the first block it is given.
		phys, err0 := d.Phys(0)
		if err0 == nil {
			_, err0 = p.View(phys)
		}
		if err0 != nil {
			return "", err0
		}
		return "", dirent.AtBlock(err, phys)
	}
	n := d.NBlocks(p.fs.BlockSize())
	lblk, ok, err := p.FirstFit(d, e.Name)
	if err != nil {
		return "", err
	}
	if ok {
		phys, err := d.Phys(lblk)
		if err != nil {
			return "", err
		}
		b, err := p.View(phys)
		if err != nil {
			return "", err
		}
		nb, err := dirent.AddEntry(b, e, d.Params)
		if errors.Is(err, dirent.ErrNoSpace) {
			return "", fmt.Errorf("%w: directory %d block %d was indexed with room for %q but has none", devio.ErrInternal, d.Ino, lblk, e.Name)
		}
		if err != nil {
			return "", dirent.AtBlock(err, phys)
		}
		p.Write(phys, nb, fmt.Sprintf("directory %d block %d: entry %q -> inode %d added", d.Ino, lblk, e.Name, e.Inode))
		return fmt.Sprintf("entry added to linear block %d", lblk), nil
	}
	phys, err := p.growDir(d, n)
	if err != nil {
		return "", err
	}
	nb, err := dirent.NewDirBlock(d.Params)
	if err == nil {
		nb, err = dirent.AddEntry(nb, e, d.Params)
	}
	if err != nil {
		return "", err
	}
	p.Write(phys, nb, fmt.Sprintf("directory %d new block %d: entry %q -> inode %d", d.Ino, n, e.Name, e.Inode))
	return fmt.Sprintf("directory had no room: grown by block %d (physical %d)", n, phys), nil
}

// addIndexed inserts into an htree as ext4_dx_add_entry does, splitting
// leaves and index nodes when full; new blocks are allocated and mapped
// first.
func (p *Tx) addIndexed(d *Dir, e dirent.NewEntry) (string, error) {
	need, err := dirent.HtreeBlocksNeeded(d.Params, e, p.DirReader(d))
	if err != nil {
		return "", err
	}
	n := d.NBlocks(p.fs.BlockSize())
	var fresh []uint32
	for i := range uint32(need) {
		if _, err := p.growDir(d, n+i); err != nil {
			return "", err
		}
		fresh = append(fresh, n+i)
	}
	res, err := dirent.HtreeAdd(d.Params, e, p.DirReader(d), fresh)
	if err != nil {
		return "", err
	}
	for _, c := range res.Changes {
		phys, err := d.Phys(c.Lblk)
		if err != nil {
			return "", err
		}
		p.Write(phys, c.Data, fmt.Sprintf("directory %d htree block %d", d.Ino, c.Lblk))
	}
	if need == 0 {
		return fmt.Sprintf("entry added to htree leaf %d", res.Leaf), nil
	}
	return fmt.Sprintf("htree leaf full: split using %d new block(s), entry in leaf %d", need, res.Leaf), nil
}

// addInline adds to an inline directory, growing its system.data value
// when the inode has room, and converting it to a one-block directory (as
// the kernel's ext4_convert_inline_data_nolock does) when it has none.
func (p *Tx) addInline(d *Dir, e dirent.NewEntry) (string, error) {
	ib, xa, err := d.InlineRegions()
	if err != nil {
		return "", err
	}
	nib, nxa, err := dirent.InlineAdd(ib, xa, e, d.Params)
	how := "entry added to the inline directory"
	if errors.Is(err, dirent.ErrNoSpace) {
		nib, nxa, err = p.growInline(d, ib, xa, e)
		how = "inline directory grown in the inode and entry added"
	}
	if errors.Is(err, errInlineFull) {
		return p.convertInline(d, ib, xa, e)
	}
	if err != nil {
		return "", err
	}
	if err := inode.SetInlineData(d.In, d.Ino, append(bytes.Clone(nib), nxa...)); err != nil {
		return "", err
	}
	d.In.SetSize(uint64(len(nib) + len(nxa)))
	return how, nil
}

func (p *Tx) growInline(d *Dir, ib, xa []byte, e dirent.NewEntry) ([]byte, []byte, error) {
	max, err := inode.MaxInlineValue(d.In, d.Ino)
	if err != nil {
		return nil, nil, err
	}
	want := len(xa) + dirent.RecLen(len(e.Name))
	if want > max {
		return nil, nil, errInlineFull
	}
	gx, err := dirent.InlineGrow(xa, want, d.Params)
	if err != nil {
		return nil, nil, err
	}
	return dirent.InlineAdd(ib, gx, e, d.Params)
}

// growDir maps a new block at logical block lblk of directory d (which
// must be the first block past its end), growing i_size and i_blocks, and
// returns the physical block. Under bigalloc the rest of the last cluster
// is used before a new cluster is taken.
func (p *Tx) growDir(d *Dir, lblk uint32) (uint64, error) {
	if p.SB.HasRoCompat(super.RoCompatQuota) || p.SB.HasRoCompat(super.RoCompatProject) {
		return 0, super.Errorf(super.ErrUnsupported, fmt.Sprintf("directory inode %d", d.Ino), super.NoBlock, -1,
			"the directory has no free slot and must grow, which changes the owner's quota usage (quota feature); ext4relink does not edit quota files. Choose a directory with room, e.g. /lost+found (mke2fs pre-sizes it)")
	}
	if uint64(lblk) != d.In.Size()/uint64(p.fs.BlockSize()) {
		return 0, fmt.Errorf("%w: growing directory %d at block %d, size %d", devio.ErrInternal, d.Ino, lblk, d.In.Size())
	}
	phys, newCluster, err := p.dirBlockFor(d, lblk)
	if err != nil {
		return 0, err
	}
	g, err := p.mapBlock(d, lblk, phys)
	if err != nil {
		return 0, err
	}
	clusters := uint64(len(g.New))
	if newCluster {
		clusters++
	}
	perCluster := uint64(p.fs.BlockSize()/512) << p.SB.ClusterBits()
	hf := p.SB.HasRoCompat(super.RoCompatHugeFile)
	if err := d.In.SetBlocks(d.In.BlocksCount(hf, p.fs.BlockSize())+clusters*perCluster, hf, p.fs.BlockSize()); err != nil {
		return 0, err
	}
	d.In.Block = g.IBlock
	d.In.SetSize(d.In.Size() + uint64(p.fs.BlockSize()))
	for blk, data := range g.Blocks {
		p.Write(blk, data, fmt.Sprintf("block map of directory %d: logical block %d -> %d", d.Ino, lblk, phys))
	}
	d.Blocks, err = inode.MapInode(d.In, p.fs.InodeFS(), d.Ino, p.Read)
	return phys, err
}

// dirBlockFor picks the physical block for a directory's new logical block.
func (p *Tx) dirBlockFor(d *Dir, lblk uint32) (uint64, bool, error) {
	goal := uint64(0)
	if lblk > 0 {
		if last, _, ok := d.Blocks.Map(lblk - 1); ok {
			goal = last + 1
			if cb := p.SB.ClusterBits(); cb > 0 && goal&(1<<cb-1) != 0 {
				return goal, false, nil // still inside the directory's own cluster
			}
		}
	}
	if goal == 0 {
		g, _ := p.SB.GroupOfInode(d.Ino)
		goal = p.SB.GroupFirstBlock(g)
	}
	phys, err := p.AllocBlock(goal, fmt.Sprintf("directory %d", d.Ino))
	return phys, true, err
}

// mapBlock adds lblk -> phys to the directory's extent tree or indirect map,
// allocating tree/indirect blocks through the transaction when needed.
func (p *Tx) mapBlock(d *Dir, lblk uint32, phys uint64) (*inode.Growth, error) {
	mp := p.fs.InodeFS().Params(d.Ino, d.In)
	alloc := func(goal uint64) (uint64, error) {
		return p.AllocBlock(goal, fmt.Sprintf("the block map of directory %d", d.Ino))
	}
	if d.In.HasExtents() {
		return inode.AppendExtent(d.In.Block[:], lblk, phys, mp, p.Read, alloc)
	}
	return inode.AppendIndirect(d.In.Block[:], lblk, phys, mp, p.Read, alloc)
}

// errInlineFull: the inline directory has no room left in the inode.
var errInlineFull = errors.New("inline directory full")

// convertInline moves a full inline directory into a new block ("." and
// "..", then its entries, then the new one), drops its inline data and maps
// the block as logical block 0.
func (p *Tx) convertInline(d *Dir, ib, xa []byte, e dirent.NewEntry) (string, error) {
	if p.SB.HasRoCompat(super.RoCompatQuota) || p.SB.HasRoCompat(super.RoCompatProject) {
		return "", super.Errorf(super.ErrUnsupported, fmt.Sprintf("inline directory inode %d", d.Ino), super.NoBlock, -1,
			"it is full and moving it to a block would change the owner's quota usage (quota feature); choose a directory with room, e.g. /lost+found")
	}
	block, err := dirent.ConvertInline(ib, xa, d.Ino, d.Params)
	if err == nil {
		block, err = dirent.AddEntry(block, e, d.Params)
	}
	if err != nil {
		return "", err
	}
	g, _ := p.SB.GroupOfInode(d.Ino)
	phys, err := p.AllocBlock(p.SB.GroupFirstBlock(g), fmt.Sprintf("directory %d", d.Ino))
	if err != nil {
		return "", err
	}
	if err := inode.DropInlineData(d.In, d.Ino); err != nil {
		return "", err
	}
	if p.SB.HasIncompat(super.IncompatExtents) {
		d.In.Flags |= inode.ExtentsFl
		d.In.Block = inode.NewExtentRoot()
	}
	gr, err := p.mapBlock(d, 0, phys)
	if err != nil {
		return "", err
	}
	d.In.Block = gr.IBlock
	for blk, data := range gr.Blocks {
		p.Write(blk, data, fmt.Sprintf("block map of directory %d", d.Ino))
	}
	hf := p.SB.HasRoCompat(super.RoCompatHugeFile)
	clusters := uint64(1 + len(gr.New))
	if err := d.In.SetBlocks(clusters*(uint64(p.fs.BlockSize()/512)<<p.SB.ClusterBits()), hf, p.fs.BlockSize()); err != nil {
		return "", err
	}
	d.In.SetSize(uint64(p.fs.BlockSize()))
	p.Write(phys, block, fmt.Sprintf("directory %d: inline entries moved to a new block 0, entry %q -> inode %d added", d.Ino, e.Name, e.Inode))
	if d.Blocks, err = inode.MapInode(d.In, p.fs.InodeFS(), d.Ino, p.Read); err != nil {
		return "", err
	}
	return fmt.Sprintf("inline directory full: moved to a new block (physical %d) and entry added", phys), nil
}
