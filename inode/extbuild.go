package inode

import "errors"

// ErrTreeTooDeep: the extents do not fit in a tree of MaxExtentDepth levels.
var ErrTreeTooDeep = errors.New("the extent tree would be deeper than the kernel allows")

// ExtentSpan is one mapping to place in a new extent tree: Len blocks from
// logical block Logical at physical block Physical.
type ExtentSpan struct {
	Logical   uint32
	Len       uint16
	Physical  uint64
	Unwritten bool
}

// ExtentTree is an extent tree shaped for a sorted list of extents, before
// its blocks are chosen: the root (for i_block) and the tree blocks by
// level, leaves first. Each index node's entries point, in order, at the
// nodes of the level below it. Build one with BuildExtentTree, choose a
// block for each of Nodes(), then Encode.
type ExtentTree struct {
	Root   *ExtentNode
	levels [][]*ExtentNode // levels[0] the leaves, up to the level under the root
	first  map[*ExtentNode]uint32
}

// BuildExtentTree packs list (sorted, non-overlapping) into full leaves of
// blockSize bytes, adding index levels until what is left fits in the
// inode's root (as e2fsck's rewrite_extent_tree shapes a rebuilt tree). A
// list that fits in the root needs no tree block at all.
func BuildExtentTree(list []ExtentSpan, blockSize uint32) (*ExtentTree, error) {
	capacity := BlockMaxEntries(blockSize)
	t := &ExtentTree{first: map[*ExtentNode]uint32{}}
	level := t.leaves(list, capacity)
	for depth := 0; len(level) > 1 || level[0].Count() > RootMaxEntries; depth++ {
		if depth == MaxExtentDepth {
			return nil, ErrTreeTooDeep
		}
		for _, n := range level {
			n.Header.Max = uint16(capacity)
		}
		t.levels = append(t.levels, level)
		level = t.indexLevel(level, capacity, depth+1)
	}
	t.Root = level[0]
	return t, nil
}

// leaves packs the extents into nodes of at most capacity entries (one
// empty node for an empty list).
func (t *ExtentTree) leaves(list []ExtentSpan, capacity int) []*ExtentNode {
	var level []*ExtentNode
	for i := 0; i < len(list) || i == 0; i += capacity {
		n := &ExtentNode{Header: ExtentHeader{Magic: ExtentMagic}}
		for _, e := range list[i:min(i+capacity, len(list))] {
			x := Extent{Block: e.Logical, Len: e.Len}
			if e.Unwritten {
				x.Len += InitMaxLen
			}
			x.SetStart(e.Physical)
			n.Extents = append(n.Extents, x)
		}
		if len(n.Extents) > 0 {
			t.first[n] = n.Extents[0].Block
		}
		level = append(level, n)
		if len(list) == 0 {
			break
		}
	}
	return level
}

// indexLevel builds the index nodes of the given depth over level.
func (t *ExtentTree) indexLevel(level []*ExtentNode, capacity, depth int) []*ExtentNode {
	var up []*ExtentNode
	for i := 0; i < len(level); i += capacity {
		n := &ExtentNode{Header: ExtentHeader{Magic: ExtentMagic, Depth: uint16(depth)}}
		for _, c := range level[i:min(i+capacity, len(level))] {
			n.Index = append(n.Index, ExtentIdx{Block: t.first[c]})
		}
		t.first[n] = t.first[level[i]]
		up = append(up, n)
	}
	return up
}

// Depth is the depth of the tree (0: everything is in the root).
func (t *ExtentTree) Depth() int { return len(t.levels) }

// Nodes returns the nodes that need a block of their own, leaves first,
// then each index level, left to right.
func (t *ExtentTree) Nodes() []*ExtentNode {
	var out []*ExtentNode
	for _, l := range t.levels {
		out = append(out, l...)
	}
	return out
}

// Encode points every index entry at the block chosen for its child
// (blocks[k] for Nodes()[k]) and returns i_block and the tree blocks in
// Nodes() order, with entry counts, depth, the root's generation and, when
// csum is set, every tree block's checksum (seeded with seed).
func (t *ExtentTree) Encode(blocks []uint64, blockSize uint32, generation uint32, csum bool, seed uint32) (root [BlockBytes]byte, nodes [][]byte) {
	blockOf := map[*ExtentNode]uint64{}
	for k, n := range t.Nodes() {
		blockOf[n] = blocks[k]
	}
	for d, children := range t.levels {
		parents := []*ExtentNode{t.Root}
		if d+1 < len(t.levels) {
			parents = t.levels[d+1]
		}
		off := 0
		for _, p := range parents {
			for i := range p.Index {
				p.Index[i].SetLeaf(blockOf[children[off+i]])
			}
			off += len(p.Index)
		}
	}
	for _, n := range t.Nodes() {
		n.Header.Entries = uint16(n.Count())
		n.Raw = make([]byte, blockSize)
		n.SetChecksum(csum, seed)
		nodes = append(nodes, n.Encode())
	}
	r := t.Root
	r.Header.Max = RootMaxEntries
	r.Header.Depth = uint16(t.Depth())
	r.Header.Entries = uint16(r.Count())
	r.Header.Generation = generation
	r.Raw = make([]byte, BlockBytes)
	copy(root[:], r.Encode())
	return root, nodes
}
