package inode

import (
	"fmt"
	"testing"
)

// FuzzSalvage: the salvaging walks (extract --ignore-errors) never panic,
// return maps with the strict walk's invariants, and on a map the strict
// walk accepts they return the same map and lose nothing.
func FuzzSalvage(f *testing.F) {
	seedFixtures(f, func(x *fx, ino uint64, in *Inode, raw []byte, m *BlockMap) {
		if x.fs.BlockSize != 1024 {
			return
		}
		switch m.Format {
		case FormatExtents:
			root, blocks := relocateExtents(x, in.Block[:], m.Meta)
			f.Add(root, blocks, true)
		case FormatIndirect:
			iblock, blocks := relocateIndirect(x, in.Block[:], m.Meta)
			f.Add(iblock, blocks, false)
		}
	})
	f.Fuzz(func(t *testing.T, root, blocks []byte, extents bool) {
		if len(root) != BlockBytes {
			return
		}
		p := MapParams{BlockSize: 1024, FirstDataBlock: 1, BlocksCount: 1 << 17, Csum: extents, Seed: fuzzSeed}
		read := blockSource(blocks)
		strict, salvage := MapIndirect, SalvageIndirect
		if extents {
			strict, salvage = MapExtents, SalvageExtents
		}
		m, lost, err := salvage(root, p, read)
		if err != nil {
			checkError(t, err)
			return
		}
		checkMapInvariants(t, m, p)
		for _, l := range lost {
			if l.End <= l.Start || l.Err == nil {
				t.Fatalf("lost range %+v", l)
			}
		}
		if want, err := strict(root, p, read); err == nil {
			if len(lost) != 0 || fmt.Sprint(want.Runs) != fmt.Sprint(m.Runs) {
				t.Fatalf("a sound map salvaged differently: lost %v, runs %v, want %v", lost, m.Runs, want.Runs)
			}
		}
	})
}
