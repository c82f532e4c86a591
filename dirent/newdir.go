package dirent

import (
	"fmt"

	"github.com/ext4relink/ext4relink/internal/layout"

	"github.com/ext4relink/ext4relink/super"
)

// NewDirBlock0 returns the first (and only) block of a new, empty directory
// as ext4_init_new_dir makes it: '.' (dirIno) as a 12-byte record, '..'
// (parent) spanning the rest of the block, and under metadata_csum the tail
// with its checksum (p.Seed must be the new directory's seed).
func NewDirBlock0(dirIno, parent uint32, p Params) ([]byte, error) {
	if err := p.check("directory block"); err != nil {
		return nil, err
	}
	for _, ino := range []uint32{dirIno, parent} {
		if ino == 0 || ino > p.InodesCount {
			return nil, super.Errorf(super.ErrCorrupt, "new directory", super.NoBlock, -1, "inode %d is out of range", ino)
		}
	}
	ft := uint8(FtUnknown)
	if p.FileType {
		ft = FtDir
	}
	b := make([]byte, p.BlockSize)
	putHeader(b, dirIno, 0, 1, ft)
	setRecLen(b, RecLen(1), p.BlockSize)
	b[HeaderSize] = '.'
	dd := RecLen(1)
	putHeader(b[dd:], parent, 0, 2, ft)
	setRecLen(b[dd:], p.BlockSize-p.csumSize()-dd, p.BlockSize)
	copy(b[dd+HeaderSize:], "..")
	if p.Csum {
		putTail(b)
	}
	if err := SetLeafChecksum(b, p); err != nil {
		return nil, err
	}
	if err := ValidateLeaf(b, p); err != nil {
		return nil, fmt.Errorf("dirent: internal error, NewDirBlock0 produced an invalid block: %w", err)
	}
	return b, CheckDots(b, dirIno)
}

// DotDot returns the inode ".." names in block 0 (checked with CheckDots).
func DotDot(block0 []byte) uint32 {
	if len(block0) < dotDotOff+HeaderSize {
		return 0
	}
	var e Entry
	layout.Decode(block0[dotDotOff:dotDotOff+HeaderSize], e.fields())
	return e.Inode
}
