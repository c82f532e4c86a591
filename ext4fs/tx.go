package ext4fs

import (
	"bytes"
	"fmt"
	"maps"
	"slices"

	"github.com/ext4relink/ext4relink/inode"
	"github.com/ext4relink/ext4relink/super"
)

// Tx is a set of whole-block changes computed in memory, each with the
// notes that say why, on top of a read view: the pending-changes layer of
// the stack. Every read through it sees the changes made so far (an inode
// table block holding two edited inodes is changed once, with both
// edits). It owns the working copy of the superblock, the one allocator
// (alloc.go) and the directory operations (dir.go, dirins.go). Nothing is
// written: the engine's Commit writes Changes.
type Tx struct {
	fs     *FS
	SB     *super.Superblock // working copy of the view's superblock
	blocks map[uint64][]byte
	notes  map[uint64][]string
	noted  map[blockNote]struct{} // every (block, note) in notes
	// dirIdx holds what the linear directories looked up or added to so
	// far contain (see linearIndex).
	dirIdx map[uint32]*linearIndex
	opened map[uint32]*openedDir // see rememberDir
	// Allocated lists blocks this transaction takes from the free pool.
	Allocated []uint64
}

// Change is one block the transaction writes.
type Change struct {
	Block uint64
	What  []string
	Old   []byte
	New   []byte
}

// NewTx starts an empty transaction over the view fs.
func NewTx(fs *FS) *Tx {
	sb := *fs.SB
	return &Tx{fs: fs, SB: &sb, blocks: map[uint64][]byte{}, notes: map[uint64][]string{}}
}

// FS is the view the transaction reads through.
func (p *Tx) FS() *FS { return p.fs }

// Clone copies the transaction's working superblock and blocks (not its
// notes, nor its directory caches).
func (p *Tx) Clone() *Tx {
	q := NewTx(p.fs)
	*q.SB = *p.SB
	maps.Copy(q.blocks, p.blocks)
	return q
}

// Blocks is the transaction's changed blocks, by number (not to be modified).
func (p *Tx) Blocks() map[uint64][]byte { return p.blocks }

// Drop forgets the change to block n.
func (p *Tx) Drop(n uint64) { delete(p.blocks, n) }

// ReadBlock is View: block n through the transaction, for reading only
// (so that a Tx is a Reader, like the view under it).
func (p *Tx) ReadBlock(n uint64) ([]byte, error) { return p.View(n) }

// Read returns a private copy of block n as the transaction has it.
func (p *Tx) Read(n uint64) ([]byte, error) {
	if b, ok := p.blocks[n]; ok {
		return bytes.Clone(b), nil
	}
	b, err := p.fs.ReadBlock(n)
	if err != nil {
		return nil, err
	}
	return bytes.Clone(b), nil
}

// View returns block n as the transaction has it, for reading only: the caller
// must not modify it (nor keep it past the next Write of the block).
func (p *Tx) View(n uint64) ([]byte, error) {
	if b, ok := p.blocks[n]; ok {
		return b, nil
	}
	return p.fs.ReadBlock(n)
}

// Write records the new content of block n and why it changes.
func (p *Tx) Write(n uint64, data []byte, note string) {
	p.Put(n, bytes.Clone(data), note)
}

// Put is Write of a block the caller gives up (a private copy).
func (p *Tx) Put(n uint64, data []byte, note string) {
	p.blocks[n] = data
	if _, dup := p.noted[blockNote{n, note}]; note != "" && !dup {
		p.AppendNote(n, note)
	}
	p.dirWritten(n)
}

// AppendNote adds a note to block n's list, even if it is there already.
func (p *Tx) AppendNote(n uint64, note string) {
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

// Inode reads inode ino through the transaction and validates it.
func (p *Tx) Inode(ino uint32) (*inode.Inode, InodeLoc, error) {
	loc, err := p.fs.InodeLocation(ino)
	if err != nil {
		return nil, loc, err
	}
	in, err := p.fs.ReadInodeAt(ino, loc, p.View) // the decoded inode is a copy
	return in, loc, err
}

// PutInode stores inode ino (checksum recomputed) into its table block.
func (p *Tx) PutInode(ino uint32, in *inode.Inode, note string) error {
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
	p.Put(loc.Block, b, fmt.Sprintf("inode %d: %s", ino, note))
	return nil
}

// GroupDesc reads group g's descriptor through the transaction.
func (p *Tx) GroupDesc(g uint64) (*super.GroupDesc, error) {
	if _, err := p.fs.GroupDesc(g); err != nil { // validates the on-disk (replayed) copy once
		return nil, err
	}
	blk, off := p.SB.DescLocation(g)
	b, err := p.View(blk)
	if err != nil {
		return nil, err
	}
	return super.DecodeGroupDesc(b[off : off+p.SB.DescSizeBytes()]) // a copy
}

// PutGroupDesc stores group g's descriptor (checksum recomputed).
func (p *Tx) PutGroupDesc(g uint64, gd *super.GroupDesc, note string) error {
	gd.SetChecksum(p.SB, uint32(g))
	blk, off := p.SB.DescLocation(g)
	b, err := p.Read(blk)
	if err != nil {
		return err
	}
	copy(b[off:], gd.Encode())
	p.Put(blk, b, fmt.Sprintf("group descriptor %d: %s", g, note))
	return nil
}

// ReadMap maps inode ino's blocks through the transaction (tree blocks included).
func (p *Tx) ReadMap(ino uint32, in *inode.Inode) (*inode.BlockMap, error) {
	return inode.MapInode(in, p.fs.InodeFS(), ino, p.View) // reads tree blocks, keeps none
}

// Finish settles the superblock's free counts and encodes it into its
// block (checksum set).
func (p *Tx) Finish(notes ...string) error {
	if err := p.recount(); err != nil {
		return err
	}
	if err := p.EncodeSuper(); err != nil {
		return err
	}
	blk, _ := p.fs.SuperblockLocation()
	for _, n := range notes {
		p.Write(blk, p.blocks[blk], "superblock: "+n)
	}
	return nil
}

// EncodeSuper stores the working superblock (checksum set) into its block.
func (p *Tx) EncodeSuper() error {
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

// Changes lists the blocks the transaction writes, in block order, with their old
// (replayed) and new contents. Blocks whose content did not change are left out.
func (p *Tx) Changes() ([]Change, error) {
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

// NoteSB records a superblock change note for the listing.
func (p *Tx) NoteSB(note string) {
	blk, _ := p.fs.SuperblockLocation()
	p.AppendNote(blk, "superblock: "+note)
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
func (p *Tx) recount() error {
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
		p.NoteSB(fmt.Sprintf("free counts recounted from the group descriptors: blocks %d -> %d, inodes %d -> %d",
			p.SB.FreeBlocksCount(), blocks, p.SB.FreeInodesCount, inodes))
		p.SB.SetFreeBlocksCount(blocks)
		p.SB.FreeInodesCount = uint32(inodes)
	}
	return nil
}
