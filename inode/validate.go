package inode

import (
	"github.com/ext4relink/ext4relink/super"
)

// Validate checks an in-use inode the way the kernel's __ext4_iget does
// before it trusts one: the record size, i_extra_isize (128+extra within
// the inode, a multiple of 4), the checksum, flags that need a feature the
// filesystem lacks or contradict each other, i_size, the extended
// attribute block, the in-inode attributes and inline data, and the root
// of the block map (extent root header, or that every i_block pointer lies
// in the filesystem). It does not read any block and does not judge
// i_links_count or i_dtime: orphans legitimately have 0 links.
func (i *Inode) Validate(fs FS, ino uint32) error {
	bad := func(sentinel error, format string, args ...any) error {
		return inodeErr(sentinel, ino, format, args...)
	}
	if len(i.Raw) != int(fs.InodeSize) || len(i.Raw) < GoodOldSize {
		return bad(super.ErrCorrupt, "record is %d bytes, s_inode_size is %d", len(i.Raw), fs.InodeSize)
	}
	if len(i.Raw) > GoodOldSize && (GoodOldSize+int(i.ExtraIsize) > len(i.Raw) || i.ExtraIsize&3 != 0) {
		return bad(super.ErrCorrupt, "bad i_extra_isize %d (inode size %d)", i.ExtraIsize, len(i.Raw))
	}
	if fs.MetadataCsum {
		if c := i.Checksum(fs.CsumSeed, ino); c != i.StoredChecksum() {
			return bad(super.ErrChecksum, "checksum %#x does not match (computed %#x)", i.StoredChecksum(), c)
		}
	}
	if err := i.validateFlags(fs, bad); err != nil {
		return err
	}
	if int64(i.Size()) < 0 {
		return bad(super.ErrCorrupt, "bad i_size %d", i.Size())
	}
	if acl := i.FileACL(fs.Bit64); acl != 0 && (acl < fs.FirstDataBlock || acl >= fs.BlocksCount) {
		return bad(super.ErrCorrupt, "bad extended attribute block %d", acl)
	}
	if _, err := i.Xattrs(ino); err != nil {
		return err
	}
	return i.validateData(fs, ino, bad)
}

func (i *Inode) validateFlags(fs FS, bad func(error, string, ...any) error) error {
	switch {
	case i.Flags&CasefoldFl != 0 && !fs.Casefold:
		return bad(super.ErrCorrupt, "casefold flag without the casefold feature")
	case i.Flags&InlineDataFl != 0 && !fs.InlineData:
		return bad(super.ErrCorrupt, "inline data flag without the inline_data feature")
	case i.Flags&ExtentsFl != 0 && i.Flags&InlineDataFl != 0:
		return bad(super.ErrCorrupt, "both the extents and the inline data flags are set")
	case i.Flags&ExtentsFl != 0 && !fs.Extents:
		return bad(super.ErrCorrupt, "extents flag without the extent feature")
	case i.Flags&EncryptFl != 0 && !fs.Encrypt:
		return bad(super.ErrCorrupt, "encrypt flag without the encrypt feature")
	case i.Flags&VerityFl != 0 && !fs.Verity:
		return bad(super.ErrCorrupt, "verity flag without the verity feature")
	case i.Flags&EAInodeFl != 0 && !fs.EAInode:
		return bad(super.ErrCorrupt, "EA inode flag without the ea_inode feature")
	case i.Type() == ModeLnk && i.Flags&(ImmutableFl|AppendFl) != 0:
		return bad(super.ErrCorrupt, "immutable or append flags on a symbolic link")
	}
	return nil
}

// validateData checks what the data of the inode's format allows without
// reading blocks.
func (i *Inode) validateData(fs FS, ino uint32, bad func(error, string, ...any) error) error {
	switch Format(i, fs) {
	case FormatInline:
		if _, err := ReadInline(i, ino); err != nil {
			return err
		}
	case FormatFastSymlink:
		if s := i.Size(); s == 0 || s >= BlockBytes || i.Block[s] != 0 {
			return bad(super.ErrCorrupt, "invalid fast symlink length %d", s)
		}
	case FormatExtents:
		p := fs.Params(ino, i)
		if err := p.check(); err != nil {
			return err
		}
		if _, err := DecodeExtentRoot(i.Block[:], p); err != nil {
			return err
		}
	case FormatIndirect:
		for k, b := range IBlockWords(i.Block[:]) {
			if b != 0 && (uint64(b) < fs.FirstDataBlock || uint64(b) >= fs.BlocksCount) {
				return bad(super.ErrCorrupt, "i_block[%d] = %d is outside the filesystem", k, b)
			}
		}
	}
	return nil
}
