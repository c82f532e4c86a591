package inode

import "sort"

// MapFormat says where a file's data lives.
type MapFormat int

const (
	FormatNone        MapFormat = iota // no data at all (devices, fifos, sockets)
	FormatExtents                      // extent tree (EXTENTS_FL)
	FormatIndirect                     // ext2/ext3 direct and indirect blocks
	FormatInline                       // i_block plus system.data (INLINE_DATA_FL)
	FormatFastSymlink                  // target text in i_block
)

func (f MapFormat) String() string {
	return [...]string{"none", "extents", "indirect", "inline", "fast symlink"}[f]
}

// Run is one contiguous piece of a block map: Len blocks starting at
// logical block Logical live at physical blocks starting at Physical.
// Unwritten runs (preallocated extents) read as zeros.
type Run struct {
	Logical   uint32
	Len       uint32
	Physical  uint64
	Unwritten bool
}

// End is the logical block just past the run.
func (r Run) End() uint64 { return uint64(r.Logical) + uint64(r.Len) }

// BlockMap is a decoded block map. Runs are sorted by Logical and never
// overlap; holes are simply absent. Meta lists the blocks the map itself
// occupies (extent index and leaf blocks, or indirect blocks), in the order
// the walk met them. An inline or fast-symlink inode has an empty map.
type BlockMap struct {
	Format MapFormat
	Depth  int // extent tree depth, or the deepest indirect level used (0..3)
	Runs   []Run
	Meta   []uint64
}

// Map returns the physical block of logical block lblk; ok is false in a hole.
func (m *BlockMap) Map(lblk uint32) (phys uint64, unwritten, ok bool) {
	k := sort.Search(len(m.Runs), func(k int) bool { return m.Runs[k].End() > uint64(lblk) })
	if k == len(m.Runs) || m.Runs[k].Logical > lblk {
		return 0, false, false
	}
	r := m.Runs[k]
	return r.Physical + uint64(lblk-r.Logical), r.Unwritten, true
}

// End is the logical block just past the last mapped block (0 when empty).
func (m *BlockMap) End() uint64 {
	if len(m.Runs) == 0 {
		return 0
	}
	return m.Runs[len(m.Runs)-1].End()
}

// DataBlocks lists the physical data blocks in logical order, holes
// skipped, unwritten blocks included (as `debugfs blocks` prints them).
func (m *BlockMap) DataBlocks() []uint64 {
	var out []uint64
	for _, r := range m.Runs {
		for k := range uint64(r.Len) {
			out = append(out, r.Physical+k)
		}
	}
	return out
}

// Mapped is the number of mapped data blocks (written or not).
func (m *BlockMap) Mapped() uint64 {
	var n uint64
	for _, r := range m.Runs {
		n += uint64(r.Len)
	}
	return n
}

// add appends a run, merging it into the previous one when both are
// logically and physically contiguous and of the same kind.
func (m *BlockMap) add(r Run) {
	if n := len(m.Runs); n > 0 {
		last := &m.Runs[n-1]
		if last.End() == uint64(r.Logical) && last.Physical+uint64(last.Len) == r.Physical &&
			last.Unwritten == r.Unwritten && uint64(last.Len)+uint64(r.Len) <= 1<<31 && !m.keepExtents() {
			last.Len += r.Len
			return
		}
	}
	m.Runs = append(m.Runs, r)
}

// keepExtents: extent maps keep one run per on-disk extent.
func (m *BlockMap) keepExtents() bool { return m.Format == FormatExtents }

// Growth is the outcome of adding one block to a block map. Nothing has been
// written: IBlock is the inode's new i_block; Blocks holds every tree or
// indirect block to write (block number to content, checksums set); New
// lists the blocks that came from the AllocFunc, which the caller must
// account for in i_blocks (besides the data block itself).
type Growth struct {
	IBlock [BlockBytes]byte
	Blocks map[uint64][]byte
	New    []uint64
}
