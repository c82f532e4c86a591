package dirent

import (
	"bytes"
	"encoding/binary"

	"github.com/ext4relink/ext4relink/super"
)

// RemoveEntry removes the used record named name from a validated run of
// records (a leaf's LeafSpace, or an inline directory's region), in place,
// as ext4_generic_delete_entry does: the previous record absorbs it, or,
// first in the run, its inode is set to 0 (unused). Before changing
// anything it calls accept with the record found; an error from accept is
// returned and nothing changes. It reports whether the name was there.
// Checksums are the caller's.
func RemoveEntry(space, name []byte, p Params, accept func(Entry) error) (bool, error) {
	prev := -1
	var hit *Entry
	err := Walk(space, p, func(e Entry) bool {
		if e.Used() && bytes.Equal(e.Name, name) {
			hit = &e
			return false
		}
		prev = e.Off
		return true
	})
	if err != nil || hit == nil {
		return false, err
	}
	if err := accept(*hit); err != nil {
		return false, err
	}
	if prev < 0 {
		binary.LittleEndian.PutUint32(space[hit.Off:], 0)
		return true, nil
	}
	size := recLenAt(space, prev, p.BlockSize) + hit.Size(p.BlockSize)
	if _, ok := RecLenToDisk(size, p.BlockSize); !ok {
		return false, super.Errorf(super.ErrCorrupt, "directory entry", super.NoBlock, int64(prev), "merged record length %d is invalid", size)
	}
	setRecLen(space[prev:], size, p.BlockSize)
	return true, nil
}
