package engine

import (
	"fmt"

	"github.com/ext4relink/ext4relink/bitmap"
	"github.com/ext4relink/ext4relink/dirent"
	"github.com/ext4relink/ext4relink/super"
)

// countReferences counts, over every directory of the filesystem, the
// entries that name each of the target inodes ('.' and '..' excluded). It
// reads every in-use inode and every directory block, as e2fsck's passes 1
// and 2 do, so it is only used where nothing cheaper can tell an
// interrupted ordered relink from a real truncate in progress (see
// resumable). Any structure that fails validation stops the scan: a count
// that might be short is worse than none.
func (p *Plan) countReferences(targets map[uint32]bool) (map[uint32]int, error) {
	refs := map[uint32]int{}
	ipg := p.SB.InodesPerGroup
	for g := range p.SB.GroupCount() {
		gd, err := p.GroupDesc(g)
		if err != nil {
			return nil, err
		}
		if p.SB.InodeUninit(gd) {
			continue
		}
		bm, err := p.Read(gd.InodeBitmap())
		if err != nil {
			return nil, err
		}
		if !bitmap.VerifyInodeBitmap(p.SB, gd, bm) {
			return nil, super.Errorf(super.ErrChecksum, fmt.Sprintf("inode bitmap of group %d", g), gd.InodeBitmap(), -1, "checksum does not match the group descriptor's")
		}
		for i := range ipg {
			if !bitmap.Test(bm, uint64(i)) {
				continue
			}
			ino := uint32(g)*ipg + i + 1
			if err := p.countIn(ino, targets, refs); err != nil {
				return nil, err
			}
		}
	}
	return refs, nil
}

// countIn adds the references directory ino (if it is one) holds.
func (p *Plan) countIn(ino uint32, targets map[uint32]bool, refs map[uint32]int) error {
	in, _, err := p.Inode(ino)
	if err != nil {
		return fmt.Errorf("scanning every directory for links: %w", err)
	}
	if !in.IsDir() || in.LinksCount == 0 {
		return nil
	}
	d, err := p.OpenDir(ino)
	if err != nil {
		return fmt.Errorf("scanning every directory for links: %w", err)
	}
	return p.eachEntry(d, func(e dirent.Entry) {
		if targets[e.Inode] && !isDot(e.Name) {
			refs[e.Inode]++
		}
	})
}

func isDot(name []byte) bool {
	return string(name) == "." || string(name) == ".."
}
