package engine

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/ext4relink/ext4relink/bitmap"
	"github.com/ext4relink/ext4relink/inode"
	"github.com/ext4relink/ext4relink/super"
)

// Request says what to relink.
type Request struct {
	Inode uint32 // the orphan (single mode)
	Name  string // its new path (single mode)
	All   bool   // every deleted-open orphan ...
	Into  string // ... into this directory (default /lost+found), as #INODE
	// KeepPastEOF: keep the blocks past-eof orphans wrote past their size
	// and raise i_size over them, instead of freeing them (the default).
	KeepPastEOF bool
	// Scan: read every inode table for orphans on no list (see
	// ScanOrphans) and relink them too (--all); ScanProgress, if set, is
	// told how far the scan got.
	Scan         bool
	ScanProgress ScanProgress
	// Original: relink at the original path (see relinkOriginal) instead
	// of Name (with All: each at its own, or in Into with the reason).
	Original bool
	// Parents: create the directories of the target path that do not
	// exist (mkdir -p, in the same transaction; refused without a journal).
	Parents bool
	// gone: orphans --original treats as released for good (tests: a
	// parent directory removed and not pinned).
	gone map[uint32]bool
	// prepare, when set, changes the plan before the request (tests).
	prepare func(p *Plan, l *OrphanList) error
}

// Skipped is an orphan --all leaves alone, and why.
type Skipped struct {
	Inode  uint32
	Reason string
}

// PlanRelink validates the request against the filesystem (as the replayed
// journal shows it) and computes every block change, writing nothing.
func (fs *FS) PlanRelink(req Request, now time.Time) (*Plan, []Skipped, error) {
	if fs.Journal.FastCommitsRefused != nil {
		return nil, nil, fmt.Errorf("%w; committing over them would silently drop them", fs.Journal.FastCommitsRefused)
	}
	if err := fs.SB.CheckWrite(); err != nil {
		return nil, nil, err
	}
	if err := fs.CheckJournalForWrite(); err != nil {
		return nil, nil, err
	}
	l, err := fs.Orphans()
	if err != nil {
		return nil, nil, err
	}
	if err := fs.addScanFinds(l, req); err != nil {
		return nil, nil, err
	}
	if err := fs.checkDamage(l, req); err != nil {
		return nil, nil, err
	}
	p := NewPlan(fs, now)
	p.list = l
	p.KeepPastEOF = req.KeepPastEOF
	if p.history, err = fs.JournalHistory(); err != nil {
		return nil, nil, err
	}
	var skipped []Skipped
	if req.prepare != nil {
		if err := req.prepare(p, l); err != nil {
			return nil, nil, err
		}
	}
	switch {
	case req.Original:
		skipped, err = p.relinkOriginal(l, req)
	case req.All:
		if err = p.parentsFor(req.Parents, req.Into, "/lost+found"); err == nil {
			skipped, err = p.relinkAll(l, req.Into)
		}
	default:
		if err = p.parentsFor(req.Parents, req.Name, ""); err == nil {
			err = p.relinkOne(l, req.Inode, req.Name)
		}
	}
	if err != nil {
		return nil, nil, err
	}
	if err := p.settlePastEOF(); err != nil {
		return nil, nil, err
	}
	if err := p.unlist(l); err != nil {
		return nil, nil, err
	}
	if err := p.cutDamage(l); err != nil {
		return nil, nil, err
	}
	if err := p.settleOrphanPresent(); err != nil {
		return nil, nil, err
	}
	if err = p.Finish(); err == nil {
		err = p.placeTransaction(p.history)
	}
	return p, skipped, err
}

func (p *Plan) relinkOne(l *OrphanList, ino uint32, path string) error {
	if err := p.checkInodeNumber(ino); err != nil {
		return err
	}
	parent, name, existing, err := p.Resolve(path)
	if err != nil {
		return err
	}
	if existing != 0 && existing != ino {
		return fmt.Errorf("%w: %s already exists (inode %d); choose another name", ErrRequest, path, existing)
	}
	o, onList := findOrphan(l, ino)
	if !onList {
		return p.notAnOrphan(l, ino, path, parent, existing == ino)
	}
	resumed, err := p.resumable(o, existing == ino, nil)
	if err != nil {
		return err
	}
	return p.relink(o, parent, name, "/"+strings.Trim(path, "/"), existing == ino, resumed)
}

// relinkAll relinks every deleted-open file and symlink into dir as #INODE.
func (p *Plan) relinkAll(l *OrphanList, into string) ([]Skipped, error) {
	if prob, ok := unreadableMember(l); ok && !l.scanned {
		// An unreadable chain member hides every orphan behind it: "all"
		// would silently leave those out, unless the scan found them (the
		// link to it is then cut). A damaged link is checkDamage's.
		return nil, super.Errorf(super.ErrCorrupt, "orphan list", super.NoBlock, -1,
			"%s; --all would leave out the orphans that cannot be read (relink the readable ones one at a time with --inode)", prob)
	}
	if into == "" {
		into = "/lost+found"
	}
	refs, err := p.linkedOrphanRefs(l)
	if err != nil {
		return nil, err
	}
	var skipped []Skipped
	for _, o := range l.Orphans {
		path := fmt.Sprintf("%s/#%d", strings.TrimRight(into, "/"), o.Inode)
		resumed := false
		if refs != nil && o.Links > 0 {
			_, _, existing, err := p.Resolve(path)
			if err != nil {
				return nil, err
			}
			if resumed, err = p.resumable(o, existing == o.Inode, refs); err != nil {
				return nil, err
			}
		}
		why := skipReason(o)
		switch {
		case why != "":
		case p.Ordered && o.Type == TypeDir:
			why = orderedDirRefusal
		case p.Ordered && o.Source == SourceScan:
			why = orderedScanRefusal
		case o.State == StatePastEOF && p.trimRefusal() != "":
			why = p.trimRefusal()
		}
		if why != "" && !resumed {
			skipped = append(skipped, Skipped{o.Inode, why})
			continue
		}
		parent, name, existing, err := p.Resolve(path)
		if err != nil {
			return nil, err
		}
		if existing != 0 && existing != o.Inode {
			return nil, fmt.Errorf("%w: %s already exists (inode %d); choose another --into (do not mount the filesystem to move it away: a mount frees the orphans)", ErrRequest, path, existing)
		}
		if err := p.relink(o, parent, name, path, existing == o.Inode, resumed); err != nil {
			return nil, err
		}
	}
	if p.Ordered {
		if err := p.clearStaleDtimes(into); err != nil {
			return nil, err
		}
	}
	// Nothing left to relink is success: an interrupted earlier --all may
	// have finished them all (Commit still completes a pending replay).
	return skipped, nil
}

func skipReason(o Orphan) string {
	switch {
	case o.Problem != "":
		return "unreadable: " + o.Problem
	case o.Links > 0:
		return "truncate in progress (links > 0): not a deleted file; never touched"
	case o.State == StateReleasing:
		return fmt.Sprintf("the kernel had begun releasing it (i_size is already cut to %d but %d written block(s) remain mapped past it): part of its data may be freed and its size is lost; never touched", o.Size, o.PastEOFBlocks)
	case o.Type == TypeUnknown:
		return "its mode names no known file type"
	}
	return ""
}

// dirOrphanNote explains what relinking a directory orphan brings back.
const dirOrphanNote = "a directory removed with rmdir while a process still had it open (or as its working directory); rmdir only removes empty directories, so it comes back empty"

// relink plans one orphan: validation, the directory entry, the inode.
// resumed marks an orphan an interrupted ordered commit already gave its
// link count (see resumable).
func (p *Plan) relink(o Orphan, parent uint32, name []byte, path string, entryExists, resumed bool) error {
	if o.Problem != "" {
		// Report the damaged inode itself (a corrupt structure, not a bad request).
		if _, _, err := p.Inode(o.Inode); err != nil {
			return err
		}
	}
	if why := skipReason(o); why != "" && !resumed {
		return fmt.Errorf("%w: inode %d: %s", ErrRequest, o.Inode, why)
	}
	if p.Ordered && o.Type == TypeDir {
		return super.Errorf(super.ErrUnsupported, fmt.Sprintf("directory orphan %d", o.Inode), super.NoBlock, -1, "%s", orderedDirRefusal)
	}
	if p.Ordered && o.Source == SourceScan {
		return super.Errorf(super.ErrUnsupported, fmt.Sprintf("inode %d (on no orphan list)", o.Inode), super.NoBlock, -1, "%s", orderedScanRefusal)
	}
	in, _, err := p.Inode(o.Inode)
	if err != nil {
		return err
	}
	if err := p.checkOrphanData(o.Inode, in); err != nil {
		return err
	}
	pastEOF, err := p.pastEOFDecision(o, in)
	if err != nil {
		return err
	}
	r := Relinked{PastEOF: pastEOF, Inode: o.Inode, Path: path, Parent: parent, Type: o.Type, Size: o.Size,
		Source: o.Source, Position: o.Position, Slot: o.Slot, DirChange: "the entry already existed (an earlier run was interrupted)"}
	if !entryExists {
		d, err := p.OpenDir(parent)
		if err != nil {
			return err
		}
		allocated := len(p.Allocated)
		if r.DirChange, err = p.AddEntry(d, name, o.Inode, in.FileType(), p.Now); err != nil {
			return err
		}
		if p.Ordered && len(p.Allocated) > allocated {
			return super.Errorf(super.ErrUnsupported, fmt.Sprintf("directory inode %d", parent), super.NoBlock, -1,
				"adding %s needs a new directory block (%s), and the filesystem has no journal: a crash between allocating the block and linking it "+
					"would leave the filesystem inconsistent; choose a directory with room for the name", path, r.DirChange)
		}
		in, _, _ = p.Inode(o.Inode) // the parent may share the inode table block
	}
	old, links := in.Dtime, uint16(1)
	if in.IsDir() {
		links = 2
		r.DirChange += "; " + dirOrphanNote
		if err := p.relinkDirOrphan(o.Inode, in, parent); err != nil {
			return err
		}
	}
	oldLinks := in.LinksCount
	in.LinksCount, in.Dtime = links, 0
	in.SetCtime(p.Now)
	note := fmt.Sprintf("links %d -> %d, ctime set", oldLinks, links)
	if old != 0 {
		note = fmt.Sprintf("links %d -> %d, dtime (orphan chain link) %d -> 0, ctime set", oldLinks, links, old)
	}
	if resumed {
		r.DirChange = "resumed: an interrupted earlier run had set the link count; " + r.DirChange
	}
	if err := p.PutInode(o.Inode, in, note); err != nil {
		return err
	}
	p.Relinks = append(p.Relinks, r)
	return nil
}

func findOrphan(l *OrphanList, ino uint32) (Orphan, bool) {
	for _, o := range l.Orphans {
		if o.Inode == ino {
			return o, true
		}
	}
	return Orphan{}, false
}

func (p *Plan) checkInodeNumber(ino uint32) error {
	switch {
	case ino == 0:
		return fmt.Errorf("%w: --inode is required (see 'ext4relink list')", ErrRequest)
	case ino > p.SB.InodesCount:
		return fmt.Errorf("%w: inode %d is out of range: this filesystem has %d inodes", ErrRequest, ino, p.SB.InodesCount)
	case ino < p.SB.FirstInode():
		return fmt.Errorf("%w: inode %d is reserved for the filesystem's own use (inodes below %d), never an orphan", ErrRequest, ino, p.SB.FirstInode())
	}
	return nil
}

// notAnOrphan explains why an inode that is not on the orphan list cannot
// be relinked, or accepts it when an earlier run already finished.
func (p *Plan) notAnOrphan(l *OrphanList, ino uint32, path string, parent uint32, linkedHere bool) error {
	// A free inode may never have been written (all zeros, no valid
	// checksum): ask its bitmap before reading it.
	used, err := p.InodeInUse(ino)
	if err != nil {
		return err
	}
	if !used {
		return fmt.Errorf("%w: inode %d is not on the orphan list: it is free (not in use), there is nothing to bring back", ErrRequest, ino)
	}
	in, _, err := p.Inode(ino)
	if err != nil {
		return err
	}
	switch {
	case linkedHere && in.LinksCount > 0:
		r := Relinked{Inode: ino, Path: "/" + strings.Trim(path, "/"), Parent: parent, Type: typeName(in), Size: in.Size(), Source: SourceLinked, AlreadyDone: true,
			DirChange: "nothing to do: the name already links this inode and it is no longer an orphan"}
		if in.Dtime != 0 {
			// An ordered commit interrupted after the chain skipped the
			// inode but before its own i_dtime (the old chain link) was
			// cleared.
			r.DirChange = "the name already links this inode and it is off the orphan list; its stale i_dtime is cleared"
			old := in.Dtime
			in.Dtime = 0
			if err := p.PutInode(ino, in, fmt.Sprintf("stale dtime (old orphan chain link) %d -> 0", old)); err != nil {
				return err
			}
		}
		p.Relinks = append(p.Relinks, r)
		return nil
	case in.LinksCount > 0:
		return fmt.Errorf("%w: inode %d is not an orphan: it has %d link(s) and is not on the orphan list", ErrRequest, ino, in.LinksCount)
	case len(l.Problems) > 0:
		// It may be an orphan behind the damaged part of the list.
		return super.Errorf(super.ErrCorrupt, "orphan list", super.NoBlock, -1,
			"inode %d has no links but is not among the orphans that can be read: %s", ino, l.Problems[0])
	case in.Mode == 0 || in.Dtime != 0:
		return fmt.Errorf("%w: inode %d is not on the orphan list: it is free (deleted and released), its data is no longer protected", ErrRequest, ino)
	}
	return fmt.Errorf("%w: inode %d has no links but is not on the orphan list (nor in the orphan file); ext4relink only relinks orphans the kernel recorded", ErrRequest, ino)
}

// checkOrphanData refuses an orphan whose inode or blocks the kernel has
// already begun to free: every mapped block (data, extent tree or indirect
// blocks, xattr block) must still be marked in use, and the inode too.
func (p *Plan) checkOrphanData(ino uint32, in *inode.Inode) error {
	if err := p.checkInodeInUse(ino); err != nil {
		return err
	}
	m, err := p.ReadMap(ino, in)
	if err != nil {
		return err
	}
	blocks := slices.Clone(m.Meta)
	if acl := in.FileACL(p.SB.Is64Bit()); acl != 0 {
		blocks = append(blocks, acl)
	}
	runs := slices.Clone(m.Runs)
	for _, b := range blocks {
		runs = append(runs, inode.Run{Physical: b, Len: 1})
	}
	return p.checkRunsInUse(ino, runs)
}

func (p *Plan) checkRunsInUse(ino uint32, runs []inode.Run) error {
	bitmaps := map[uint64]*bitmap.Group{}
	for _, r := range runs {
		for b := r.Physical; b < r.Physical+uint64(r.Len); b++ {
			g, idx := p.SB.GroupOfBlock(b)
			grp, ok := bitmaps[g]
			if !ok {
				var err error
				if grp, err = p.BlockBitmapView(g); err != nil {
					return err
				}
				bitmaps[g] = grp
			}
			if grp.BlockBitmap == nil || !bitmap.Test(grp.BlockBitmap, idx>>p.SB.ClusterBits()) {
				return super.Errorf(super.ErrCorrupt, fmt.Sprintf("block bitmap of group %d", g), grp.Desc.BlockBitmap(), -1,
					"block %d of inode %d is marked free: the kernel already began releasing this file, so its data cannot be trusted; refusing", b, ino)
			}
		}
	}
	return nil
}

func (p *Plan) checkInodeInUse(ino uint32) error {
	g, idx := p.SB.GroupOfInode(ino)
	gd, err := p.GroupDesc(g)
	if err != nil {
		return err
	}
	if p.SB.InodeUninit(gd) {
		return fmt.Errorf("%w: inode %d lies in a group whose inodes were never initialised (INODE_UNINIT): it is not in use", ErrRequest, ino)
	}
	used, err := p.InodeInUse(ino)
	if err != nil {
		return err
	}
	if !used {
		return super.Errorf(super.ErrCorrupt, fmt.Sprintf("inode bitmap of group %d", g), gd.InodeBitmap(), int64(idx/8),
			"inode %d is marked free: the kernel already released it; refusing", ino)
	}
	return nil
}
