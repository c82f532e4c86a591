package engine

import (
	"errors"
	"fmt"

	"github.com/ext4relink/ext4relink/super"
)

// A damaged orphan list (a chain that loops or links out of range, an
// orphan-file slot holding an impossible inode number) no longer blocks
// every relink. What the walk could read is intact: the chain members up
// to the damaged link, the orphan file's other slots. A relink writes
// those, and cuts the damage cleanly: the damaged link becomes 0 (the
// chain ends at the last member read) and an impossible slot is emptied.
//
// Cutting loses nothing that was not already lost. The kernel's orphan
// cleanup stops at the same link (ext4_orphan_get fails: it drops the
// rest of the list), and e2fsck frees whatever lies behind it either way,
// since nothing it can follow leads there. What lies behind is on no list
// before and after the cut, with its own fields unchanged, so list --scan
// finds it just as well afterwards. That is why --all on a damaged list
// wants --scan: without it, --all would silently leave out the orphans
// behind the damage.

// chainDamage says whether the chain walk stopped at a damaged link (not
// at its natural end) and whose link it is: owner is the last member read,
// or 0 for the superblock's s_last_orphan. After a scan, an unreadable
// member (its own link unknown) counts as damage too: the link to it is
// cut, and what lay behind it is the scan's. Without a scan it is left
// listed (--all refuses; see relinkAll).
func (fs *FS) chainDamage(l *OrphanList) (owner, link uint32, damaged bool) {
	var chain []Orphan
	for _, o := range l.Orphans {
		if o.Source == SourceChain {
			chain = append(chain, o)
		}
	}
	if len(chain) == 0 {
		return 0, fs.SB.LastOrphan, fs.SB.LastOrphan != 0
	}
	last := chain[len(chain)-1]
	if last.Problem == "" {
		return last.Inode, last.Next, last.Next != 0
	}
	if !l.scanned {
		return 0, 0, false
	}
	if len(chain) == 1 {
		return 0, last.Inode, true
	}
	return chain[len(chain)-2].Inode, last.Inode, true
}

// checkDamage decides whether a relink may proceed on a damaged list: a
// damaged chain or orphan file is cut (cutDamage), but --all without
// --scan is refused, naming the damage.
func (fs *FS) checkDamage(l *OrphanList, req Request) error {
	if l.Damaged == nil || !req.All || req.Scan {
		return nil
	}
	var fe *super.FormatError
	if errors.As(l.Damaged, &fe) {
		return super.Errorf(super.ErrCorrupt, fe.Struct, fe.Block, fe.Offset,
			"%s; what the damaged link or slot pointed to is on no list, and --all would silently leave it out: "+
				"add --scan (--all --scan finds them by reading every inode table, relinks them and cuts the damaged link), "+
				"or relink single orphans with --inode", firstProblem(l))
	}
	return l.Damaged
}

func firstProblem(l *OrphanList) string {
	if len(l.Problems) > 0 {
		return l.Problems[0]
	}
	return "the orphan list is damaged"
}

// cutDamage ends the chain at its last member that stays listed (or
// empties s_last_orphan) when the walk stopped at a damaged link, and
// empties orphan-file slots that hold impossible inode numbers. Run after
// unlist, on the plan's view of the list.
func (p *Plan) cutDamage(l *OrphanList) error {
	if len(p.Relinks) == 0 {
		return nil // nothing else is written: neither is the cut
	}
	if _, _, damaged := p.fs.chainDamage(l); damaged {
		if err := p.cutChain(l); err != nil {
			return err
		}
	}
	return p.cutSlots()
}

// cutChain sets the link that now ends the chain to 0: that of the last
// chain member not relinked, else s_last_orphan.
func (p *Plan) cutChain(l *OrphanList) error {
	gone := map[uint32]bool{}
	for _, r := range p.Relinks {
		gone[r.Inode] = true
	}
	owner := uint32(0)
	for _, o := range l.Orphans {
		if o.Source == SourceChain && !gone[o.Inode] && o.Problem == "" {
			owner = o.Inode
		}
	}
	if owner == 0 {
		if p.SB.LastOrphan != 0 {
			p.NoteSB(fmt.Sprintf("s_last_orphan %d -> 0: the damaged orphan chain cut after its last readable member", p.SB.LastOrphan))
			p.SB.LastOrphan = 0
		}
		return nil
	}
	in, _, err := p.Inode(owner)
	if err != nil {
		return err
	}
	if in.Dtime == 0 {
		return nil
	}
	old := in.Dtime
	in.Dtime = 0
	return p.PutInode(owner, in, fmt.Sprintf("damaged orphan chain cut: link (i_dtime) %d -> 0, the chain now ends here", old))
}

// cutSlots empties every orphan-file slot holding an inode number outside
// the filesystem's range.
func (p *Plan) cutSlots() error {
	blocks, err := p.fs.OrphanFile()
	if err != nil || len(blocks) == 0 {
		return err
	}
	of, _, err := p.Inode(p.SB.OrphanFileInum)
	if err != nil {
		return err
	}
	seed := of.Seed(p.SB.CsumSeed(), p.SB.OrphanFileInum)
	per := super.OrphanSlotsPerBlock(p.fs.BlockSize())
	cut := false
	for _, ob := range blocks {
		b, err := p.Read(ob.Physical)
		if err != nil {
			return err
		}
		dec := super.DecodeOrphanBlock(b)
		changed := false
		for _, i := range dec.Used() {
			if ino := dec.Inodes[i]; ino < p.SB.FirstInode() || ino > p.SB.InodesCount {
				dec.Inodes[i] = 0
				changed = true
				p.AppendNote(ob.Physical, fmt.Sprintf("orphan file block %d: slot %d held impossible inode %d, cleared", ob.Logical, int(ob.Logical)*per+i, ino))
			}
		}
		if changed {
			dec.SetChecksum(p.SB, seed, ob.Physical)
			p.Write(ob.Physical, dec.Encode(p.fs.BlockSize()), "orphan file block checksum")
			cut = true
		}
	}
	if cut {
		return p.maybeClearOrphanPresent(blocks)
	}
	return nil
}

// Listed is the orphan list the plan started from, scan finds included:
// what a caller reports as left over.
func (p *Plan) Listed() *OrphanList { return p.list }
