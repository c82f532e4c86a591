package inode

import (
	"bytes"
	"io"

	"github.com/ext4relink/ext4relink/super"
)

// MapInode returns the block map of inode in (number ino), choosing the
// format from its flags and type: an extent tree, an indirect map, or an
// empty map for inline data, fast symlinks and inodes without data
// (devices, fifos, sockets). Encrypted, verity and DAX details do not change
// the map; callers decide whether they handle such files.
func MapInode(in *Inode, fs FS, ino uint32, read ReadFunc) (*BlockMap, error) {
	switch f := Format(in, fs); f {
	case FormatExtents:
		return MapExtents(in.Block[:], fs.Params(ino, in), read)
	case FormatIndirect:
		return MapIndirect(in.Block[:], fs.Params(ino, in), read)
	default:
		return &BlockMap{Format: f}, nil
	}
}

// Format tells where the inode's data lives.
func Format(in *Inode, fs FS) MapFormat {
	switch {
	case in.HasInlineData():
		return FormatInline
	case in.IsSymlink() && IsFastSymlink(in, fs):
		return FormatFastSymlink
	case !in.IsReg() && !in.IsDir() && !in.IsSymlink():
		return FormatNone
	case in.HasExtents():
		return FormatExtents
	}
	return FormatIndirect
}

// IsFastSymlink is ext4_inode_is_fast_symlink: a symlink without inline
// data whose i_blocks counts nothing but its extended attribute block (or,
// for an EA inode, one with 0 < i_size < 60).
func IsFastSymlink(in *Inode, fs FS) bool {
	if !in.IsSymlink() {
		return false
	}
	if in.Flags&EAInodeFl != 0 {
		return in.Size() != 0 && in.Size() < BlockBytes
	}
	if in.HasInlineData() {
		return false
	}
	var ea uint64
	if in.FileACL(fs.Bit64) != 0 {
		ea = uint64(fs.clusterSize() / 512)
	}
	return in.BlocksCount(fs.HugeFile, fs.BlockSize) == ea
}

// maxFileBlocks bounds i_size: no ext4 file reaches 2^32 blocks.
const maxFileBlocks = 1 << 32

// CopyFile writes the first size bytes of the file that m maps to w,
// reading data blocks through read: holes and unwritten extents read as
// zeros, never as whatever the blocks hold, and blocks mapped past size are
// not read.
func CopyFile(w io.Writer, m *BlockMap, read ReadFunc, size uint64, blockSize uint32) error {
	p := MapParams{BlockSize: blockSize, FirstDataBlock: 0, BlocksCount: ^uint64(0)}
	if err := p.check(); err != nil {
		return err
	}
	bs := uint64(blockSize)
	if size > maxFileBlocks*bs {
		return p.errf(super.ErrCorrupt, super.NoBlock, -1, "size %d is beyond any ext4 file", size)
	}
	zero := make([]byte, bs)
	k := 0 // index of the first run that may still cover lblk
	for lblk := uint64(0); lblk*bs < size; lblk++ {
		for k < len(m.Runs) && m.Runs[k].End() <= lblk {
			k++
		}
		chunk := zero
		if k < len(m.Runs) && uint64(m.Runs[k].Logical) <= lblk && !m.Runs[k].Unwritten {
			b, err := p.read(read, m.Runs[k].Physical+lblk-uint64(m.Runs[k].Logical))
			if err != nil {
				return err
			}
			chunk = b
		}
		if _, err := w.Write(chunk[:min(bs, size-lblk*bs)]); err != nil {
			return err
		}
	}
	return nil
}

// ReadFile is CopyFile into memory.
func ReadFile(m *BlockMap, read ReadFunc, size uint64, blockSize uint32) ([]byte, error) {
	var buf bytes.Buffer
	if err := CopyFile(&buf, m, read, size, blockSize); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// ReadInline returns the content of an inline-data inode, cut to i_size.
// An i_size larger than the inline area is corruption.
func ReadInline(in *Inode, ino uint32) ([]byte, error) {
	data, err := InlineData(in, ino)
	if err != nil {
		return nil, err
	}
	if in.Size() > uint64(len(data)) {
		return nil, inodeErr(super.ErrCorrupt, ino, "i_size %d exceeds the %d bytes of inline data", in.Size(), len(data))
	}
	return data[:in.Size()], nil
}

// Content reads a regular file's (or directory's) whole content, whatever
// its format. It is meant for small files; use MapInode and CopyFile to
// stream large ones.
func Content(in *Inode, fs FS, ino uint32, read ReadFunc) ([]byte, error) {
	m, err := MapInode(in, fs, ino, read)
	if err != nil {
		return nil, err
	}
	switch m.Format {
	case FormatInline:
		return ReadInline(in, ino)
	case FormatExtents, FormatIndirect:
		return ReadFile(m, read, in.Size(), fs.BlockSize)
	}
	return nil, inodeErr(super.ErrUnsupported, ino, "a %s inode has no file content", m.Format)
}

// Symlink returns a symbolic link's target: from i_block for a fast
// symlink (checked as __ext4_iget does: 0 < i_size < 60 and a NUL right
// after the target), from the inline area, or from the first data block of
// a slow symlink. Encrypted targets are refused. A target containing a NUL
// byte, or longer than a block, is corruption.
func Symlink(in *Inode, fs FS, ino uint32, read ReadFunc) ([]byte, error) {
	if !in.IsSymlink() {
		return nil, inodeErr(super.ErrUnsupported, ino, "not a symbolic link (mode %#o)", in.Mode)
	}
	if in.Flags&EncryptFl != 0 {
		return nil, inodeErr(super.ErrUnsupported, ino, "encrypted symbolic link")
	}
	size := in.Size()
	if size == 0 || size >= uint64(fs.BlockSize) {
		return nil, inodeErr(super.ErrCorrupt, ino, "symbolic link length %d is invalid", size)
	}
	var target []byte
	var err error
	switch Format(in, fs) {
	case FormatFastSymlink:
		if size >= BlockBytes || in.Block[size] != 0 {
			return nil, inodeErr(super.ErrCorrupt, ino, "invalid fast symlink length %d", size)
		}
		target = append([]byte(nil), in.Block[:size]...)
	case FormatInline:
		target, err = ReadInline(in, ino)
	default:
		target, err = Content(in, fs, ino, read)
	}
	if err != nil {
		return nil, err
	}
	if bytes.IndexByte(target, 0) >= 0 {
		return nil, inodeErr(super.ErrCorrupt, ino, "symbolic link target contains a NUL byte")
	}
	return target, nil
}

func (fs FS) clusterSize() uint32 {
	if fs.ClusterSize != 0 {
		return fs.ClusterSize
	}
	return fs.BlockSize
}
