package engine

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/ext4relink/ext4relink/inode"
	"github.com/ext4relink/ext4relink/journal"
	"github.com/ext4relink/ext4relink/super"
)

// UndeleteRequest says which deleted file to put back, and where.
type UndeleteRequest struct {
	Inode uint32
	Name  string // the path to give it; empty with Original
	// Original puts it back under its original path (refused when that
	// is not known).
	Original bool
}

// Undeleted describes the file an undelete plan puts back.
type Undeleted struct {
	Inode     uint32
	Path      string
	Parent    uint32
	Type      FileType
	Size      uint64
	Blocks    uint64 // blocks marked in use again (data and map)
	Restored  int    // extent-tree or indirect blocks written back from their journal copies
	Sequence  uint32 // the transaction holding the live copy of the inode
	State     DeletedState
	DirChange string
	// AlreadyDone: an earlier run already put it back under Path.
	AlreadyDone bool
	// SHA256 is the content's hash as read through the recovered map
	// before anything is written; Verify reads it back through the
	// filesystem.
	SHA256 string
}

// PlanUndelete validates the request and computes every block change,
// writing nothing: the freed inode's live journal copy is written back
// (links 1, dtime 0, generation kept, fresh checksum), its blocks and
// inode marked in use through the one allocator, freed map blocks
// restored from their copies, the directory entry added. Only an intact
// file is put back; anything in use is refused, named.
func (fs *FS) PlanUndelete(req UndeleteRequest, now time.Time) (*Plan, *Undeleted, error) {
	if err := fs.undeleteWritable(); err != nil {
		return nil, nil, err
	}
	p := NewPlan(fs, now)
	if err := p.checkInodeNumber(req.Inode); err != nil {
		return nil, nil, err
	}
	if done, u, err := p.undeleteDone(req); done || err != nil {
		return p, u, err
	}
	h, err := fs.DeletedHistory()
	if err != nil {
		return nil, nil, err
	}
	d, err := fs.deletedFile(h, req.Inode)
	if err != nil {
		return nil, nil, err
	}
	u, err := p.undelete(d, req)
	if err != nil {
		return nil, nil, err
	}
	if err := p.Finish(); err != nil {
		return nil, nil, err
	}
	if err := p.placeTransaction(h); err != nil {
		return nil, nil, err
	}
	return p, u, fs.checkLogRoom(d, h, p.LogPlace)
}

// undeleteWritable refuses what a relink refuses, and a filesystem
// without an internal journal: the blocks an undelete writes (bitmaps,
// restored tree blocks, inode, entry) must land together.
func (fs *FS) undeleteWritable() error {
	if fs.JournalFile() == nil {
		return super.Errorf(super.ErrUnsupported, "journal", super.NoBlock, -1,
			"the filesystem has no internal journal: an undelete writes bitmaps, map blocks, the inode and a directory entry, which only one journal transaction keeps consistent across a crash; copy the file out instead (extract --deleted)")
	}
	if fs.Journal.FastCommitsRefused != nil {
		return fmt.Errorf("%w; committing over them would silently drop them", fs.Journal.FastCommitsRefused)
	}
	if err := fs.SB.CheckWrite(); err != nil {
		return err
	}
	return fs.CheckJournalForWrite()
}

// deletedFile finds inode ino among the deleted files the journal
// describes.
func (fs *FS) deletedFile(h *journal.History, ino uint32) (*DeletedFile, error) {
	l, err := fs.Deleted(h)
	if err != nil {
		return nil, err
	}
	for i := range l.Files {
		if l.Files[i].Inode == ino {
			return &l.Files[i], nil
		}
	}
	return nil, fmt.Errorf("%w: inode %d is not a deleted file the journal describes (see 'ext4relink deleted'): it is in use, was never used, or was deleted before the oldest transaction still in the journal", ErrRequest, ino)
}

// undeleteDone recognises a run that already finished (a re-run after a
// crash past the commit point): the path names the inode, which is in use
// with links. Without a name to check (Original) nothing is assumed.
func (p *Plan) undeleteDone(req UndeleteRequest) (bool, *Undeleted, error) {
	used, err := p.InodeInUse(req.Inode)
	if err != nil || !used {
		return false, nil, err
	}
	in, _, err := p.Inode(req.Inode)
	if err != nil || in.LinksCount == 0 {
		return false, nil, err
	}
	name := req.Name
	if req.Original {
		if name, err = p.fs.originalOfLive(req.Inode, in); err != nil || name == "" {
			return false, nil, err
		}
	}
	parent, _, existing, err := p.Resolve(name)
	if err != nil || existing != req.Inode {
		return false, nil, nil
	}
	return true, &Undeleted{Inode: req.Inode, Path: "/" + strings.Trim(name, "/"), Parent: parent, Type: typeName(in),
		Size: in.Size(), AlreadyDone: true, State: DeletedIntact,
		DirChange: "nothing to do: the name already links this inode (an earlier run put it back)"}, nil
}

// originalOfLive is the original path the journal's evidence gives inode
// ino (in use again, in): for a re-run of an undelete --original.
func (fs *FS) originalOfLive(ino uint32, in *inode.Inode) (string, error) {
	h, err := fs.DeletedHistory()
	if err != nil {
		return "", err
	}
	f := []DeletedFile{{Inode: ino, live: in}}
	fs.nameDeleted(f, h)
	return f[0].Path, nil
}

// undelete plans putting d back.
func (p *Plan) undelete(d *DeletedFile, req UndeleteRequest) (*Undeleted, error) {
	path, err := undeletePath(d, req)
	if err != nil {
		return nil, err
	}
	if err := undeletable(d); err != nil {
		return nil, err
	}
	parent, name, existing, err := p.Resolve(path)
	if err != nil {
		return nil, err
	}
	if existing != 0 {
		return nil, fmt.Errorf("%w: %s already exists (inode %d); choose another name with --name", ErrRequest, path, existing)
	}
	sum, err := p.fs.deletedSHA(d)
	if err != nil {
		return nil, err
	}
	need := neededBlocks(d.bmap)
	if err := p.checkFree(d.Inode, need); err != nil {
		return nil, err
	}
	u := &Undeleted{Inode: d.Inode, Path: path, Parent: parent, Type: d.Type, Size: d.Size, Blocks: uint64(len(need)),
		Sequence: d.Sequence, State: d.State, SHA256: sum}
	why := fmt.Sprintf("undelete of inode %d", d.Inode)
	if err := p.MarkBlocks(need, true, why); err != nil {
		return nil, err
	}
	if err := p.MarkInodeUsed(d.Inode, false); err != nil {
		return nil, err
	}
	for _, b := range d.bmap.Meta {
		p.Write(b, slices.Clone(d.meta[b]), fmt.Sprintf("map block of inode %d restored from its journal copy (as of transaction %d)", d.Inode, d.Sequence))
		u.Restored++
	}
	dir, err := p.OpenDir(parent)
	if err != nil {
		return nil, err
	}
	in := d.live.Clone()
	if u.DirChange, err = p.AddEntry(dir, name, d.Inode, in.FileType(), p.Now); err != nil {
		return nil, err
	}
	old := in.LinksCount
	in.LinksCount, in.Dtime = 1, 0
	in.SetCtime(p.Now)
	note := fmt.Sprintf("written back from its live journal copy (transaction %d): links %d -> 1, dtime 0, generation %d kept, ctime set", d.Sequence, old, in.Generation)
	if err := p.PutInode(d.Inode, in, note); err != nil {
		return nil, err
	}
	return u, nil
}

// undeletePath is the path the file goes back to.
func undeletePath(d *DeletedFile, req UndeleteRequest) (string, error) {
	switch {
	case req.Original && d.Path == "":
		return "", fmt.Errorf("%w: inode %d: its original path is not known (%s); give one with --name", ErrRequest, d.Inode, d.PathReason)
	case req.Original:
		return d.Path, nil
	}
	return "/" + strings.Trim(req.Name, "/"), nil
}

// undeletable refuses what cannot be put back whole.
func undeletable(d *DeletedFile) error {
	switch {
	case d.State != DeletedIntact:
		return fmt.Errorf("%w: inode %d is %s: %s; only an intact file is put back in place (copy the rest out with extract --deleted)", ErrRequest, d.Inode, d.State, d.Reason)
	case d.Type != TypeFile && d.Type != TypeSymlink:
		return fmt.Errorf("%w: inode %d is a %s: only regular files and symbolic links are put back (undelete the files of a removed directory one by one)", ErrRequest, d.Inode, d.Type)
	case d.live.FileACL(true) != 0:
		return super.Errorf(super.ErrUnsupported, fmt.Sprintf("inode %d", d.Inode), super.NoBlock, -1,
			"its extended attributes were in a separate block (%d), which undelete does not restore; copy it out with extract --deleted", d.live.FileACL(true))
	}
	return nil
}

// neededBlocks lists the data and map blocks of m.
func neededBlocks(m *inode.BlockMap) []uint64 {
	out := slices.Clone(m.Meta)
	for _, r := range m.Runs {
		for k := range uint64(r.Len) {
			out = append(out, r.Physical+k)
		}
	}
	return out
}

// checkFree refuses, naming it, any block or the inode in use now.
func (p *Plan) checkFree(ino uint32, blocks []uint64) error {
	used, err := p.InodeInUse(ino)
	if err != nil {
		return err
	}
	if used {
		return fmt.Errorf("%w: inode %d is in use again", ErrRequest, ino)
	}
	for _, b := range blocks {
		inUse, err := p.BlockInUse(b)
		if err != nil {
			return err
		}
		if inUse {
			return fmt.Errorf("%w: block %d of inode %d is in use again: putting the file back would give it another file's data; refusing", ErrRequest, b, ino)
		}
	}
	return nil
}

// deletedSHA hashes the content through the recovered map.
func (fs *FS) deletedSHA(d *DeletedFile) (string, error) {
	h := sha256.New()
	if err := fs.CopyDeleted(h, d); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// checkLogRoom refuses when the undelete's own journal transaction,
// written after the newest transaction in the log (lp, see logPlace) and
// wrapping to the log's first block, would overwrite a transaction the
// file is recovered from (its live copy or any newer one): a crash before
// the commit point would then leave the file no longer recoverable.
func (fs *FS) checkLogRoom(d *DeletedFile, h *journal.History, lp *LogPlace) error {
	if lp == nil {
		return nil
	}
	j := fs.JournalFile()
	for _, t := range fs.transactions(h) {
		if int32(t.Sequence-d.Sequence) < 0 {
			continue
		}
		if overlapsLog(j, t.Start, t.CommitBlock, lp.Start, lp.Blocks) {
			return super.Errorf(super.ErrUnsupported, "journal", super.NoBlock, -1,
				"the undelete's journal transaction (%d blocks from journal block %d, after the newest transaction, wrapping to the start of the log) would overwrite transaction %d, which the file is recovered from; copy it out with extract --deleted instead",
				lp.Blocks, lp.Start, t.Sequence)
		}
	}
	return nil
}

// overlaps: does the circular range [s, c] meet [lo, hi)?
func overlaps(s, c, lo, hi uint64) bool {
	if s <= c {
		return s < hi && c >= lo
	}
	return c >= lo || s < hi // wraps: [s, last) and [first, c]
}
