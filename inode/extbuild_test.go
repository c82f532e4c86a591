package inode

import (
	"errors"
	"fmt"
	"testing"
)

// TestBuildExtentTree shapes trees of every depth from generated lists,
// encodes them into blocks held in memory and maps them back: the result
// must be exactly the list, with the expected depth and node count.
func TestBuildExtentTree(t *testing.T) {
	const bs = 1024
	capacity := BlockMaxEntries(bs)
	for _, c := range []struct{ n, depth, nodes int }{
		{0, 0, 0},
		{RootMaxEntries, 0, 0},
		{RootMaxEntries + 1, 1, 1},
		{capacity * RootMaxEntries, 1, RootMaxEntries},
		{capacity*RootMaxEntries + 1, 2, RootMaxEntries + 1 + 1},
	} {
		t.Run(fmt.Sprint(c.n), func(t *testing.T) {
			list := make([]ExtentSpan, c.n)
			for k := range list {
				list[k] = ExtentSpan{Logical: uint32(10 * k), Len: uint16(1 + k%5), Physical: uint64(100000 + 10*k), Unwritten: k%3 == 0}
			}
			tree, err := BuildExtentTree(list, bs)
			if err != nil {
				t.Fatal(err)
			}
			if tree.Depth() != c.depth || len(tree.Nodes()) != c.nodes {
				t.Fatalf("depth %d with %d nodes, want %d with %d", tree.Depth(), len(tree.Nodes()), c.depth, c.nodes)
			}
			blocks := make([]uint64, len(tree.Nodes()))
			for k := range blocks {
				blocks[k] = uint64(5000 + k)
			}
			root, nodes := tree.Encode(blocks, bs, 7, true, 0xfeed)
			disk := map[uint64][]byte{}
			for k, b := range nodes {
				disk[blocks[k]] = b
			}
			p := MapParams{BlockSize: bs, FirstDataBlock: 1, BlocksCount: 1 << 20, Csum: true, Seed: 0xfeed, Ino: 12}
			m, err := MapExtents(root[:], p, func(b uint64) ([]byte, error) {
				if d, ok := disk[b]; ok {
					return d, nil
				}
				return nil, fmt.Errorf("block %d not written", b)
			})
			if err != nil {
				t.Fatal(err)
			}
			if len(m.Runs) != len(list) {
				t.Fatalf("%d runs, want %d", len(m.Runs), len(list))
			}
			for k, r := range m.Runs {
				e := list[k]
				if r.Logical != e.Logical || r.Len != uint32(e.Len) || r.Physical != e.Physical || r.Unwritten != e.Unwritten {
					t.Fatalf("run %d: %+v, want %+v", k, r, e)
				}
			}
			if n, _ := DecodeExtentNode(root[:]); n.Header.Generation != 7 {
				t.Fatalf("generation %d", n.Header.Generation)
			}
		})
	}
	// Tiny (48-byte) blocks hold 3 entries, and so do the index nodes
	// packed over them: 3^(MaxExtentDepth+1) extents fill the deepest tree
	// the kernel allows, one more needs another level.
	need := 1
	for range MaxExtentDepth + 1 {
		need *= BlockMaxEntries(48)
	}
	deep := make([]ExtentSpan, need+1)
	for k := range deep {
		deep[k] = ExtentSpan{Logical: uint32(k), Len: 1, Physical: uint64(k) + 1}
	}
	if _, err := BuildExtentTree(deep, 48); !errors.Is(err, ErrTreeTooDeep) {
		t.Fatalf("a list needing depth %d: %v", MaxExtentDepth+1, err)
	}
	if _, err := BuildExtentTree(deep[:need], 48); err != nil {
		t.Fatalf("a list that fits depth %d: %v", MaxExtentDepth, err)
	}
}
