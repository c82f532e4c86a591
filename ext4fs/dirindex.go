package ext4fs

import (
	"fmt"
	"maps"
	"slices"

	"github.com/ext4relink/ext4relink/dirent"
	"github.com/ext4relink/ext4relink/internal/devio"
)

// linearIndex remembers what the blocks of one linear directory hold, for
// the life of a transaction, so that looking up a name or finding room for one
// does not re-read and re-validate every block of the directory each time.
// --all adds thousands of names to /lost+found, which mke2fs makes linear
// (several blocks: the kernel only indexes a directory that outgrows a
// single block), and each name is looked up (Resolve), then added
// (addLinear), then looked up again (Verify): rescanning made that
// quadratic in the number of orphans.
//
// It gives exactly the answers of a scan from block 0: blocks are read,
// validated (dirent.ValidateLeaf) and parsed in logical order, the first
// time a lookup or an insertion needs them; a block written through the
// transaction afterwards is parsed again before its next use (Tx.Write marks it
// stale), and when the directory's block map may have changed (its inode's
// i_block, size or flags differ, or a block-map block was written) the
// location of every known block is checked again.
type linearIndex struct {
	ino    uint32
	key    dirKey
	remap  bool                // a block of the directory's block map was written
	meta   []uint64            // the block-map blocks (extent tree, indirect)
	blocks []leafFacts         // logical blocks 0..len-1, parsed in order
	lblkOf map[uint64][]uint32 // physical block -> logical blocks it holds
	stale  map[uint32]bool
	// names maps each name to the first logical block holding it.
	names map[string]uint32
	// firstRoom: every block before it is too full for even the smallest
	// record.
	firstRoom int
}

// leafFacts is what one parsed directory block holds.
type leafFacts struct {
	phys  uint64
	names map[string]*leafName // the names of its used records
	room  int                  // the largest record a new name could take (ext4_find_dest_de)
	gen   uint32               // parse count, to tell names still present from gone ones
}

// leafName is the inode of the first used record of a name in a block.
type leafName struct{ ino, gen uint32 }

// dirKey is what a directory's block map and parameters depend on, apart
// from the block-map blocks.
type dirKey struct {
	iblock [60]byte
	size   uint64
	flags  uint32
	params dirent.Params
}

func dirKeyOf(d *Dir) dirKey {
	return dirKey{iblock: d.In.Block, size: d.In.Size(), flags: d.In.Flags, params: d.Params}
}

// linearIndexOf returns the transaction's index of linear directory d, brought up
// to date with the transaction's writes.
func (p *Tx) linearIndexOf(d *Dir) (*linearIndex, error) {
	if p.dirIdx == nil {
		p.dirIdx = map[uint32]*linearIndex{}
	}
	ix := p.dirIdx[d.Ino]
	key := dirKeyOf(d)
	if ix != nil && (ix.key != key || ix.remap) {
		if !p.remapIndex(ix, d, key) {
			p.dropIndex(ix)
			ix = nil
		}
	}
	if ix == nil {
		ix = &linearIndex{ino: d.Ino, key: key, lblkOf: map[uint64][]uint32{}, names: map[string]uint32{}, stale: map[uint32]bool{}}
		p.dirIdx[d.Ino] = ix
		ix.meta = slices.Clone(d.Blocks.Meta)
	}
	if len(ix.stale) > 0 {
		for _, lblk := range slices.Sorted(maps.Keys(ix.stale)) {
			if err := p.parseLeaf(ix, d, lblk); err != nil {
				return nil, err
			}
			delete(ix.stale, lblk)
		}
	}
	return ix, nil
}

// remapIndex keeps the index of a directory whose block map may have
// changed when every known block is still where it was (the directory
// only grew); false when it must be rebuilt.
func (p *Tx) remapIndex(ix *linearIndex, d *Dir, key dirKey) bool {
	if key.params != ix.key.params || uint32(len(ix.blocks)) > d.NBlocks(p.fs.BlockSize()) {
		return false
	}
	for lblk := range ix.blocks {
		phys, err := d.Phys(uint32(lblk))
		if err != nil || phys != ix.blocks[lblk].phys {
			return false
		}
	}
	ix.key, ix.remap, ix.meta = key, false, slices.Clone(d.Blocks.Meta)
	return true
}

func (p *Tx) dropIndex(ix *linearIndex) { delete(p.dirIdx, ix.ino) }

// dirWritten is called by Tx.Write for every block: a directory block
// an index knows is parsed again before its next use; a block-map block
// makes the index check where its blocks are. A transaction indexes few
// directories (those it looks names up in).
func (p *Tx) dirWritten(n uint64) {
	for _, ix := range p.dirIdx {
		for _, lblk := range ix.lblkOf[n] {
			ix.stale[lblk] = true
		}
		if slices.Contains(ix.meta, n) {
			ix.remap = true
		}
	}
}

// scanNext reads, validates and parses the next logical block; false when
// every block of the directory is parsed.
func (p *Tx) scanNext(ix *linearIndex, d *Dir) (bool, error) {
	lblk := uint32(len(ix.blocks))
	if lblk >= d.NBlocks(p.fs.BlockSize()) {
		return false, nil
	}
	ix.blocks = append(ix.blocks, leafFacts{})
	if err := p.parseLeaf(ix, d, lblk); err != nil {
		ix.blocks = ix.blocks[:lblk]
		return false, err
	}
	return true, nil
}

// parseLeaf (re)reads logical block lblk, validating it as lookupLinear
// did (dirent.ValidateLeaf, with the same errors), and updates the index. A block parsed before is parsed again in
// place: the names it still holds keep their entries.
func (p *Tx) parseLeaf(ix *linearIndex, d *Dir, lblk uint32) error {
	phys, err := d.Phys(lblk)
	if err != nil {
		return err
	}
	b, err := p.View(phys)
	if err != nil {
		return err
	}
	// dirent.ValidateLeaf's checks, in one walk with the parsing: the
	// checksum first (when it fails, ValidateLeaf says what is wrong
	// first), then the records as the walk below meets them.
	if !dirent.VerifyLeafChecksum(b, d.Params) {
		err := dirent.ValidateLeaf(b, d.Params)
		if err == nil {
			err = fmt.Errorf("%w: directory %d block %d: checksum verification disagrees with ValidateLeaf", devio.ErrInternal, d.Ino, lblk)
		}
		return dirent.AtBlock(err, phys)
	}
	space, err := dirent.LeafSpace(b, d.Params)
	if err != nil {
		return dirent.AtBlock(err, phys)
	}
	f := &ix.blocks[lblk]
	if f.names != nil && f.phys != phys {
		ix.unmapLblk(f.phys, lblk)
		ix.forget(lblk, f)
		*f = leafFacts{}
	}
	if f.names == nil {
		*f = leafFacts{phys: phys, names: map[string]*leafName{}}
		ix.lblkOf[phys] = append(ix.lblkOf[phys], lblk)
	}
	f.gen++
	f.room = 0
	seen, before := 0, len(f.names)
	var added []string
	err = dirent.WalkRecords(space, d.Params, func(_, size int, ino uint32, name []byte) bool {
		// ext4_find_dest_de: an unused record offers all of itself, a
		// used one the slack after its name.
		free := size
		if ino != 0 {
			free -= dirent.RecLen(len(name))
			if v := f.names[string(name)]; v == nil {
				s := string(name)
				f.names[s] = &leafName{ino: ino, gen: f.gen}
				added = append(added, s)
			} else if v.gen != f.gen { // the first record of that name in the block
				v.ino, v.gen = ino, f.gen
				seen++
			}
		}
		f.room = max(f.room, free)
		return true
	})
	if err != nil {
		p.dropIndex(ix)
		return dirent.AtBlock(err, phys)
	}
	if seen < before {
		// Names the block no longer holds: the next block holding one
		// becomes its first.
		for name, v := range f.names {
			if v.gen != f.gen {
				delete(f.names, name)
				ix.moveFirst(name, lblk)
			}
		}
	}
	for _, name := range added {
		if first, ok := ix.names[name]; !ok || first > lblk {
			ix.names[name] = lblk
		}
	}
	if f.room >= dirent.MinRecLen && int(lblk) < ix.firstRoom {
		ix.firstRoom = int(lblk)
	}
	return nil
}

// forget drops the names of block lblk from the directory's names.
func (ix *linearIndex) forget(lblk uint32, f *leafFacts) {
	for name := range f.names {
		delete(f.names, name)
		ix.moveFirst(name, lblk)
	}
}

// moveFirst: block lblk no longer holds name; if it was the first block
// that did, the next one holding it (if any) becomes the first.
func (ix *linearIndex) moveFirst(name string, lblk uint32) {
	if first, ok := ix.names[name]; !ok || first != lblk {
		return
	}
	delete(ix.names, name)
	for later := int(lblk) + 1; later < len(ix.blocks); later++ {
		if _, ok := ix.blocks[later].names[name]; ok {
			ix.names[name] = uint32(later)
			return
		}
	}
}

func (ix *linearIndex) unmapLblk(phys uint64, lblk uint32) {
	l := ix.lblkOf[phys]
	for i, x := range l {
		if x == lblk {
			l = append(l[:i], l[i+1:]...)
			break
		}
	}
	if len(l) == 0 {
		delete(ix.lblkOf, phys)
	} else {
		ix.lblkOf[phys] = l
	}
}

// lookupIndexed is lookup's scan of a linear directory, through the index.
func (p *Tx) lookupIndexed(d *Dir, name []byte) (uint32, bool, error) {
	ix, err := p.linearIndexOf(d)
	if err != nil {
		return 0, false, err
	}
	for {
		if lblk, ok := ix.names[string(name)]; ok {
			v := ix.blocks[lblk].names[string(name)]
			if v == nil {
				p.dropIndex(ix)
				return 0, false, fmt.Errorf("%w: directory %d: the index puts %q in block %d, which does not hold it", devio.ErrInternal, d.Ino, name, lblk)
			}
			return v.ino, true, nil
		}
		more, err := p.scanNext(ix, d)
		if err != nil || !more {
			return 0, false, err
		}
	}
}

// FirstFit (used by AddEntry, exported for the engine's test against a
// scan) returns the first logical block on which dirent.AddEntry would
// not report ErrNoSpace for name: the first with room for its record, or
// holding the name already (AddEntry's ErrExist). Blocks are parsed (and
// validated) in order up to that one, as a scan calling AddEntry on each
// would. ok is false when no block qualifies (every block is then parsed).
func (p *Tx) FirstFit(d *Dir, name []byte) (lblk uint32, ok bool, err error) {
	ix, err := p.linearIndexOf(d)
	if err != nil {
		return 0, false, err
	}
	need := dirent.RecLen(len(name))
	fit := -1
	for i := ix.firstRoom; ; i++ {
		if i == len(ix.blocks) {
			more, err := p.scanNext(ix, d)
			if err != nil {
				return 0, false, err
			}
			if !more {
				break
			}
		}
		room := ix.blocks[i].room
		if room < dirent.MinRecLen && i == ix.firstRoom {
			ix.firstRoom++
		}
		if room >= need {
			fit = i
			break
		}
	}
	// Every block up to fit (or all of them) is parsed: the first one
	// holding the name is known.
	if first, ok := ix.names[string(name)]; ok && (fit < 0 || int(first) < fit) {
		return first, true, nil
	}
	return uint32(fit), fit >= 0, nil
}
