package engine

import (
	"bytes"
	"errors"
	"fmt"

	"github.com/ext4relink/ext4relink/dirent"
	"github.com/ext4relink/ext4relink/inode"
	"github.com/ext4relink/ext4relink/super"
)

// addEntry adds name -> ino to directory d through the plan and stamps the
// directory's mtime and ctime. It returns how the entry was placed.
func (p *Plan) addEntry(d *dir, name []byte, ino uint32, ft uint8) (string, error) {
	e := dirent.NewEntry{Name: name, Inode: ino, FileType: ft}
	var how string
	var err error
	switch {
	case d.in.HasInlineData():
		how, err = p.addInline(d, e)
	case d.indexed(p.SB):
		how, err = p.addIndexed(d, e)
	default:
		how, err = p.addLinear(d, e)
	}
	if err != nil {
		return "", err
	}
	d.in.SetMtime(p.Now)
	d.in.SetCtime(p.Now)
	return how, p.PutInode(d.ino, d.in, "directory "+how+"; mtime and ctime set")
}

// addLinear puts the entry in the first block with room, as the kernel's
// ext4_add_entry does, or appends one new block to the directory.
//
// It gives the result of calling dirent.AddEntry on each block from block 0
// until one does not report ErrNoSpace, without re-reading every block:
// the plan's index of the directory (firstFit) knows which block that is.
func (p *Plan) addLinear(d *dir, e dirent.NewEntry) (string, error) {
	if err := e.Check(d.params); err != nil {
		// AddEntry refuses the entry on the first block it is given.
		phys, err0 := d.phys(0)
		if err0 == nil {
			_, err0 = p.view(phys)
		}
		if err0 != nil {
			return "", err0
		}
		return "", dirent.AtBlock(err, phys)
	}
	n := d.nblocks(p.fs.BlockSize())
	lblk, ok, err := p.firstFit(d, e.Name)
	if err != nil {
		return "", err
	}
	if ok {
		phys, err := d.phys(lblk)
		if err != nil {
			return "", err
		}
		b, err := p.view(phys)
		if err != nil {
			return "", err
		}
		nb, err := dirent.AddEntry(b, e, d.params)
		if errors.Is(err, dirent.ErrNoSpace) {
			return "", fmt.Errorf("%w: directory %d block %d was indexed with room for %q but has none", ErrInternal, d.ino, lblk, e.Name)
		}
		if err != nil {
			return "", dirent.AtBlock(err, phys)
		}
		p.Write(phys, nb, fmt.Sprintf("directory %d block %d: entry %q -> inode %d added", d.ino, lblk, e.Name, e.Inode))
		return fmt.Sprintf("entry added to linear block %d", lblk), nil
	}
	phys, err := p.growDir(d, n)
	if err != nil {
		return "", err
	}
	nb, err := dirent.NewDirBlock(d.params)
	if err == nil {
		nb, err = dirent.AddEntry(nb, e, d.params)
	}
	if err != nil {
		return "", err
	}
	p.Write(phys, nb, fmt.Sprintf("directory %d new block %d: entry %q -> inode %d", d.ino, n, e.Name, e.Inode))
	return fmt.Sprintf("directory had no room: grown by block %d (physical %d)", n, phys), nil
}

// addIndexed inserts into an htree as ext4_dx_add_entry does, splitting
// leaves and index nodes when full; new blocks are allocated and mapped
// first.
func (p *Plan) addIndexed(d *dir, e dirent.NewEntry) (string, error) {
	need, err := dirent.HtreeBlocksNeeded(d.params, e, p.dirReader(d))
	if err != nil {
		return "", err
	}
	n := d.nblocks(p.fs.BlockSize())
	var fresh []uint32
	for i := range uint32(need) {
		if _, err := p.growDir(d, n+i); err != nil {
			return "", err
		}
		fresh = append(fresh, n+i)
	}
	res, err := dirent.HtreeAdd(d.params, e, p.dirReader(d), fresh)
	if err != nil {
		return "", err
	}
	for _, c := range res.Changes {
		phys, err := d.phys(c.Lblk)
		if err != nil {
			return "", err
		}
		p.Write(phys, c.Data, fmt.Sprintf("directory %d htree block %d", d.ino, c.Lblk))
	}
	if need == 0 {
		return fmt.Sprintf("entry added to htree leaf %d", res.Leaf), nil
	}
	return fmt.Sprintf("htree leaf full: split using %d new block(s), entry in leaf %d", need, res.Leaf), nil
}

// addInline adds to an inline directory, growing its system.data value
// when the inode has room, and converting it to a one-block directory (as
// the kernel's ext4_convert_inline_data_nolock does) when it has none.
func (p *Plan) addInline(d *dir, e dirent.NewEntry) (string, error) {
	ib, xa, err := d.inlineRegions()
	if err != nil {
		return "", err
	}
	nib, nxa, err := dirent.InlineAdd(ib, xa, e, d.params)
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
	if err := inode.SetInlineData(d.in, d.ino, append(bytes.Clone(nib), nxa...)); err != nil {
		return "", err
	}
	d.in.SetSize(uint64(len(nib) + len(nxa)))
	return how, nil
}

func (p *Plan) growInline(d *dir, ib, xa []byte, e dirent.NewEntry) ([]byte, []byte, error) {
	max, err := inode.MaxInlineValue(d.in, d.ino)
	if err != nil {
		return nil, nil, err
	}
	want := len(xa) + dirent.RecLen(len(e.Name))
	if want > max {
		return nil, nil, errInlineFull
	}
	gx, err := dirent.InlineGrow(xa, want, d.params)
	if err != nil {
		return nil, nil, err
	}
	return dirent.InlineAdd(ib, gx, e, d.params)
}

// growDir maps a new block at logical block lblk of directory d (which
// must be the first block past its end), growing i_size and i_blocks, and
// returns the physical block. Under bigalloc the rest of the last cluster
// is used before a new cluster is taken.
func (p *Plan) growDir(d *dir, lblk uint32) (uint64, error) {
	if p.SB.HasRoCompat(super.RoCompatQuota) || p.SB.HasRoCompat(super.RoCompatProject) {
		return 0, super.Errorf(super.ErrUnsupported, fmt.Sprintf("directory inode %d", d.ino), super.NoBlock, -1,
			"the directory has no free slot and must grow, which changes the owner's quota usage (quota feature); ext4relink does not edit quota files. Choose a directory with room, e.g. /lost+found (mke2fs pre-sizes it)")
	}
	if uint64(lblk) != d.in.Size()/uint64(p.fs.BlockSize()) {
		return 0, fmt.Errorf("%w: growing directory %d at block %d, size %d", ErrInternal, d.ino, lblk, d.in.Size())
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
	if err := d.in.SetBlocks(d.in.BlocksCount(hf, p.fs.BlockSize())+clusters*perCluster, hf, p.fs.BlockSize()); err != nil {
		return 0, err
	}
	d.in.Block = g.IBlock
	d.in.SetSize(d.in.Size() + uint64(p.fs.BlockSize()))
	for blk, data := range g.Blocks {
		p.Write(blk, data, fmt.Sprintf("block map of directory %d: logical block %d -> %d", d.ino, lblk, phys))
	}
	d.m, err = inode.MapInode(d.in, p.fs.InodeFS(), d.ino, p.Read)
	return phys, err
}

// dirBlockFor picks the physical block for a directory's new logical block.
func (p *Plan) dirBlockFor(d *dir, lblk uint32) (uint64, bool, error) {
	goal := uint64(0)
	if lblk > 0 {
		if last, _, ok := d.m.Map(lblk - 1); ok {
			goal = last + 1
			if cb := p.SB.ClusterBits(); cb > 0 && goal&(1<<cb-1) != 0 {
				return goal, false, nil // still inside the directory's own cluster
			}
		}
	}
	if goal == 0 {
		g, _ := p.SB.GroupOfInode(d.ino)
		goal = p.SB.GroupFirstBlock(g)
	}
	phys, err := p.AllocBlock(goal, fmt.Sprintf("directory %d", d.ino))
	return phys, true, err
}

// mapBlock adds lblk -> phys to the directory's extent tree or indirect map,
// allocating tree/indirect blocks through the plan when needed.
func (p *Plan) mapBlock(d *dir, lblk uint32, phys uint64) (*inode.Growth, error) {
	mp := p.fs.InodeFS().Params(d.ino, d.in)
	alloc := func(goal uint64) (uint64, error) {
		return p.AllocBlock(goal, fmt.Sprintf("the block map of directory %d", d.ino))
	}
	if d.in.HasExtents() {
		return inode.AppendExtent(d.in.Block[:], lblk, phys, mp, p.Read, alloc)
	}
	return inode.AppendIndirect(d.in.Block[:], lblk, phys, mp, p.Read, alloc)
}

// errInlineFull: the inline directory has no room left in the inode.
var errInlineFull = errors.New("inline directory full")

// convertInline moves a full inline directory into a new block ("." and
// "..", then its entries, then the new one), drops its inline data and maps
// the block as logical block 0.
func (p *Plan) convertInline(d *dir, ib, xa []byte, e dirent.NewEntry) (string, error) {
	if p.SB.HasRoCompat(super.RoCompatQuota) || p.SB.HasRoCompat(super.RoCompatProject) {
		return "", super.Errorf(super.ErrUnsupported, fmt.Sprintf("inline directory inode %d", d.ino), super.NoBlock, -1,
			"it is full and moving it to a block would change the owner's quota usage (quota feature); choose a directory with room, e.g. /lost+found")
	}
	block, err := dirent.ConvertInline(ib, xa, d.ino, d.params)
	if err == nil {
		block, err = dirent.AddEntry(block, e, d.params)
	}
	if err != nil {
		return "", err
	}
	g, _ := p.SB.GroupOfInode(d.ino)
	phys, err := p.AllocBlock(p.SB.GroupFirstBlock(g), fmt.Sprintf("directory %d", d.ino))
	if err != nil {
		return "", err
	}
	if err := inode.DropInlineData(d.in, d.ino); err != nil {
		return "", err
	}
	if p.SB.HasIncompat(super.IncompatExtents) {
		d.in.Flags |= inode.ExtentsFl
		d.in.Block = inode.NewExtentRoot()
	}
	gr, err := p.mapBlock(d, 0, phys)
	if err != nil {
		return "", err
	}
	d.in.Block = gr.IBlock
	for blk, data := range gr.Blocks {
		p.Write(blk, data, fmt.Sprintf("block map of directory %d", d.ino))
	}
	hf := p.SB.HasRoCompat(super.RoCompatHugeFile)
	clusters := uint64(1 + len(gr.New))
	if err := d.in.SetBlocks(clusters*(uint64(p.fs.BlockSize()/512)<<p.SB.ClusterBits()), hf, p.fs.BlockSize()); err != nil {
		return "", err
	}
	d.in.SetSize(uint64(p.fs.BlockSize()))
	p.Write(phys, block, fmt.Sprintf("directory %d: inline entries moved to a new block 0, entry %q -> inode %d added", d.ino, e.Name, e.Inode))
	if d.m, err = inode.MapInode(d.in, p.fs.InodeFS(), d.ino, p.Read); err != nil {
		return "", err
	}
	return fmt.Sprintf("inline directory full: moved to a new block (physical %d) and entry added", phys), nil
}
