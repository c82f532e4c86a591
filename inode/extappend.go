package inode

import (
	"bytes"

	"github.com/ext4relink/ext4relink/super"
)

// extPath is the rightmost path of an extent tree: nodes[0] is the root,
// nodes[len-1] the leaf; blocks[k] is the block of nodes[k] (NoBlock for
// the root).
type extPath struct {
	nodes  []*ExtentNode
	blocks []uint64
}

// rightmostPath reads the path from the root to the last leaf.
func rightmostPath(root *ExtentNode, p MapParams, read ReadFunc) (*extPath, error) {
	path := &extPath{nodes: []*ExtentNode{root}, blocks: []uint64{super.NoBlock}}
	seen := map[uint64]bool{}
	for n := root; !n.IsLeaf(); {
		x := n.Index[len(n.Index)-1]
		if seen[x.Leaf()] {
			return nil, p.errf(super.ErrCorrupt, x.Leaf(), -1, "tree block referenced twice")
		}
		seen[x.Leaf()] = true
		child, err := readExtentNode(p, read, x, int(n.Header.Depth)-1)
		if err != nil {
			return nil, err
		}
		path.nodes = append(path.nodes, child)
		path.blocks = append(path.blocks, x.Leaf())
		n = child
	}
	return path, nil
}

func (path *extPath) leaf() *ExtentNode { return path.nodes[len(path.nodes)-1] }

// AppendExtent maps logical block lblk to physical block phys at the end of
// an extent-mapped file (lblk must lie at or past the last mapped block),
// as a directory grows. Like the kernel it first extends the last extent
// when phys continues it, else adds an extent to the last leaf when it has
// room, else makes room: a new leaf (and index blocks as needed) under the
// deepest node of the rightmost path that has a free slot, or, when every
// node up to the root is full, moves the root into a new block and adds a
// level (ext4_ext_grow_indepth). New blocks come from alloc (goal phys);
// with a nil alloc the function returns ErrNeedBlock instead. The whole
// tree is mapped and validated first, so a damaged tree is never extended.
func AppendExtent(iblock []byte, lblk uint32, phys uint64, p MapParams, read ReadFunc, alloc AllocFunc) (*Growth, error) {
	if _, err := MapExtents(iblock, p, read); err != nil {
		return nil, err
	}
	root, err := DecodeExtentRoot(iblock, p)
	if err != nil {
		return nil, err
	}
	path, err := rightmostPath(root, p, read)
	if err != nil {
		return nil, err
	}
	if err := checkAppend(path, lblk, phys, p); err != nil {
		return nil, err
	}
	g := &Growth{Blocks: map[uint64][]byte{}}
	if !tryExtendLast(path.leaf(), lblk, phys) && !tryInsert(path.leaf(), lblk, phys) {
		if alloc == nil {
			return nil, needBlock(p, "adding an extent to a full leaf")
		}
		if err := path.makeRoom(g, lblk, phys, p, alloc); err != nil {
			return nil, err
		}
	}
	path.commit(g, p)
	return g, nil
}

// checkAppend refuses anything but a true append of a valid block.
func checkAppend(path *extPath, lblk uint32, phys uint64, p MapParams) error {
	if !p.validRange(phys, 1) {
		return p.errf(super.ErrCorrupt, super.NoBlock, -1, "new block %d is outside the filesystem", phys)
	}
	if lblk == 1<<32-1 {
		return p.errf(super.ErrUnsupported, super.NoBlock, -1, "logical block %d is past the largest ext4 file", lblk)
	}
	leaf := path.leaf()
	if len(leaf.Extents) == 0 {
		if len(path.nodes) > 1 {
			return p.errf(super.ErrUnsupported, path.blocks[len(path.blocks)-1], -1, "the last leaf is empty")
		}
		return nil
	}
	last := leaf.Extents[len(leaf.Extents)-1]
	if uint64(lblk) < uint64(last.Block)+uint64(last.Length()) {
		return p.errf(super.ErrUnsupported, super.NoBlock, -1,
			"logical block %d is not past the last extent (ends at %d)", lblk, uint64(last.Block)+uint64(last.Length()))
	}
	return nil
}

// tryExtendLast grows the last extent by one block when lblk and phys
// continue it and it is initialized and shorter than the maximum.
func tryExtendLast(leaf *ExtentNode, lblk uint32, phys uint64) bool {
	if len(leaf.Extents) == 0 {
		return false
	}
	e := &leaf.Extents[len(leaf.Extents)-1]
	if e.Unwritten() || e.Len >= InitMaxLen || uint64(e.Block)+uint64(e.Len) != uint64(lblk) ||
		e.Start()+uint64(e.Len) != phys {
		return false
	}
	e.Len++
	return true
}

// tryInsert adds a one-block extent at the end of the leaf if it has room.
func tryInsert(leaf *ExtentNode, lblk uint32, phys uint64) bool {
	if leaf.Count() >= int(leaf.Header.Max) {
		return false
	}
	e := Extent{Block: lblk, Len: 1}
	e.SetStart(phys)
	leaf.Extents = append(leaf.Extents, e)
	leaf.Header.Entries++
	return true
}

// makeRoom adds the new extent in a new leaf, growing the tree as needed.
func (path *extPath) makeRoom(g *Growth, lblk uint32, phys uint64, p MapParams, alloc AllocFunc) error {
	lvl := path.deepestWithRoom()
	if lvl < 0 {
		if err := path.growInDepth(g, p, phys, alloc); err != nil {
			return err
		}
		if tryInsert(path.leaf(), lblk, phys) {
			return nil
		}
		lvl = path.deepestWithRoom()
	}
	return path.newBranch(g, lvl, lblk, phys, p, alloc)
}

// deepestWithRoom is the deepest index node of the path with a free slot, -1 if none.
func (path *extPath) deepestWithRoom() int {
	for k := len(path.nodes) - 2; k >= 0; k-- {
		if path.nodes[k].Count() < int(path.nodes[k].Header.Max) {
			return k
		}
	}
	return -1
}

// growInDepth moves the root's entries into a new tree block and makes the
// root a one-entry index node pointing at it, one level deeper.
func (path *extPath) growInDepth(g *Growth, p MapParams, goal uint64, alloc AllocFunc) error {
	root := path.nodes[0]
	if int(root.Header.Depth) >= MaxExtentDepth {
		return p.errf(super.ErrUnsupported, super.NoBlock, -1, "the extent tree is already %d levels deep", MaxExtentDepth)
	}
	blk, err := allocTreeBlock(g, p, goal, alloc)
	if err != nil {
		return err
	}
	moved := &ExtentNode{Header: root.Header, Extents: root.Extents, Index: root.Index, Raw: make([]byte, p.BlockSize)}
	moved.Header.Max = uint16(BlockMaxEntries(p.BlockSize))
	var x ExtentIdx
	if root.Count() > 0 {
		x.Block, _, _ = root.entry(0)
	}
	x.SetLeaf(blk)
	newRoot := &ExtentNode{Raw: root.Raw, Index: []ExtentIdx{x},
		Header: ExtentHeader{Magic: ExtentMagic, Entries: 1, Max: RootMaxEntries, Depth: root.Header.Depth + 1, Generation: root.Header.Generation}}
	path.nodes = append([]*ExtentNode{newRoot, moved}, path.nodes[1:]...)
	path.blocks = append([]uint64{super.NoBlock, blk}, path.blocks[1:]...)
	return nil
}

// newBranch hangs a chain of new blocks under path.nodes[lvl]: index blocks
// down to a new leaf holding the one-block extent.
func (path *extPath) newBranch(g *Growth, lvl int, lblk uint32, phys uint64, p MapParams, alloc AllocFunc) error {
	above := path.nodes[lvl]
	path.nodes, path.blocks = path.nodes[:lvl+1], path.blocks[:lvl+1]
	for d := int(above.Header.Depth) - 1; d >= 0; d-- {
		blk, err := allocTreeBlock(g, p, phys, alloc)
		if err != nil {
			return err
		}
		n := &ExtentNode{Raw: make([]byte, p.BlockSize),
			Header: ExtentHeader{Magic: ExtentMagic, Max: uint16(BlockMaxEntries(p.BlockSize)), Depth: uint16(d)}}
		if d == 0 {
			tryInsert(n, lblk, phys)
		}
		link(above, lblk, blk)
		path.nodes, path.blocks = append(path.nodes, n), append(path.blocks, blk)
		above = n
	}
	return nil
}

// link appends an index entry for child block blk starting at lblk.
func link(n *ExtentNode, lblk uint32, blk uint64) {
	x := ExtentIdx{Block: lblk}
	x.SetLeaf(blk)
	n.Index = append(n.Index, x)
	n.Header.Entries++
}

func allocTreeBlock(g *Growth, p MapParams, goal uint64, alloc AllocFunc) (uint64, error) {
	blk, err := alloc(goal)
	if err != nil {
		return 0, err
	}
	if !p.validRange(blk, 1) {
		return 0, p.errf(super.ErrCorrupt, blk, -1, "allocator returned block %d outside the filesystem", blk)
	}
	if _, dup := g.Blocks[blk]; dup {
		return 0, p.errf(super.ErrCorrupt, blk, -1, "allocator returned block %d twice", blk)
	}
	g.Blocks[blk] = nil
	g.New = append(g.New, blk)
	return blk, nil
}

// commit encodes the path into the Growth: the root into IBlock, and every
// tree block that changed (or is new) with a fresh tail checksum.
func (path *extPath) commit(g *Growth, p MapParams) {
	copy(g.IBlock[:], path.nodes[0].Encode())
	for k := 1; k < len(path.nodes); k++ {
		n := path.nodes[k]
		n.SetChecksum(p.Csum, p.Seed)
		if b := n.Encode(); !bytes.Equal(b, n.Raw) || g.Blocks[path.blocks[k]] == nil && isNew(g, path.blocks[k]) {
			g.Blocks[path.blocks[k]] = b
		}
	}
}

func isNew(g *Growth, blk uint64) bool {
	for _, b := range g.New {
		if b == blk {
			return true
		}
	}
	return false
}
