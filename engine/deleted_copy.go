package engine

import (
	"io"

	"github.com/ext4relink/ext4relink/inode"
	"github.com/ext4relink/ext4relink/super"
)

// CopyDeleted writes the content of deleted file d to w: its data blocks
// through its journal-recovered map (holes and unwritten extents as
// zeros), the inline data or the fast symlink's target from the inode
// copy itself. A file whose map could not be recovered is refused.
func (fs *FS) CopyDeleted(w io.Writer, d *DeletedFile) error {
	in := d.live
	size := in.Size()
	if d.bmap == nil {
		return super.Errorf(super.ErrCorrupt, "deleted inode", super.NoBlock, -1,
			"inode %d: %s", d.Inode, d.Reason)
	}
	switch d.bmap.Format {
	case inode.FormatInline:
		data, err := inode.InlineData(in, d.Inode)
		if err != nil {
			return err
		}
		return writeUpTo(w, data, size)
	case inode.FormatFastSymlink:
		return writeUpTo(w, in.Block[:], size)
	case inode.FormatNone:
		return nil
	}
	return inode.CopyFile(w, d.bmap, fs.ReadBlock, size, fs.BlockSize())
}

func writeUpTo(w io.Writer, data []byte, size uint64) error {
	if size > uint64(len(data)) {
		return super.Errorf(super.ErrCorrupt, "deleted inode", super.NoBlock, -1,
			"i_size %d is larger than the %d bytes held in the inode", size, len(data))
	}
	_, err := w.Write(data[:size])
	return err
}
