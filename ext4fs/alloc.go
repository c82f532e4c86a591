package ext4fs

import (
	"fmt"
	"maps"
	"slices"

	"github.com/ext4relink/ext4relink/bitmap"
	"github.com/ext4relink/ext4relink/super"
)

// The one allocator: the only code that changes allocation state (block
// and inode bitmaps, group free counts and flags, bitmap and descriptor
// checksums, the superblock's free counts), for relink, directory growth,
// past-eof trimming and the fast-commit replay alike. The bookkeeping is
// bitmap.AllocBlock / FreeBlock / MarkBlocks / AllocInode (cluster-aware);
// this file chooses the blocks, loads and initialises the bitmaps and
// writes them through the transaction. BLOCK_UNINIT and INODE_UNINIT are
// honoured only when group checksums are on (super.BlockUninit/InodeUninit).

// Reader is a read view at some height of the stack: an FS (or a view of
// it made by Below) or a Tx on one. The allocator's reads that must not
// see pending changes (the fast-commit replay's ownership checks) go
// through the view under the Tx.
type Reader interface {
	ReadBlock(n uint64) ([]byte, error)
	GroupDesc(g uint64) (*super.GroupDesc, error)
}

// BlockBitmap loads group g's block bitmap through the transaction,
// verified: a private copy, to be changed and written. For a BLOCK_UNINIT
// group BlockBitmap is nil.
func (p *Tx) BlockBitmap(g uint64) (*bitmap.Group, error) { return p.loadBlockBitmap(g, p.Read) }

// BlockBitmapView is BlockBitmap for reading only: the bitmap is the
// transaction's own block, not to be modified.
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
	if err := verifyBlockBitmap(p.SB, g, gd, grp.BlockBitmap); err != nil {
		return nil, err
	}
	return grp, nil
}

func verifyBlockBitmap(sb *super.Superblock, g uint64, gd *super.GroupDesc, bm []byte) error {
	if !bitmap.VerifyBlockBitmap(sb, gd, bm) {
		return super.Errorf(super.ErrChecksum, fmt.Sprintf("block bitmap of group %d", g), gd.BlockBitmap(), -1,
			"checksum does not match the group descriptor's (%#x)", gd.BlockBitmapCsum())
	}
	return nil
}

// ReadBlockBitmap returns group g's block bitmap read through r, verified,
// as a private copy; for a BLOCK_UNINIT group the bitmap
// ext4_init_block_bitmap makes (uninit true).
func ReadBlockBitmap(r Reader, sb *super.Superblock, g uint64) (bm []byte, uninit bool, err error) {
	gd, err := r.GroupDesc(g)
	if err != nil {
		return nil, false, err
	}
	if sb.BlockUninit(gd) {
		bm, err = InitBlockBitmap(sb, g, gd)
		return bm, true, err
	}
	b, err := r.ReadBlock(gd.BlockBitmap())
	if err != nil {
		return nil, false, err
	}
	bm = slices.Clone(b)
	return bm, false, verifyBlockBitmap(sb, g, gd, bm)
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

// AllocRequest says what block AllocBlockFor takes.
type AllocRequest struct {
	Goal uint64 // search from here: its group first, then the following groups
	Why  string // for the "filesystem is full" error
	// Avoid rejects blocks that are free but must not be taken (the
	// fast-commit replay's ADD_RANGE blocks).
	Avoid func(blk uint64) bool
	// InitUninit lets the search use BLOCK_UNINIT groups, initialising
	// their bitmap first (InitBlockGroup); otherwise they are skipped.
	InitUninit bool
}

// AllocBlock takes a free block near goal: in goal's group first, then the
// following groups (wrapping), skipping groups whose descriptor says they are
// full or whose bitmap is uninitialised. Bitmap, descriptor and superblock
// change together (bitmap.AllocBlock).
func (p *Tx) AllocBlock(goal uint64, why string) (uint64, error) {
	return p.AllocBlockFor(AllocRequest{Goal: goal, Why: why})
}

// AllocBlockFor is AllocBlock with the choices of req.
func (p *Tx) AllocBlockFor(req AllocRequest) (uint64, error) {
	goal := req.Goal
	if goal < uint64(p.SB.FirstDataBlock) || goal >= p.SB.BlocksCount() {
		goal = uint64(p.SB.FirstDataBlock)
	}
	start, _ := p.SB.GroupOfBlock(goal)
	n := p.SB.GroupCount()
	for i := uint64(0); i < n; i++ {
		g := (start + i) % n
		blk, ok, err := p.allocIn(g, goal, req)
		if err != nil {
			return 0, err
		}
		if ok {
			p.Allocated = append(p.Allocated, blk)
			return blk, nil
		}
		goal = 0
	}
	return 0, super.Errorf(super.ErrUnsupported, "block allocation", super.NoBlock, -1, "no free block for %s: the filesystem is full", req.Why)
}

func (p *Tx) allocIn(g uint64, goal uint64, req AllocRequest) (uint64, bool, error) {
	gd, err := p.GroupDesc(g)
	if err != nil {
		return 0, false, err
	}
	if gd.FreeBlocksCount() == 0 || (p.SB.BlockUninit(gd) && !req.InitUninit) {
		return 0, false, nil
	}
	grp, err := p.BlockBitmap(g)
	if err != nil {
		return 0, false, err
	}
	blk, ok, err := p.findFree(grp, goal, req.Avoid)
	if err != nil || !ok {
		return 0, false, err
	}
	if grp.BlockBitmap == nil { // BLOCK_UNINIT, and req.InitUninit
		if err := p.InitBlockGroup(g); err != nil {
			return 0, false, err
		}
		if grp, err = p.BlockBitmap(g); err != nil {
			return 0, false, err
		}
	}
	if err := bitmap.AllocBlock(p.SB, grp, blk); err != nil {
		return 0, false, err
	}
	p.Write(grp.Desc.BlockBitmap(), grp.BlockBitmap, fmt.Sprintf("block bitmap of group %d: block %d marked in use", g, blk))
	return blk, true, p.PutGroupDesc(g, grp.Desc, "one block fewer free, bitmap checksum")
}

// findFree finds a free cluster of group grp at or after goal (wrapping in
// the group) that avoid accepts. An uninitialised bitmap is initialised
// in memory to search it.
func (p *Tx) findFree(grp *bitmap.Group, goal uint64, avoid func(uint64) bool) (uint64, bool, error) {
	g := &bitmap.Group{Num: grp.Num, Desc: grp.Desc, BlockBitmap: grp.BlockBitmap}
	if g.BlockBitmap == nil {
		bm, err := InitBlockBitmap(p.SB, grp.Num, grp.Desc)
		if err != nil {
			return 0, false, err
		}
		g.BlockBitmap = bm
	}
	if avoid == nil {
		blk, ok := bitmap.FindFree(p.SB, g, goal)
		return blk, ok, nil
	}
	g.BlockBitmap = slices.Clone(g.BlockBitmap)
	for {
		blk, ok := bitmap.FindFree(p.SB, g, goal)
		if !ok || !avoid(blk) {
			return blk, ok, nil
		}
		_, idx := p.SB.GroupOfBlock(blk)
		bitmap.Set(g.BlockBitmap, idx>>p.SB.ClusterBits()) // searched: not again
	}
}

// FreeBlocks marks the (sorted) clusters free, group by group, through
// bitmap.FreeBlock; what names their owner in errors and notes.
func (p *Tx) FreeBlocks(clusters []uint64, what string) error {
	for i := 0; i < len(clusters); {
		g, _ := p.SB.GroupOfBlock(clusters[i])
		grp, err := p.BlockBitmap(g)
		if err != nil {
			return err
		}
		if grp.BlockBitmap == nil {
			return super.Errorf(super.ErrCorrupt, fmt.Sprintf("block bitmap of group %d", g), grp.Desc.BlockBitmap(), -1,
				"group is BLOCK_UNINIT, yet %s maps block %d in it", what, clusters[i])
		}
		n := 0
		for ; i < len(clusters); i++ {
			if cg, _ := p.SB.GroupOfBlock(clusters[i]); cg != g {
				break
			}
			if err := bitmap.FreeBlock(p.SB, grp, clusters[i]); err != nil {
				return err
			}
			n++
		}
		p.Write(grp.Desc.BlockBitmap(), grp.BlockBitmap, fmt.Sprintf("block bitmap of group %d: %d cluster(s) of %s past its size marked free", g, n, what))
		if err := p.PutGroupDesc(g, grp.Desc, fmt.Sprintf("%d more free, bitmap checksum", n)); err != nil {
			return err
		}
	}
	return nil
}

// MarkBlocks sets every block of blks in use (inUse) or free in the block
// bitmaps, group by group (bitmap.MarkBlocks), leaving alone those already
// so: the final pass of a replay that knows the end state
// (ext4_fc_set_bitmaps_and_counters). A BLOCK_UNINIT group it touches is
// initialised (its bitmap written, the flag cleared). why ends the notes.
func (p *Tx) MarkBlocks(blks []uint64, inUse bool, why string) error {
	byGroup := map[uint64][]uint64{}
	for _, b := range blks {
		if b < uint64(p.SB.FirstDataBlock) || b >= p.SB.BlocksCount() {
			return super.Errorf(super.ErrCorrupt, "block reference", b, -1, "block %d is outside the filesystem", b)
		}
		g, _ := p.SB.GroupOfBlock(b)
		byGroup[g] = append(byGroup[g], b)
	}
	for _, g := range slices.Sorted(maps.Keys(byGroup)) {
		bm, uninit, err := ReadBlockBitmap(p, p.SB, g)
		if err != nil {
			return err
		}
		gd, err := p.GroupDesc(g)
		if err != nil {
			return err
		}
		grp := &bitmap.Group{Num: g, Desc: gd, BlockBitmap: bm}
		n, err := bitmap.MarkBlocks(p.SB, grp, byGroup[g], inUse)
		if err != nil {
			return err
		}
		if n == 0 && !uninit {
			continue
		}
		p.Write(gd.BlockBitmap(), bm, fmt.Sprintf("block bitmap of group %d: %s", g, why))
		if err := p.PutGroupDesc(g, gd, "free block count and bitmap checksum: "+why); err != nil {
			return err
		}
	}
	return nil
}

// InitBlockGroup clears BLOCK_UNINIT of group g, writing the initialised
// bitmap (ext4_mark_inode_used does this for the group of an inode it
// marks in use). Without group checksums the flag means nothing and
// nothing is done.
func (p *Tx) InitBlockGroup(g uint64) error {
	gd, err := p.GroupDesc(g)
	if err != nil {
		return err
	}
	if !p.SB.BlockUninit(gd) {
		return nil
	}
	bm, err := InitBlockBitmap(p.SB, g, gd)
	if err != nil {
		return err
	}
	gd.Flags &^= super.BgBlockUninit
	bitmap.SetBlockBitmapChecksum(p.SB, gd, bm)
	p.Write(gd.BlockBitmap(), bm, fmt.Sprintf("block bitmap of group %d: initialised (was BLOCK_UNINIT)", g))
	return p.PutGroupDesc(g, gd, "BLOCK_UNINIT cleared")
}

// InodeInUse reports whether inode ino is marked in use in its group's
// inode bitmap as the transaction has it (see ReadInodeBitmap).
func (p *Tx) InodeInUse(ino uint32) (bool, error) { return InodeInUse(p, p.SB, ino) }

// InodeInUse reports whether inode ino is marked in use in its group's
// inode bitmap as the view has it.
func (fs *FS) InodeInUse(ino uint32) (bool, error) { return InodeInUse(fs, fs.SB, ino) }

// InodeInUse reports whether inode ino is marked in use in its group's
// inode bitmap read through r (an INODE_UNINIT group has none in use).
func InodeInUse(r Reader, sb *super.Superblock, ino uint32) (bool, error) {
	g, idx := sb.GroupOfInode(ino)
	gd, err := r.GroupDesc(g)
	if err != nil {
		return false, err
	}
	bm, err := ReadInodeBitmap(sb, g, gd, r.ReadBlock) // which copies it
	if err != nil {
		return false, err
	}
	return bitmap.Test(bm, uint64(idx)), nil
}

// MarkInodeUsed is ext4_mark_inode_used: the group's block bitmap is
// initialised if it was uninitialised, then bitmap.AllocInode does the
// rest. An inode already in use is left alone.
func (p *Tx) MarkInodeUsed(ino uint32, isDir bool) error {
	g, idx := p.SB.GroupOfInode(ino)
	gd, err := p.GroupDesc(g)
	if err != nil {
		return err
	}
	bm, err := ReadInodeBitmap(p.SB, g, gd, p.View)
	if err != nil {
		return err
	}
	if bitmap.Test(bm, uint64(idx)) {
		return nil
	}
	if err := p.InitBlockGroup(g); err != nil {
		return err
	}
	if gd, err = p.GroupDesc(g); err != nil {
		return err
	}
	if err := bitmap.AllocInode(p.SB, g, gd, bm, idx, isDir); err != nil {
		return err
	}
	p.Write(gd.InodeBitmap(), bm, fmt.Sprintf("inode bitmap of group %d: inode %d marked in use", g, ino))
	return p.PutGroupDesc(g, gd, fmt.Sprintf("inode %d in use", ino))
}
