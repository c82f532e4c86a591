package engine

import (
	"fmt"
	"slices"

	"github.com/ext4relink/ext4relink/super"
)

// unlist takes every relinked inode off the orphan chain and out of the
// orphan file, leaving every other orphan where it was.
func (p *Plan) unlist(l *OrphanList) error {
	gone := map[uint32]bool{}
	for _, r := range p.Relinks {
		if !r.AlreadyDone {
			gone[r.Inode] = true
		}
	}
	if len(gone) == 0 {
		return nil
	}
	var chain, file []Orphan
	for _, o := range l.Orphans {
		switch o.Source {
		case SourceChain:
			chain = append(chain, o)
		case SourceOrphanFile:
			file = append(file, o)
		} // SourceStranded: on no list any more, nothing to take it off
	}
	if err := p.unchain(chain, gone); err != nil {
		return err
	}
	return p.clearSlots(file, gone)
}

// unchain rewrites the chain's links so that it skips the removed inodes:
// each kept orphan (or the superblock, for the head) points to the next
// kept one, and whatever the last listed orphan pointed to is preserved.
func (p *Plan) unchain(chain []Orphan, gone map[uint32]bool) error {
	if len(chain) == 0 {
		return nil
	}
	owner := uint32(0) // 0: the superblock's s_last_orphan
	for _, o := range chain {
		if gone[o.Inode] {
			continue
		}
		if err := p.setNext(owner, o.Inode); err != nil {
			return err
		}
		owner = o.Inode
	}
	last := chain[len(chain)-1]
	if gone[last.Inode] {
		return p.setNext(owner, last.Next)
	}
	return nil
}

// setNext makes owner (0 for the superblock) point at next.
func (p *Plan) setNext(owner, next uint32) error {
	if owner == 0 {
		if p.SB.LastOrphan != next {
			p.NoteSB(fmt.Sprintf("s_last_orphan %d -> %d", p.SB.LastOrphan, next))
			p.SB.LastOrphan = next
		}
		return nil
	}
	in, _, err := p.Inode(owner)
	if err != nil {
		return err
	}
	if in.Dtime == next {
		return nil
	}
	old := in.Dtime
	in.Dtime = next
	return p.PutInode(owner, in, fmt.Sprintf("orphan chain link (i_dtime) %d -> %d", old, next))
}

// clearSlots empties the orphan-file slots of removed inodes, re-checksums
// the blocks, and clears orphan_present when the file is left empty.
func (p *Plan) clearSlots(file []Orphan, gone map[uint32]bool) error {
	blocks, err := p.fs.OrphanFile()
	if err != nil || len(blocks) == 0 {
		return err
	}
	per := super.OrphanSlotsPerBlock(p.fs.BlockSize())
	of, _, err := p.Inode(p.SB.OrphanFileInum)
	if err != nil {
		return err
	}
	seed := of.Seed(p.SB.CsumSeed(), p.SB.OrphanFileInum)
	for _, o := range file {
		if !gone[o.Inode] {
			continue
		}
		ob := blocks[o.Slot/per]
		b, err := p.Read(ob.Physical)
		if err != nil {
			return err
		}
		dec := super.DecodeOrphanBlock(b)
		if dec.Inodes[o.Slot%per] != o.Inode {
			return fmt.Errorf("%w: orphan file slot %d holds %d, expected %d", ErrInternal, o.Slot, dec.Inodes[o.Slot%per], o.Inode)
		}
		dec.Inodes[o.Slot%per] = 0
		dec.SetChecksum(p.SB, seed, ob.Physical)
		p.Write(ob.Physical, dec.Encode(p.fs.BlockSize()), fmt.Sprintf("orphan file block %d: slot %d (inode %d) cleared, checksum", ob.Logical, o.Slot, o.Inode))
	}
	return p.maybeClearOrphanPresent(blocks)
}

// settleOrphanPresent clears orphan_present when the orphan file holds no
// inode. The kernel sets the flag while the filesystem is mounted and
// clears it at unmount when the file is empty, so every crash image of an
// orphan_file filesystem carries it; e2fsck reports "orphan_present is set
// but orphan file is clean" until it is cleared, even when no orphan was
// ever listed there.
func (p *Plan) settleOrphanPresent() error {
	if !p.SB.HasRoCompat(super.RoCompatOrphanPresent) {
		return nil
	}
	blocks, err := p.fs.OrphanFile()
	if err != nil || len(blocks) == 0 {
		return err
	}
	return p.maybeClearOrphanPresent(blocks)
}

func (p *Plan) maybeClearOrphanPresent(blocks []OrphanFileBlock) error {
	for _, ob := range blocks {
		b, err := p.Read(ob.Physical)
		if err != nil {
			return err
		}
		if slices.ContainsFunc(super.DecodeOrphanBlock(b).Inodes, func(i uint32) bool { return i != 0 }) {
			return nil
		}
	}
	if p.SB.HasRoCompat(super.RoCompatOrphanPresent) {
		p.SB.FeatureRoCompat &^= super.RoCompatOrphanPresent
		p.NoteSB("orphan_present cleared: the orphan file is empty")
	}
	return nil
}
