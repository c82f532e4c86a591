package ext4fs

import (
	"fmt"

	"github.com/ext4relink/ext4relink/bitmap"
	"github.com/ext4relink/ext4relink/super"
)

// The one allocator: the only code that changes allocation state (block
// and inode bitmaps, group free counts and flags, bitmap and descriptor
// checksums, the superblock's free counts), for relink, directory growth
// and the fast-commit replay alike. The bookkeeping of one bit is
// bitmap.AllocBlock / FreeBlock / AllocInode.

// BlockBitmap loads group g's block bitmap through the transaction, verified: a
// private copy, to be changed and written.
func (p *Tx) BlockBitmap(g uint64) (*bitmap.Group, error) { return p.loadBlockBitmap(g, p.Read) }

// BlockBitmapView is blockBitmap for reading only: the bitmap is the
// plan's own block, not to be modified.
func (p *Tx) BlockBitmapView(g uint64) (*bitmap.Group, error) { return p.loadBlockBitmap(g, p.View) }

func (p *Tx) loadBlockBitmap(g uint64, read func(uint64) ([]byte, error)) (*bitmap.Group, error) {
	gd, err := p.GroupDesc(g)
	if err != nil {
		return nil, err
	}
	grp := &bitmap.Group{Num: g, Desc: gd}
	if p.SB.BlockUninit(gd) {
		return grp, nil
	}
	if grp.BlockBitmap, err = read(gd.BlockBitmap()); err != nil {
		return nil, err
	}
	if !bitmap.VerifyBlockBitmap(p.SB, gd, grp.BlockBitmap) {
		return nil, super.Errorf(super.ErrChecksum, fmt.Sprintf("block bitmap of group %d", g), gd.BlockBitmap(), -1,
			"checksum does not match the group descriptor's (%#x)", gd.BlockBitmapCsum())
	}
	return grp, nil
}

// BlockInUse reports whether block b is marked in use in the block bitmap.
// A block in a BLOCK_UNINIT group counts as free.
func (p *Tx) BlockInUse(b uint64) (bool, error) {
	g, idx := p.SB.GroupOfBlock(b)
	grp, err := p.BlockBitmapView(g)
	if err != nil {
		return false, err
	}
	if grp.BlockBitmap == nil {
		return false, nil
	}
	return bitmap.Test(grp.BlockBitmap, idx>>p.SB.ClusterBits()), nil
}

// AllocBlock takes a free block near goal: in goal's group first, then the
// following groups (wrapping), skipping groups whose descriptor says they are
// full or whose bitmap is uninitialised. Bitmap, descriptor and superblock
// change together (bitmap.AllocBlock).
func (p *Tx) AllocBlock(goal uint64, why string) (uint64, error) {
	if goal < uint64(p.SB.FirstDataBlock) || goal >= p.SB.BlocksCount() {
		goal = uint64(p.SB.FirstDataBlock)
	}
	start, _ := p.SB.GroupOfBlock(goal)
	n := p.SB.GroupCount()
	for i := uint64(0); i < n; i++ {
		g := (start + i) % n
		blk, ok, err := p.allocIn(g, goal)
		if err != nil {
			return 0, err
		}
		if ok {
			p.Allocated = append(p.Allocated, blk)
			return blk, nil
		}
		goal = 0
	}
	return 0, super.Errorf(super.ErrUnsupported, "block allocation", super.NoBlock, -1, "no free block for %s: the filesystem is full", why)
}

func (p *Tx) allocIn(g uint64, goal uint64) (uint64, bool, error) {
	gd, err := p.GroupDesc(g)
	if err != nil {
		return 0, false, err
	}
	if gd.FreeBlocksCount() == 0 || p.SB.BlockUninit(gd) {
		return 0, false, nil
	}
	grp, err := p.BlockBitmap(g)
	if err != nil {
		return 0, false, err
	}
	blk, ok := bitmap.FindFree(p.SB, grp, goal)
	if !ok {
		return 0, false, nil
	}
	if err := bitmap.AllocBlock(p.SB, grp, blk); err != nil {
		return 0, false, err
	}
	p.Write(gd.BlockBitmap(), grp.BlockBitmap, fmt.Sprintf("block bitmap of group %d: block %d marked in use", g, blk))
	return blk, true, p.PutGroupDesc(g, grp.Desc, "one block fewer free, bitmap checksum")
}

// InodeInUse reports whether inode ino is marked in use in its group's
// inode bitmap as the plan has it (see ReadInodeBitmap).
func (p *Tx) InodeInUse(ino uint32) (bool, error) {
	g, idx := p.SB.GroupOfInode(ino)
	gd, err := p.GroupDesc(g)
	if err != nil {
		return false, err
	}
	bm, err := ReadInodeBitmap(p.SB, g, gd, p.View) // which copies it
	if err != nil {
		return false, err
	}
	return bitmap.Test(bm, uint64(idx)), nil
}
