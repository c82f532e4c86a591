package engine

import (
	"encoding/binary"
	"errors"
	"slices"
	"sort"
	"time"

	"github.com/ext4relink/ext4relink/dirent"
	"github.com/ext4relink/ext4relink/inode"
	"github.com/ext4relink/ext4relink/journal"
	"github.com/ext4relink/ext4relink/super"
)

// nameTarget is an orphan whose name is looked for.
type nameTarget struct {
	ft        uint8 // the dirent file type its entries must carry
	gen       uint32
	crtime    time.Time
	hasCrtime bool
	ctime     time.Time // i_ctime: set to the directory's at the unlink, later by writes
}

// pathFromLiveNoSlack marks a live block whose slack is not searched for
// remnants: a dx_root, whose '..' record covers the index.
const pathFromLiveNoSlack PathSource = 255

// evidence is one directory entry found naming an inode of interest.
type evidence struct {
	ino       uint32 // the inode the entry names
	parent    uint32 // the directory holding the entry
	parentGen uint32 // that directory's i_generation at the time
	name      string
	ft        uint8
	from      PathSource
	seq       uint32
	commit    time.Time
	block     uint64
}

// dirVersion is one version of a directory inode: the live one, or a copy
// logged in transaction seq.
type dirVersion struct {
	ino    uint32
	in     *inode.Inode
	logged bool
	seq    uint32
	commit time.Time
}

// owner says that a block was logical block lblk of directory ino (as of
// one of its versions).
type owner struct {
	ino, gen uint32
	lblk     uint32
	live     bool // from the live inode's map
	indexed  bool // an htree: block 0 is a dx_root, whose '..' record holds the index
}

// inodeCopy is a logged copy of an orphan's or a directory's inode.
type inodeCopy struct {
	seq  uint32
	gen  uint32
	mode uint16
}

// dirRef is one directory: its inode number and generation (an inode
// number reused by a later directory is another directory).
type dirRef struct{ ino, gen uint32 }

// itableRange is the inode table of group g.
type itableRange struct {
	start uint64
	g     uint64
}

// namer gathers the evidence for OriginalPaths.
type namer struct {
	fs       *FS
	h        *journal.History
	targets  map[uint32]*nameTarget
	interest map[uint32]bool // inodes whose entries are collected: targets and directories
	ev       map[uint32][]evidence
	dirs     map[uint32][]dirVersion
	owners   map[uint64][]owner
	copies   map[uint32][]inodeCopy // logged copies of the targets' and directories' inodes
	itables  []itableRange
	paths    map[dirRef]*string // directory paths (nil entry: being resolved)
}

func (fs *FS) newNamer(l *OrphanList, h *journal.History) (*namer, error) {
	n := &namer{fs: fs, h: h, targets: map[uint32]*nameTarget{}, interest: map[uint32]bool{},
		ev: map[uint32][]evidence{}, dirs: map[uint32][]dirVersion{}, owners: map[uint64][]owner{},
		copies: map[uint32][]inodeCopy{}, paths: map[dirRef]*string{}}
	for _, o := range l.Orphans {
		if o.Problem != "" {
			continue
		}
		in, _, err := fs.ReadInode(o.Inode)
		if err != nil {
			continue
		}
		t := &nameTarget{ft: in.FileType(), gen: in.Generation, ctime: in.ChangeTime()}
		t.crtime, t.hasCrtime = in.BirthTime()
		n.targets[o.Inode] = t
		n.interest[o.Inode] = true
		if in.IsDir() {
			n.addDir(o.Inode, in, false, 0, time.Time{})
		}
	}
	return n, nil
}

func (n *namer) addDir(ino uint32, in *inode.Inode, logged bool, seq uint32, commit time.Time) {
	n.interest[ino] = true
	n.dirs[ino] = append(n.dirs[ino], dirVersion{ino: ino, in: in, logged: logged, seq: seq, commit: commit})
}

// gather finds the directories, maps their blocks and reads every version
// of every block they own.
func (n *namer) gather() error {
	if n.h != nil && n.h.Len() > 0 {
		if err := n.loggedInodes(); err != nil {
			return err
		}
	}
	n.liveDirs()
	for ino, vs := range n.dirs {
		for _, v := range vs {
			n.mapDir(ino, v)
		}
	}
	blocks := make([]uint64, 0, len(n.owners))
	for b := range n.owners {
		blocks = append(blocks, b)
	}
	slices.Sort(blocks)
	for _, b := range blocks {
		if err := n.readDirBlock(b); err != nil {
			return err
		}
	}
	return nil
}

// loggedInodes reads every logged copy of an inode-table block: the
// directories in them (a directory whose entries change is logged with its
// blocks, as its times change) and the copies of the orphans' inodes.
func (n *namer) loggedInodes() error {
	n.itableRanges()
	sort.Slice(n.itables, func(a, b int) bool { return n.itables[a].start < n.itables[b].start })
	var err error
	each := func(l journal.Logged) bool {
		g, first, ok := n.itableOf(l.FSBlock)
		if !ok {
			return true
		}
		b, rerr := n.h.Read(l)
		if errors.Is(rerr, super.ErrChecksum) {
			return true // overwritten or torn: no evidence
		}
		if err = rerr; err != nil {
			return false
		}
		n.inodesIn(b, g, first, l)
		return true
	}
	// Only the logged copies of inode-table blocks, known by their block
	// numbers: the runs of other blocks (file data, in data=journal) are
	// never looked at.
	per := n.fs.SB.InodeTableBlocks()
	for i := 0; i < len(n.itables) && err == nil; {
		lo, hi := n.itables[i].start, n.itables[i].start+per
		for i++; i < len(n.itables) && n.itables[i].start <= hi; i++ {
			hi = max(hi, n.itables[i].start+per) // flex_bg: tables side by side
		}
		n.h.EachIn(lo, hi, each)
	}
	return err
}

// itableRanges reads where every group's inode table is, straight from
// the descriptor blocks: each descriptor block is read once, and a
// descriptor failing its checksum is left out (its inodes are not looked
// for in the journal), and so is a group that never had an inode
// (INODE_UNINIT, checked on the raw bytes: most of a large filesystem).
func (n *namer) itableRanges() {
	sb := n.fs.SB
	size := sb.DescSizeBytes()
	var b []byte
	cur := super.NoBlock
	for g := range sb.GroupCount() {
		blk, off := sb.DescLocation(g)
		if blk != cur {
			var err error
			if b, err = n.fs.ReadBlock(blk); err != nil {
				b = nil
			}
			cur = blk
		}
		if b == nil || int(off+size) > len(b) {
			continue
		}
		if super.RawInodeUninit(sb, uint32(g), b[off:off+size]) {
			continue // no inode was ever allocated there
		}
		gd, err := super.DecodeGroupDesc(b[off : off+size])
		if err != nil || !gd.VerifyChecksum(sb, uint32(g)) {
			continue
		}
		n.itables = append(n.itables, itableRange{start: gd.InodeTable(), g: g})
	}
}

// itableOf says which group's inode table holds block b and the index in
// that group of the block's first inode.
func (n *namer) itableOf(b uint64) (g uint64, first uint32, ok bool) {
	k := sort.Search(len(n.itables), func(i int) bool { return n.itables[i].start > b }) - 1
	if k < 0 {
		return 0, 0, false
	}
	r := n.itables[k]
	sb := n.fs.SB
	if b-r.start >= sb.InodeTableBlocks() {
		return 0, 0, false
	}
	perBlock := uint64(sb.BlockSize() / sb.InodeSizeBytes())
	return r.g, uint32((b - r.start) * perBlock), true
}

// inodesIn decodes the inodes of a logged inode-table block.
func (n *namer) inodesIn(b []byte, g uint64, first uint32, l journal.Logged) {
	sb := n.fs.SB
	isz := int(sb.InodeSizeBytes())
	for k := 0; (k+1)*isz <= len(b); k++ {
		idx := first + uint32(k)
		if idx >= sb.InodesPerGroup {
			return
		}
		ino := uint32(g)*sb.InodesPerGroup + idx + 1
		raw := b[k*isz : (k+1)*isz]
		// Most records of an inode-table block are free, or neither an
		// orphan nor a directory: nothing below uses those, so they are
		// not decoded (nor checksummed).
		if gl, ok := inode.Peek(raw); !ok || gl.Mode == 0 || n.targets[ino] == nil && gl.Mode&inode.ModeFmt != inode.ModeDir {
			continue
		}
		in, err := inode.Decode(raw)
		if err != nil || in.Mode == 0 || in.Validate(n.fs.InodeFS(), ino) != nil {
			continue
		}
		if n.targets[ino] != nil || in.IsDir() {
			n.copies[ino] = append(n.copies[ino], inodeCopy{seq: l.Sequence, gen: in.Generation, mode: in.Type()})
		}
		if in.IsDir() {
			n.addDir(ino, in, true, l.Sequence, l.CommitTime)
		}
	}
}

// liveDirs adds the live inode of every directory found so far, the
// parents of directory orphans, and the root.
func (n *namer) liveDirs() {
	want := []uint32{2}
	for ino := range n.dirs {
		want = append(want, ino)
	}
	for ino, t := range n.targets {
		if t.ft == dirent.FtDir {
			if p, ok := n.fs.liveParent(ino); ok {
				want = append(want, p)
			}
		}
	}
	for _, ino := range want {
		if n.hasLive(ino) {
			continue
		}
		in, _, err := n.fs.ReadInode(ino)
		if err == nil && in.IsDir() {
			n.addDir(ino, in, false, 0, time.Time{})
		}
	}
}

func (n *namer) hasLive(ino uint32) bool {
	for _, v := range n.dirs[ino] {
		if !v.logged {
			return true
		}
	}
	return false
}

// mapDir records the blocks of one directory version; an inline
// directory is read at once.
func (n *namer) mapDir(ino uint32, v dirVersion) {
	if v.in.HasInlineData() {
		n.inlineEntries(v)
		return
	}
	m, err := n.fs.BlockMap(ino, v.in)
	if err != nil {
		return
	}
	for _, r := range m.Runs {
		if r.Unwritten {
			continue
		}
		for k := range uint64(r.Len) {
			o := owner{ino: ino, gen: v.in.Generation, lblk: r.Logical + uint32(k), live: !v.logged,
				indexed: v.in.Flags&inode.IndexFl != 0}
			b := r.Physical + k
			if !slices.Contains(n.owners[b], o) {
				n.owners[b] = append(n.owners[b], o)
			}
		}
	}
}

// readDirBlock reads every logged version of directory block b, and its
// live content for its live owners.
func (n *namer) readDirBlock(b uint64) error {
	os := n.owners[b]
	if n.h != nil {
		for _, l := range n.h.Versions(b) {
			data, err := n.h.Read(l)
			if errors.Is(err, super.ErrChecksum) {
				continue // overwritten or torn: no evidence
			}
			if err != nil {
				return err
			}
			if o, ok := n.ownerOf(data, os, false); ok {
				n.leafEntries(data, o, b, evidence{from: PathFromJournal, seq: l.Sequence, commit: l.CommitTime})
			}
		}
	}
	data, err := n.fs.ReadBlock(b)
	if err != nil {
		return nil // an unreadable live block is no evidence
	}
	if o, ok := n.ownerOf(data, os, true); ok {
		base := evidence{from: PathFromLive}
		if o.indexed && o.lblk == 0 {
			base.from = pathFromLiveNoSlack
		}
		n.leafEntries(data, o, b, base)
	}
	return nil
}

// ownerOf picks the directory a leaf block belongs to among its possible
// owners: with metadata_csum the one whose seed makes its checksum
// verify; else the first whose '.' rule holds (block 0 starts with '.'
// naming it, no other block starts with '.').
func (n *namer) ownerOf(data []byte, os []owner, live bool) (owner, bool) {
	for _, o := range os {
		if live && !o.live {
			continue
		}
		p := n.params(o.ino, o.gen)
		if p.Csum {
			if dirent.ValidateLeaf(data, p) == nil {
				return o, true
			}
			continue
		}
		dot := len(data) >= dirent.MinRecLen && data[6] == 1 && data[8] == '.'
		if dot != (o.lblk == 0) || dot && binary.LittleEndian.Uint32(data) != o.ino {
			continue
		}
		if _, err := dirent.LeafSpace(data, p); err == nil {
			return o, true
		}
	}
	return owner{}, false
}

func (n *namer) params(ino, gen uint32) dirent.Params {
	return dirent.NewParams(n.fs.SB, dirent.DirSeed(n.fs.SB.CsumSeed(), ino, gen))
}

// leafEntries collects the entries of a validated leaf block (and, live,
// the deleted entries in its slack) that name an inode of interest.
func (n *namer) leafEntries(data []byte, o owner, blk uint64, base evidence) {
	p := n.params(o.ino, o.gen)
	space, err := dirent.LeafSpace(data, p)
	if err != nil {
		return
	}
	n.records(space, p, dirRef{o.ino, o.gen}, blk, base)
}

// records walks a run of records; a run that does not validate gives
// nothing.
func (n *namer) records(space []byte, p dirent.Params, parent dirRef, blk uint64, base evidence) {
	var found []evidence
	err := dirent.WalkRecords(space, p, func(off, size int, ino uint32, name []byte) bool {
		if ino != 0 && n.interest[ino] {
			e := n.entry(base, parent, blk, ino, name, space[off+7])
			if e.from == pathFromLiveNoSlack {
				e.from = PathFromLive
			}
			found = append(found, e)
		}
		if base.from == PathFromLive {
			found = append(found, n.remnants(space[:off+size], off+dirent.RecLen(len(name)), parent, blk)...)
		}
		return true
	})
	if err != nil {
		return
	}
	for _, e := range found {
		n.ev[e.ino] = append(n.ev[e.ino], e)
	}
}

// entry builds the evidence of one record.
func (n *namer) entry(base evidence, parent dirRef, blk uint64, ino uint32, name []byte, ft uint8) evidence {
	e := base
	e.ino, e.parent, e.parentGen, e.name, e.ft, e.block = ino, parent.ino, parent.gen, string(name), ft, blk
	return e
}

// remnants finds deleted records inside the slack [from, len(space)) of a
// live record: the kernel merges a deleted record into the one before it,
// and kernels before 5.13 left its header and name there.
func (n *namer) remnants(space []byte, from int, parent dirRef, blk uint64) []evidence {
	var out []evidence
	from = (from + 3) &^ 3
	for q := from; q+dirent.MinRecLen <= len(space); q += 4 {
		ino := binary.LittleEndian.Uint32(space[q:])
		if ino == 0 || !n.interest[ino] {
			continue
		}
		rl := int(binary.LittleEndian.Uint16(space[q+4:]))
		nl := int(space[q+6])
		if nl == 0 || rl%4 != 0 || rl < dirent.RecLen(nl) || q+rl > len(space) || q+dirent.HeaderSize+nl > len(space) {
			continue
		}
		name := space[q+dirent.HeaderSize : q+dirent.HeaderSize+nl]
		if dirent.CheckName(name) != nil {
			continue
		}
		out = append(out, n.entry(evidence{from: PathFromRemnant}, parent, blk, ino, name, space[q+7]))
	}
	return out
}

// inlineEntries collects the entries of an inline directory version.
func (n *namer) inlineEntries(v dirVersion) {
	data, err := inode.InlineData(v.in, v.ino)
	if err != nil || len(data) < dirent.InlineIBlockSize {
		return
	}
	p := n.params(v.ino, v.in.Generation)
	ib, xa := data[:dirent.InlineIBlockSize], data[dirent.InlineIBlockSize:]
	if dirent.CheckInline(ib, xa, p) != nil {
		return
	}
	base := evidence{from: PathFromLive}
	if v.logged {
		base = evidence{from: PathFromJournal, seq: v.seq, commit: v.commit}
	}
	blk := super.NoBlock
	if loc, err := n.fs.InodeLocation(v.ino); err == nil {
		blk = loc.Block
	}
	d := dirRef{v.ino, v.in.Generation}
	n.records(ib[dirent.InlineDotDotSize:], p, d, blk, base)
	n.records(xa, p, d, blk, base)
}
