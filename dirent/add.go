package dirent

import (
	"bytes"
	"fmt"

	"github.com/ext4relink/ext4relink/super"
)

// NewEntry is the record a relink adds: a name for an inode.
type NewEntry struct {
	Name     []byte
	Inode    uint32
	FileType uint8 // EXT4_FT_*; stored only with INCOMPAT_FILETYPE
}

// check refuses a name or inode the kernel would never put in a directory.
func (n NewEntry) check(p Params) error {
	if err := p.checkNames("directory entry"); err != nil {
		return err
	}
	if err := CheckName(n.Name); err != nil {
		return err
	}
	if n.Inode == 0 || n.Inode > p.InodesCount {
		return super.Errorf(super.ErrCorrupt, "directory entry", super.NoBlock, -1, "inode %d is not between 1 and s_inodes_count %d", n.Inode, p.InodesCount)
	}
	if n.FileType >= FtMax {
		return super.Errorf(super.ErrCorrupt, "directory entry", super.NoBlock, -1, "file type %d is unknown", n.FileType)
	}
	return nil
}

// Check refuses an entry AddEntry would refuse whatever the block: a name
// or inode the kernel would never put in a directory, or a directory whose
// names dirent cannot compare (encrypted, casefold).
func (n NewEntry) Check(p Params) error { return n.check(p) }

// fileType is what ext4_set_de_type stores: the type with the filetype feature, else 0.
func (n NewEntry) fileType(p Params) uint8 {
	if p.FileType {
		return n.FileType
	}
	return FtUnknown
}

// findDest is ext4_find_dest_de over a validated space: the offset of the
// first record whose free room (all of it when unused, the slack after its
// name when used) holds a record for a name of nameLen bytes.
func findDest(space []byte, nameLen int, p Params) (int, error) {
	need := RecLen(nameLen)
	for off := 0; off+need <= len(space); {
		rlen := recLenAt(space, off, p.BlockSize)
		free := rlen
		if le32(space, off) != 0 {
			free -= RecLen(int(space[off+6]))
		}
		if free >= need {
			return off, nil
		}
		off += rlen
	}
	return 0, ErrNoSpace
}

// AddEntry adds a record for n to a linear directory block or htree leaf,
// as the kernel's add_dirent_to_buf: the first record with room is split
// (ext4_find_dest_de, ext4_insert_dentry) and the tail checksum recomputed.
// The block is validated (records and checksum) first and the result again
// before it is returned; block itself is not modified. It returns ErrExist
// when the block already holds the name (other blocks of the directory are
// the caller's to search, with Lookup or FindIndexed) and ErrNoSpace when no
// record has room.
func AddEntry(block []byte, n NewEntry, p Params) ([]byte, error) {
	if err := n.check(p); err != nil {
		return nil, err
	}
	if err := ValidateLeaf(block, p); err != nil {
		return nil, err
	}
	out := bytes.Clone(block)
	if err := addToLeaf(out, n, p); err != nil {
		return nil, err
	}
	if err := ValidateLeaf(out, p); err != nil {
		return nil, fmt.Errorf("dirent: internal error, AddEntry produced an invalid block: %w", err)
	}
	return out, nil
}

// addToLeaf inserts n into a validated leaf in place and sets its checksum.
func addToLeaf(leaf []byte, n NewEntry, p Params) error {
	space, err := LeafSpace(leaf, p)
	if err != nil {
		return err
	}
	if _, found, err := Lookup(space, n.Name, p); err != nil || found {
		if found {
			return ErrExist
		}
		return err
	}
	off, err := findDest(space, len(n.Name), p)
	if err != nil {
		return err
	}
	insertDentry(space, off, n, p)
	return SetLeafChecksum(leaf, p)
}

// insertDentry is ext4_insert_dentry: it writes the new record into the
// record at off, splitting off the used record's slack first.
func insertDentry(space []byte, off int, n NewEntry, p Params) {
	if le32(space, off) != 0 {
		nlen := RecLen(int(space[off+6]))
		rlen := recLenAt(space, off, p.BlockSize)
		setRecLen(space[off+nlen:], rlen-nlen, p.BlockSize)
		setRecLen(space[off:], nlen, p.BlockSize)
		off += nlen
	}
	rlen := recLenAt(space, off, p.BlockSize)
	putHeader(space[off:], n.Inode, 0, uint8(len(n.Name)), n.fileType(p))
	setRecLen(space[off:], rlen, p.BlockSize)
	copy(space[off+HeaderSize:], n.Name)
}

// NewDirBlock returns a block for a directory that grows by one block, as
// ext4_add_entry makes it before adding to it: one unused record spanning
// the block and, under metadata_csum, an initialised tail with its checksum.
// Add the entry with AddEntry.
func NewDirBlock(p Params) ([]byte, error) {
	if err := p.check("directory block"); err != nil {
		return nil, err
	}
	b := make([]byte, p.BlockSize)
	setRecLen(b, p.BlockSize-p.csumSize(), p.BlockSize)
	if p.Csum {
		putTail(b)
		if err := SetLeafChecksum(b, p); err != nil {
			return nil, err
		}
	}
	return b, nil
}
