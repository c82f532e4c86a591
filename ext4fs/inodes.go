package ext4fs

import (
	"fmt"

	"github.com/ext4relink/ext4relink/internal/devio"

	"github.com/ext4relink/ext4relink/inode"
	"github.com/ext4relink/ext4relink/super"
)

// Reserved inode numbers (EXT4_*_INO).
const (
	RootIno    = 2
	JournalIno = 8
)

// InodeLoc is where an inode lives: block and byte offset in it.
type InodeLoc struct {
	Block uint64
	Off   uint32
}

// InodeLocation locates inode ino, refusing numbers outside [1, s_inodes_count].
func (fs *FS) InodeLocation(ino uint32) (InodeLoc, error) {
	if ino == 0 || ino > fs.SB.InodesCount {
		return InodeLoc{}, fmt.Errorf("%w: inode %d is out of range (1..%d)", devio.ErrRequest, ino, fs.SB.InodesCount)
	}
	g, _ := fs.SB.GroupOfInode(ino)
	gd, err := fs.GroupDesc(g)
	if err != nil {
		return InodeLoc{}, err
	}
	blk, off := fs.SB.InodeLocation(ino, gd.InodeTable())
	return InodeLoc{blk, off}, nil
}

// InodeFS gives the inode codecs the filesystem facts they need.
func (fs *FS) InodeFS() inode.FS { return inode.NewFS(fs.SB) }

// ReadInode reads inode ino through the journal overlay and validates it
// (record size, checksum, flags, block-map root) as the kernel's iget would.
func (fs *FS) ReadInode(ino uint32) (*inode.Inode, InodeLoc, error) {
	loc, err := fs.InodeLocation(ino)
	if err != nil {
		return nil, loc, err
	}
	in, err := fs.ReadInodeAt(ino, loc, fs.ReadBlock)
	return in, loc, err
}

// ReadInodeAt decodes and validates inode ino at loc, reading its table
// block with read (a view, or a Tx's pending changes).
func (fs *FS) ReadInodeAt(ino uint32, loc InodeLoc, read func(uint64) ([]byte, error)) (*inode.Inode, error) {
	b, err := read(loc.Block)
	if err != nil {
		return nil, err
	}
	isz := fs.SB.InodeSizeBytes()
	in, err := inode.Decode(b[loc.Off : loc.Off+isz])
	if err != nil {
		return nil, locate(err, loc)
	}
	if err := in.Validate(fs.InodeFS(), ino); err != nil {
		return nil, locate(err, loc)
	}
	return in, nil
}

// locate fills in the block and offset of a FormatError that lacks them.
func locate(err error, loc InodeLoc) error {
	if fe, ok := err.(*super.FormatError); ok && fe.Block == super.NoBlock {
		c := *fe
		c.Block, c.Offset = loc.Block, int64(loc.Off)
		return &c
	}
	return err
}

// BlockMap maps the blocks of inode ino (extent tree or indirect blocks),
// verifying every tree block it reads.
func (fs *FS) BlockMap(ino uint32, in *inode.Inode) (*inode.BlockMap, error) {
	return inode.MapInode(in, fs.InodeFS(), ino, fs.ReadBlock)
}
