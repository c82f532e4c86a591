package engine

import (
	"bytes"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/ext4relink/ext4relink/bitmap"
	"github.com/ext4relink/ext4relink/inode"
	"github.com/ext4relink/ext4relink/super"
)

// Plan is one relink (or several, with --all) as a set of whole-block
// changes computed in memory. Every read during planning goes through the
// plan first, so later steps see earlier changes (an inode table block that
// holds both the orphan and its chain predecessor is changed once, with
// both edits). Nothing is written until Commit.
type Plan struct {
	fs     *FS
	SB     *super.Superblock // working copy of the (replayed) superblock
	blocks map[uint64][]byte
	notes  map[uint64][]string
	noted  map[blockNote]struct{} // every (block, note) in notes
	// dirIdx holds what the linear directories looked up or added to so
	// far contain (see linearIndex).
	dirIdx  map[uint32]*linearIndex
	opened  map[uint32]*openedDir // see rememberDir
	Now     time.Time
	Relinks []Relinked
	// Allocated lists blocks this plan takes from the free pool.
	Allocated []uint64
	// Ordered is set when the filesystem has no internal journal to commit
	// through: Commit then writes in crash-safe steps (see commitOrdered),
	// which rules out changes that allocate blocks.
	Ordered bool
	// KeepPastEOF keeps the blocks a past-eof orphan wrote past its size
	// (raising i_size) instead of freeing them.
	KeepPastEOF bool
	list        *OrphanList // the orphan list the plan started from
}

// Relinked describes one orphan the plan brings back.
type Relinked struct {
	Inode     uint32       `json:"inode"`
	Path      string       `json:"path"`
	Parent    uint32       `json:"parent"`
	Type      FileType     `json:"type"`
	Size      uint64       `json:"size"`
	Source    OrphanSource `json:"source"` // chain, orphan_file or stranded; linked when an earlier run had already linked it (AlreadyDone)
	Position  int          `json:"position,omitempty"`
	Slot      int          `json:"slot,omitempty"`
	DirChange string       `json:"dir_change"` // how the entry was added
	// AlreadyDone is set when an earlier run had already linked the name.
	AlreadyDone bool `json:"already_done,omitempty"`
	// PastEOF says what became of the blocks a past-eof orphan had written
	// past its size.
	PastEOF *PastEOF `json:"past_eof,omitempty"`
}

// Change is one block the plan writes.
type Change struct {
	Block uint64   `json:"block"`
	What  []string `json:"what"`
	Old   []byte   `json:"-"`
	New   []byte   `json:"-"`
}

// NewPlan starts an empty plan over fs.
func NewPlan(fs *FS, now time.Time) *Plan {
	sb := *fs.SB
	return &Plan{fs: fs, SB: &sb, blocks: map[uint64][]byte{}, notes: map[uint64][]string{}, Now: now, Ordered: fs.JournalFile() == nil}
}

// clone copies the plan's working superblock and blocks (not its notes).
func (p *Plan) clone() *Plan {
	q := NewPlan(p.fs, p.Now)
	*q.SB = *p.SB
	q.list = p.list
	maps.Copy(q.blocks, p.blocks)
	return q
}

// Read returns a private copy of block n as the plan has it.
func (p *Plan) Read(n uint64) ([]byte, error) {
	if b, ok := p.blocks[n]; ok {
		return bytes.Clone(b), nil
	}
	b, err := p.fs.ReadBlock(n)
	if err != nil {
		return nil, err
	}
	return bytes.Clone(b), nil
}

// view returns block n as the plan has it, for reading only: the caller
// must not modify it (nor keep it past the next Write of the block).
func (p *Plan) view(n uint64) ([]byte, error) {
	if b, ok := p.blocks[n]; ok {
		return b, nil
	}
	return p.fs.ReadBlock(n)
}

// Write records the new content of block n and why it changes.
func (p *Plan) Write(n uint64, data []byte, note string) {
	p.put(n, bytes.Clone(data), note)
}

// put is Write of a block the caller gives up (a private copy).
func (p *Plan) put(n uint64, data []byte, note string) {
	p.blocks[n] = data
	if _, dup := p.noted[blockNote{n, note}]; note != "" && !dup {
		p.appendNote(n, note)
	}
	p.dirWritten(n)
}

// appendNote adds a note to block n's list, even if it is there already.
func (p *Plan) appendNote(n uint64, note string) {
	if p.noted == nil {
		p.noted = map[blockNote]struct{}{}
	}
	p.noted[blockNote{n, note}] = struct{}{}
	p.notes[n] = append(p.notes[n], note)
}

// blockNote is one note of one block (Write records each once).
type blockNote struct {
	blk  uint64
	note string
}

// Inode reads inode ino through the plan and validates it.
func (p *Plan) Inode(ino uint32) (*inode.Inode, InodeLoc, error) {
	loc, err := p.fs.InodeLocation(ino)
	if err != nil {
		return nil, loc, err
	}
	in, err := p.fs.ReadInodeAt(ino, loc, p.view) // the decoded inode is a copy
	return in, loc, err
}

// PutInode stores inode ino (checksum recomputed) into its table block.
func (p *Plan) PutInode(ino uint32, in *inode.Inode, note string) error {
	loc, err := p.fs.InodeLocation(ino)
	if err != nil {
		return err
	}
	in.SetChecksum(p.SB, ino)
	b, err := p.Read(loc.Block)
	if err != nil {
		return err
	}
	copy(b[loc.Off:], in.Encode())
	p.put(loc.Block, b, fmt.Sprintf("inode %d: %s", ino, note))
	return nil
}

// GroupDesc reads group g's descriptor through the plan.
func (p *Plan) GroupDesc(g uint64) (*super.GroupDesc, error) {
	if _, err := p.fs.GroupDesc(g); err != nil { // validates the on-disk (replayed) copy once
		return nil, err
	}
	blk, off := p.SB.DescLocation(g)
	b, err := p.view(blk)
	if err != nil {
		return nil, err
	}
	return super.DecodeGroupDesc(b[off : off+p.SB.DescSizeBytes()]) // a copy
}

// putGroupDesc stores group g's descriptor (checksum recomputed).
func (p *Plan) putGroupDesc(g uint64, gd *super.GroupDesc, note string) error {
	gd.SetChecksum(p.SB, uint32(g))
	blk, off := p.SB.DescLocation(g)
	b, err := p.Read(blk)
	if err != nil {
		return err
	}
	copy(b[off:], gd.Encode())
	p.put(blk, b, fmt.Sprintf("group descriptor %d: %s", g, note))
	return nil
}

// ReadMap maps inode ino's blocks through the plan (tree blocks included).
func (p *Plan) ReadMap(ino uint32, in *inode.Inode) (*inode.BlockMap, error) {
	return inode.MapInode(in, p.fs.InodeFS(), ino, p.view) // reads tree blocks, keeps none
}

// blockBitmap loads group g's block bitmap through the plan, verified: a
// private copy, to be changed and written.
func (p *Plan) blockBitmap(g uint64) (*bitmap.Group, error) { return p.loadBlockBitmap(g, p.Read) }

// blockBitmapView is blockBitmap for reading only: the bitmap is the
// plan's own block, not to be modified.
func (p *Plan) blockBitmapView(g uint64) (*bitmap.Group, error) { return p.loadBlockBitmap(g, p.view) }

func (p *Plan) loadBlockBitmap(g uint64, read func(uint64) ([]byte, error)) (*bitmap.Group, error) {
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
func (p *Plan) BlockInUse(b uint64) (bool, error) {
	g, idx := p.SB.GroupOfBlock(b)
	grp, err := p.blockBitmapView(g)
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
func (p *Plan) AllocBlock(goal uint64, why string) (uint64, error) {
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

func (p *Plan) allocIn(g uint64, goal uint64) (uint64, bool, error) {
	gd, err := p.GroupDesc(g)
	if err != nil {
		return 0, false, err
	}
	if gd.FreeBlocksCount() == 0 || p.SB.BlockUninit(gd) {
		return 0, false, nil
	}
	grp, err := p.blockBitmap(g)
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
	return blk, true, p.putGroupDesc(g, grp.Desc, "one block fewer free, bitmap checksum")
}

// finish settles the superblock's free counts and encodes it into its
// block (checksum set).
func (p *Plan) finish(notes ...string) error {
	if err := p.recount(); err != nil {
		return err
	}
	if err := p.encodeSuper(); err != nil {
		return err
	}
	blk, _ := p.fs.SuperblockLocation()
	for _, n := range notes {
		p.Write(blk, p.blocks[blk], "superblock: "+n)
	}
	return nil
}

// encodeSuper stores the working superblock (checksum set) into its block.
func (p *Plan) encodeSuper() error {
	blk, off := p.fs.SuperblockLocation()
	b, err := p.Read(blk)
	if err != nil {
		return err
	}
	p.SB.SetChecksum()
	copy(b[off:], p.SB.Encode())
	p.Write(blk, b, "")
	return nil
}

// Changes lists the blocks the plan writes, in block order, with their old
// (replayed) and new contents. Blocks whose content did not change are left out.
func (p *Plan) Changes() ([]Change, error) {
	var out []Change
	for _, n := range slices.Sorted(maps.Keys(p.blocks)) {
		old, err := p.fs.ReadBlock(n)
		if err != nil {
			return nil, err
		}
		if bytes.Equal(old, p.blocks[n]) {
			continue
		}
		out = append(out, Change{Block: n, What: p.notes[n], Old: old, New: p.blocks[n]})
	}
	return out, nil
}

// recountLimit: group descriptor tables up to this size are always summed.
const recountLimit = 1 << 20

// recount sets s_free_blocks_count and s_free_inodes_count to the sums of
// the group descriptors, as the kernel computes them at mount and e2fsck
// checks them. A running kernel leaves them stale on disk, so a crash image
// (journal recovery was needed) always gets them recounted; a cleanly
// unmounted or frozen filesystem has them right, and on one whose
// descriptor table is larger than 1 MiB they are only adjusted by this
// plan's own allocations, to keep the reads small.
func (p *Plan) recount() error {
	n := p.SB.GroupCount()
	if !p.fs.Journal.NeedsRecovery && n*uint64(p.SB.DescSizeBytes()) > recountLimit {
		return nil
	}
	var blocks, inodes uint64
	for g := range n {
		gd, err := p.GroupDesc(g)
		if err != nil {
			return err
		}
		blocks += uint64(gd.FreeBlocksCount())
		inodes += uint64(gd.FreeInodesCount())
	}
	blocks <<= p.SB.ClusterBits()
	if blocks != p.SB.FreeBlocksCount() || inodes != uint64(p.SB.FreeInodesCount) {
		p.fs.noteSB(p, fmt.Sprintf("free counts recounted from the group descriptors: blocks %d -> %d, inodes %d -> %d",
			p.SB.FreeBlocksCount(), blocks, p.SB.FreeInodesCount, inodes))
		p.SB.SetFreeBlocksCount(blocks)
		p.SB.FreeInodesCount = uint32(inodes)
	}
	return nil
}
