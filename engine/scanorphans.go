package engine

import (
	"fmt"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/ext4relink/ext4relink/bitmap"
	"github.com/ext4relink/ext4relink/ext4fs"
	"github.com/ext4relink/ext4relink/inode"
	"github.com/ext4relink/ext4relink/super"
)

// Orphans off every list. A torn write can cut the orphan chain (a lost
// inode-table block, a crash mid-update of a member's i_dtime); the
// members behind the cut are then on no list, and e2fsck frees them
// ("Deleted inode N has zero dtime", "Inode N was part of the orphaned
// inode list"). ScanOrphans finds them by reading every initialised inode
// table, as e2fsck's pass 1 does, but looking only for what the kernel
// leaves on an inode that was deleted while open.

// ScanProgress is told, now and then, how many bytes of inode table the
// scan has read out of how many it will read. It is called from one
// goroutine at a time.
type ScanProgress func(done, total uint64)

// ScanStats says what a scan read and what it left out.
type ScanStats struct {
	Groups     uint64    // groups whose inode table was read
	UninitSkip uint64    // INODE_UNINIT groups, not read
	TableBytes uint64    // bytes of inode table read
	Candidates int       // in-use inodes with no links, mode set, plausible i_dtime, on no list
	Found      int       // added to the list (source "scan")
	Rejected   []Skipped // candidates left out, and why
	Elapsed    time.Duration
}

// scanChunk bounds one read: large sequential reads, a bounded buffer.
const scanChunk = 1 << 20

// scanWorkers groups are read at once: a few reads in flight keep an SSD
// busy, and more threads than CPUs only wait for each other (the pread
// from the page cache is a copy the CPU makes).
var scanWorkers = min(max(runtime.GOMAXPROCS(0), 2), 4)

// scanGroup is the part of one group's inode table the scan reads.
type scanGroup struct {
	g      uint64
	table  uint64 // first block of the inode table
	blocks uint64 // blocks read: those holding the slots below
	slots  uint32 // inode slots read, from the first
	bm     []byte // the group's inode bitmap, verified
	found  []uint32
}

// ScanOrphans reads every initialised inode table through the journal
// overlay and appends to l each inode that looks deleted-open but is on no
// list (source "scan"): no links, mode set, i_dtime 0 or a valid inode
// number (a chain link), marked in use in the inode bitmap, every block it
// maps marked in use, and not being released. INODE_UNINIT groups and the
// bg_itable_unused tail (group checksums only, as the kernel) are not read:
// the kernel has never written an inode there. A bitmap bit set in that
// tail is read anyway.
func (fs *FS) ScanOrphans(l *OrphanList, progress ScanProgress) (*ScanStats, error) {
	start := time.Now()
	st := &ScanStats{}
	groups, err := fs.scanGroups(st)
	if err != nil {
		return nil, err
	}
	patch, err := fs.overlayIn(groups)
	if err != nil {
		return nil, err
	}
	if err := fs.readTables(groups, patch, st, progress); err != nil {
		return nil, err
	}
	l.scanned = true
	listed := map[uint32]bool{}
	for _, o := range l.Orphans {
		listed[o.Inode] = true
	}
	p := NewPlan(fs, start)
	for _, sg := range groups {
		for _, ino := range sg.found {
			if listed[ino] {
				continue
			}
			st.Candidates++
			o, why := fs.scanCandidate(p, ino)
			if why != "" {
				st.Rejected = append(st.Rejected, Skipped{ino, why})
				continue
			}
			l.Orphans = append(l.Orphans, o)
			st.Found++
		}
	}
	st.Elapsed = time.Since(start)
	return st, nil
}

// scanGroups lists the groups to read and how much of each, with their
// inode bitmaps.
func (fs *FS) scanGroups(st *ScanStats) ([]*scanGroup, error) {
	sb := fs.SB
	ipg, isz, bs := sb.InodesPerGroup, sb.InodeSizeBytes(), sb.BlockSize()
	perBlock := bs / isz
	var out []*scanGroup
	for g := range sb.GroupCount() {
		if fs.rawInodeUninit(g) {
			st.UninitSkip++
			continue
		}
		gd, err := fs.GroupDesc(g)
		if err != nil {
			return nil, err
		}
		if sb.InodeUninit(gd) {
			st.UninitSkip++
			continue
		}
		bm, err := ext4fs.ReadInodeBitmap(sb, g, gd, fs.ReadBlock)
		if err != nil {
			return nil, err
		}
		slots := ipg
		if sb.HasGroupCsum() && gd.ItableUnused() <= ipg {
			slots = ipg - gd.ItableUnused()
		}
		for i := ipg; i > slots; i-- {
			if bitmap.Test(bm, uint64(i-1)) {
				slots = i // in use past bg_itable_unused: read up to it
				break
			}
		}
		if slots == 0 {
			continue
		}
		st.Groups++
		out = append(out, &scanGroup{g: g, table: gd.InodeTable(), blocks: uint64((slots + perBlock - 1) / perBlock), slots: slots, bm: bm})
	}
	return out, nil
}

// overlayIn reads, through ReadBlock, every inode-table block the scan
// reads that a layer above the device holds (the replayed journal, the
// fast-commit replay): those replace the device's copy in the large
// reads. ReadBlock answers from the view's own top layer, so a block one
// layer lists and the view does not read comes back as on the device.
func (fs *FS) overlayIn(groups []*scanGroup) (map[uint64][]byte, error) {
	held := fs.FastCommitBlocks()
	if ov := fs.JournalOverlay(); ov != nil {
		held = append(held, ov.Blocks()...)
	}
	patch := map[uint64][]byte{}
	for _, b := range held {
		if _, ok := patch[b]; ok || !inScan(groups, b) {
			continue
		}
		data, err := fs.ReadBlock(b)
		if err != nil {
			return nil, err
		}
		patch[b] = data
	}
	return patch, nil
}

func inScan(groups []*scanGroup, b uint64) bool {
	for _, sg := range groups {
		if b >= sg.table && b < sg.table+sg.blocks {
			return true
		}
	}
	return false
}

// readTables reads the groups' tables, several groups at once, and keeps
// in each group's found the slots whose first fields look deleted-open.
func (fs *FS) readTables(groups []*scanGroup, patch map[uint64][]byte, st *ScanStats, progress ScanProgress) error {
	bs := uint64(fs.BlockSize())
	var total uint64
	for _, sg := range groups {
		total += sg.blocks * bs
	}
	st.TableBytes = total
	var done atomic.Uint64
	var mu sync.Mutex
	last := time.Now()
	report := func(n uint64) {
		d := done.Add(n)
		if progress == nil {
			return
		}
		mu.Lock()
		defer mu.Unlock()
		if time.Since(last) > 200*time.Millisecond || d == total {
			last = time.Now()
			progress(d, total)
		}
	}
	// One buffer per worker, reused from group to group.
	bufs := make(chan []byte, scanWorkers)
	for range scanWorkers {
		bufs <- make([]byte, max(uint64(scanChunk)/bs, 1)*bs)
	}
	var eg errgroup.Group
	eg.SetLimit(scanWorkers)
	for _, sg := range groups {
		eg.Go(func() error {
			buf := <-bufs
			defer func() { bufs <- buf }()
			return fs.readTable(sg, buf, patch, report)
		})
	}
	return eg.Wait()
}

// readTable reads one group's table in chunks of whole blocks (buf: one
// chunk).
func (fs *FS) readTable(sg *scanGroup, buf []byte, patch map[uint64][]byte, report func(uint64)) error {
	bs := uint64(fs.BlockSize())
	perChunk := uint64(len(buf)) / bs
	perBlock := fs.BlockSize() / fs.SB.InodeSizeBytes()
	for first := uint64(0); first < sg.blocks; first += perChunk {
		n := min(perChunk, sg.blocks-first)
		b := buf[:n*bs]
		if _, err := fs.Dev().ReadAt(b, int64((sg.table+first)*bs)); err != nil {
			return fmt.Errorf("reading the inode table of group %d: %w", sg.g, err)
		}
		for k := range n {
			if data, ok := patch[sg.table+first+k]; ok {
				copy(b[k*bs:], data)
			}
		}
		fs.sieve(sg, b, uint32(first)*perBlock)
		report(n * bs)
	}
	return nil
}

// sieve keeps the in-use slots of b (starting at slot first) whose mode,
// link count and i_dtime look like a deleted-open inode's.
func (fs *FS) sieve(sg *scanGroup, b []byte, first uint32) {
	isz := int(fs.SB.InodeSizeBytes())
	for k := 0; (k+1)*isz <= len(b); k++ {
		slot := first + uint32(k)
		if slot >= sg.slots {
			return
		}
		if !bitmap.Test(sg.bm, uint64(slot)) {
			continue
		}
		gl, ok := inode.Peek(b[k*isz : (k+1)*isz])
		ino := uint32(sg.g)*fs.SB.InodesPerGroup + slot + 1
		if ok && ino >= fs.SB.FirstInode() && gl.LinksCount == 0 && gl.Mode != 0 && fs.chainLinkOrZero(gl.Dtime) {
			sg.found = append(sg.found, ino)
		}
	}
}

// chainLinkOrZero: an i_dtime an orphan may carry (0, or the next chain
// member's inode number), not the deletion time the kernel writes when it
// frees an inode.
func (fs *FS) chainLinkOrZero(d uint32) bool {
	return d == 0 || (d >= fs.SB.FirstInode() && d <= fs.SB.InodesCount)
}

// scanCandidate checks one inode the sieve kept (or --inode named) the way
// a listed orphan is checked before a relink: readable and valid, no
// links, a known file type, not being released, its inode and every block
// it maps marked in use. why says what rules it out.
func (fs *FS) scanCandidate(p *Plan, ino uint32) (o Orphan, why string) {
	o = fs.describe(ino)
	switch {
	case o.Problem != "":
		return o, "unreadable: " + o.Problem
	case o.Links != 0:
		return o, fmt.Sprintf("it has %d link(s)", o.Links)
	case !fs.chainLinkOrZero(o.Dtime):
		return o, fmt.Sprintf("its i_dtime %d is a deletion time, not a chain link: the kernel freed it", o.Dtime)
	case o.Type == TypeUnknown:
		return o, "its mode names no known file type"
	case o.State != StateDeletedOpen && o.State != StatePastEOF:
		return o, skipReason(o)
	}
	in, _, err := fs.ReadInode(ino)
	if err != nil {
		return o, "unreadable: " + err.Error()
	}
	if in.Mode == 0 {
		return o, "its mode is 0: a free inode"
	}
	if err := p.checkOrphanData(ino, in); err != nil {
		return o, err.Error()
	}
	o.Source = SourceScan
	return o, ""
}

// scanOne adds inode ino to l when it is on no list but passes the scan's
// checks: --inode N of an orphan off every list needs no whole scan.
func (fs *FS) scanOne(l *OrphanList, ino uint32) {
	if ino < fs.SB.FirstInode() || ino > fs.SB.InodesCount {
		return
	}
	if slices.ContainsFunc(l.Orphans, func(o Orphan) bool { return o.Inode == ino }) {
		return
	}
	p := NewPlan(fs, time.Now())
	if used, err := p.InodeInUse(ino); err != nil || !used {
		return
	}
	if o, why := fs.scanCandidate(p, ino); why == "" {
		l.Orphans = append(l.Orphans, o)
	}
}

// addScanFinds adds to l the orphans on no list a relink may take: every
// scan find with req.Scan, else the one inode --inode names.
func (fs *FS) addScanFinds(l *OrphanList, req Request) error {
	switch {
	case req.Scan:
		_, err := fs.ScanOrphans(l, req.ScanProgress)
		return err
	case !req.All:
		fs.scanOne(l, req.Inode)
	}
	return nil
}

// unreadableMember is the problem of the first listed orphan that could
// not be read (the chain cannot be followed past one).
func unreadableMember(l *OrphanList) (string, bool) {
	for _, o := range l.Orphans {
		switch {
		case o.Problem == "":
		case o.Source == SourceOrphanFile:
			return fmt.Sprintf("orphan file slot %d: %s", o.Slot, o.Problem), true
		default:
			return fmt.Sprintf("orphan chain position %d: %s", o.Position, o.Problem), true
		}
	}
	return "", false
}

// orderedScanRefusal: why an orphan on no list is not relinked without a
// journal. The ordered commit's first step gives it its link count; a
// crash before its entry is written would leave an inode with a link and
// no name, which a re-run cannot find again (it is on no list and no
// longer looks deleted), only e2fsck (into /lost+found).
const orderedScanRefusal = "it is on no orphan list (found by --scan) and the filesystem has no journal: " +
	"the ordered commit cannot make giving it a link and a name crash-safe; copy it out with debugfs 'dump' instead"

// rawInodeUninit: group g's descriptor, as stored (through the overlay),
// verifies and says INODE_UNINIT; decoding 131,072 descriptors of a 16 TiB
// filesystem only to skip them would cost most of the scan.
func (fs *FS) rawInodeUninit(g uint64) bool {
	blk, off := fs.SB.DescLocation(g)
	b, err := fs.ReadBlock(blk)
	end := off + fs.SB.DescSizeBytes()
	if err != nil || int(end) > len(b) {
		return false // GroupDesc reports it
	}
	return super.RawInodeUninit(fs.SB, uint32(g), b[off:end])
}
