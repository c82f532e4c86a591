package inode

import (
	"errors"
	"fmt"
	"testing"

	"github.com/ext4relink/ext4relink/internal/testfs"
	"github.com/ext4relink/ext4relink/super"
)

// grower appends empty blocks to a real directory, one at a time, writing
// every Growth to the image as the engine would.
type grower struct {
	r      *rw
	ino    uint64
	in     *Inode
	p      MapParams
	pool   []uint64 // free blocks for tree/indirect blocks
	used   []uint64
	meta   int
	append func(iblock []byte, lblk uint32, phys uint64, p MapParams, read ReadFunc, alloc AllocFunc) (*Growth, error)
}

func newGrower(t *testing.T, r *rw, dir string) *grower {
	ino := r.img.Dirs[dir]
	in, _ := r.inode(t, ino)
	if !in.IsDir() || in.Flags&IndexFl != 0 {
		t.Fatalf("%s is not a linear directory", dir)
	}
	g := &grower{r: r, ino: ino, in: in, p: r.fs.Params(uint32(ino), in), append: AppendIndirect}
	if in.HasExtents() {
		g.append = AppendExtent
	}
	return g
}

func (g *grower) alloc(goal uint64) (uint64, error) {
	if len(g.pool) == 0 {
		return 0, errors.New("test pool exhausted")
	}
	b := g.pool[0]
	g.pool = g.pool[1:]
	g.used = append(g.used, b)
	return b, nil
}

// add maps the next logical block of the directory to phys.
func (g *grower) add(t *testing.T, phys uint64) *Growth {
	t.Helper()
	bs := uint64(g.r.fs.BlockSize)
	lblk := uint32(g.in.Size() / bs)
	gr, err := g.append(g.in.Block[:], lblk, phys, g.p, g.r.read, g.alloc)
	if err != nil {
		t.Fatalf("appending logical block %d at %d: %v", lblk, phys, err)
	}
	for blk, b := range gr.Blocks {
		g.r.writeBlock(t, blk, b)
	}
	g.r.writeBlock(t, phys, emptyDirBlock(g.r.fs.BlockSize, g.p.Csum, g.p.Seed))
	g.used = append(g.used, phys)
	g.meta += len(gr.New)
	g.in.Block = gr.IBlock
	g.in.SetSize(g.in.Size() + bs)
	n := g.in.BlocksCount(g.r.fs.HugeFile, g.r.fs.BlockSize) + uint64(1+len(gr.New))*bs/512
	if err := g.in.SetBlocks(n, g.r.fs.HugeFile, g.r.fs.BlockSize); err != nil {
		t.Fatal(err)
	}
	g.r.writeInode(t, g.ino, g.in)
	return gr
}

// finish marks every block used, runs e2fsck, lets the kernel read the
// directory and compares the map with debugfs.
func (g *grower) finish(t *testing.T, dir string, before []string) *BlockMap {
	t.Helper()
	g.r.markUsed(t, g.used)
	g.r.fsck(t)
	if after := g.r.kernelReadDir(t, dir); fmt.Sprint(after) != fmt.Sprint(before) {
		t.Fatalf("kernel lists %v, before growth %v", after, before)
	}
	in, _ := g.r.inode(t, g.ino)
	m, err := MapInode(in, g.r.fs, uint32(g.ino), g.r.read)
	if err != nil {
		t.Fatal(err)
	}
	meta := debugfsMeta(t, g.r.path, g.ino)
	if want := without(testfs.Blocks(t, g.r.path, g.ino), meta); !equalU64(m.DataBlocks(), want) {
		t.Fatalf("after growth: %d data blocks, debugfs %d", len(m.DataBlocks()), len(want))
	}
	if !equalU64(sortedCopy(m.Meta), sortedCopy(meta)) {
		t.Fatalf("after growth: tree blocks %v, debugfs %v", m.Meta, meta)
	}
	return m
}

// TestAppendExtentGrowsTree appends blocks to a real 1 KiB-block,
// metadata_csum directory until its extent tree is two levels deep: the
// last extent is extended, the root fills, the root moves into a leaf block,
// leaves fill and new leaves hang under the root, and finally the full root
// moves down again. e2fsck must find the result clean at the end.
func TestAppendExtentGrowsTree(t *testing.T) {
	r := loadRW(t, "ext4-1k-sync")
	g := newGrower(t, r, "data")
	before := r.kernelReadDir(t, "data")
	m0, _ := MapInode(g.in, r.fs, uint32(g.ino), r.read)
	last := m0.Runs[len(m0.Runs)-1]
	per := BlockMaxEntries(r.fs.BlockSize)
	n := RootMaxEntries*per + 2
	free := r.freeBlocks(t, 2*n+20, last.Physical+uint64(last.Len))
	contiguous := free[0] == last.Physical+uint64(last.Len)
	if contiguous {
		g.add(t, free[0])
		free = free[1:]
	}
	for k := 0; k < n; k++ {
		g.pool = append(g.pool, free[2*k])
		g.add(t, free[2*k+1])
	}
	m := g.finish(t, "data", before)
	if m.Depth != 2 || g.meta < 6 {
		t.Fatalf("tree depth %d with %d new tree blocks after %d extents", m.Depth, g.meta, n)
	}
	if contiguous && m.Runs[len(m0.Runs)-1].Len != last.Len+1 {
		t.Fatal("the contiguous block did not extend the last extent")
	}
}

// TestAppendExtentSmall: on 4 KiB blocks, one contiguous and two separate
// blocks stay in the root; without an allocator a full tree reports
// ErrNeedBlock.
func TestAppendExtentSmall(t *testing.T) {
	r := loadRW(t, "ext4-4k-freeze")
	g := newGrower(t, r, "data")
	before := r.kernelReadDir(t, "data")
	m0, _ := MapInode(g.in, r.fs, uint32(g.ino), r.read)
	last := m0.Runs[len(m0.Runs)-1]
	free := r.freeBlocks(t, 40, last.Physical+uint64(last.Len))
	for k := 0; k < RootMaxEntries-len(m0.Runs); k++ {
		if gr := g.add(t, free[2*k+1]); len(gr.New) != 0 || len(gr.Blocks) != 0 {
			t.Fatal("an append that fits in the root touched tree blocks")
		}
	}
	lblk := uint32(g.in.Size() / uint64(r.fs.BlockSize))
	_, err := AppendExtent(g.in.Block[:], lblk, free[30], g.p, r.read, nil)
	if !errors.Is(err, ErrNeedBlock) || !errors.Is(err, super.ErrUnsupported) {
		t.Fatalf("full root without allocator: %v", err)
	}
	if _, err := AppendExtent(g.in.Block[:], lblk-1, free[30], g.p, r.read, nil); !errors.Is(err, super.ErrUnsupported) {
		t.Fatalf("append inside the file: %v", err)
	}
	g.finish(t, "data", before)
}

// TestAppendIndirect grows a real ext3 (1 KiB) directory past its direct
// blocks, through the indirect block and into the double indirect block.
func TestAppendIndirect(t *testing.T) {
	r := loadRW(t, "ext3-1k-journal")
	g := newGrower(t, r, "data")
	before := r.kernelReadDir(t, "data")
	ptr := int(r.fs.BlockSize / 4)
	have := int(g.in.Size() / uint64(r.fs.BlockSize))
	n := NDirBlocks + ptr + 3 - have
	free := r.freeBlocks(t, n+10, 2000)
	g.pool = free[n:]
	lblk := uint32(g.in.Size() / uint64(r.fs.BlockSize))
	if _, err := AppendIndirect(g.in.Block[:], lblk+20, free[0], g.p, r.read, nil); !errors.Is(err, ErrNeedBlock) {
		t.Fatalf("no allocator: %v", err)
	}
	for k := range n {
		g.add(t, free[k])
	}
	m := g.finish(t, "data", before)
	if m.Depth != 2 || g.meta != 3 {
		t.Fatalf("depth %d, %d indirect blocks allocated", m.Depth, g.meta)
	}
	if _, err := AppendIndirect(g.in.Block[:], 3, free[0], g.p, r.read, nil); !errors.Is(err, super.ErrUnsupported) {
		t.Fatalf("mapping a mapped block: %v", err)
	}
}
