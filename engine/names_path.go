package engine

import (
	"encoding/binary"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/ext4relink/ext4relink/dirent"
	"github.com/ext4relink/ext4relink/inode"
	"github.com/ext4relink/ext4relink/super"
)

// maxDepth bounds the directory walks (a loop of '..' links would
// otherwise never end).
const maxDepth = 4096

// rank orders evidence: a live entry, then journal copies newest first,
// then remnants. It returns a class and, for the journal, the sequence.
func better(a, b evidence) bool {
	ra, rb := classOf(a.from), classOf(b.from)
	if ra != rb {
		return ra > rb
	}
	return a.from == PathFromJournal && int32(a.seq-b.seq) > 0
}

func classOf(s PathSource) int {
	switch s {
	case PathFromLive:
		return 3
	case PathFromJournal:
		return 2
	}
	return 1
}

func sameRank(a, b evidence) bool { return !better(a, b) && !better(b, a) }

// candidates is the evidence for inode ino that agrees with what it is:
// its file type and valid name, and for an orphan, not older than its
// creation. One per (directory, name): the best.
func (n *namer) candidates(ino uint32, ft uint8, t *nameTarget) []evidence {
	best := map[[2]string]evidence{}
	for _, e := range n.ev[ino] {
		if n.fs.SB.HasIncompat(super.IncompatFiletype) && e.ft != ft || dirent.CheckName([]byte(e.name)) != nil {
			continue
		}
		if t != nil && !n.sameFile(ino, t, e) {
			continue
		}
		k := [2]string{fmt.Sprint(e.parent, "/", e.parentGen), e.name}
		if old, ok := best[k]; !ok || better(e, old) {
			best[k] = e
		}
	}
	out := make([]evidence, 0, len(best))
	for _, e := range best {
		out = append(out, e)
	}
	slices.SortFunc(out, func(a, b evidence) int {
		switch {
		case better(a, b):
			return -1
		case better(b, a):
			return 1
		}
		return strings.Compare(a.name, b.name)
	})
	return out
}

// clockSlack is how far a commit time may lag the creation time of an
// inode created in that very transaction: jbd2 stamps commits with the
// coarse clock, which lags the fine-grained one inode times may come from
// by up to one tick (10 ms at HZ=100).
const clockSlack = 50 * time.Millisecond

// sameFile discards journal evidence of an earlier file that had the same
// inode number: committed before the orphan's i_crtime, or when the
// newest copy of its inode at that time has another generation or type.
func (n *namer) sameFile(ino uint32, t *nameTarget, e evidence) bool {
	if e.from == PathFromRemnant {
		return n.remnantRecent(t, e)
	}
	if e.from != PathFromJournal {
		return true
	}
	if t.hasCrtime && e.commit.Before(t.crtime.Add(-clockSlack)) {
		return false
	}
	var newest *inodeCopy
	for i, c := range n.copies[ino] {
		if int32(e.seq-c.seq) >= 0 && (newest == nil || int32(c.seq-newest.seq) > 0) {
			newest = &n.copies[ino][i]
		}
	}
	if newest == nil {
		// Nothing dates the entry but i_crtime: without it (128-byte
		// inodes, ext3) an entry that no inode copy of its time
		// confirms may be an earlier file's.
		return t.hasCrtime
	}
	return newest.gen == t.gen && newest.mode == inode.ModeOfFileType(t.ft)
}

// remnantRecent: a remnant carries no date, and may be the name of an
// earlier file with the same inode number. It counts only when its
// directory changed at or after the orphan's last change: the unlink
// sets the file's ctime to the directory's, and nothing can make the
// file's later without a write to the file, which is then no evidence
// either way (the name is dropped, never wrong).
func (n *namer) remnantRecent(t *nameTarget, e evidence) bool {
	if t.ctime.IsZero() {
		return false
	}
	in, _, err := n.fs.ReadInode(e.parent)
	return err == nil && in.IsDir() && in.Generation == e.parentGen && !in.ChangeTime().Before(t.ctime)
}

// choose returns the name evidence picks for inode ino, or why none.
func (n *namer) choose(cs []evidence) (evidence, string) {
	switch {
	case len(cs) == 0:
		return evidence{}, reasonNoEntry
	case len(cs) > 1 && sameRank(cs[0], cs[1]):
		return evidence{}, reasonAmbiguous
	}
	return cs[0], ""
}

// result is the NameResult of orphan ino.
func (n *namer) result(ino uint32) NameResult {
	t := n.targets[ino]
	cs := n.candidates(ino, t.ft, t)
	if t.ft == dirent.FtDir {
		cs = n.underDotDot(ino, cs)
	}
	var r NameResult
	for _, e := range cs {
		c := NameCandidate{Parent: e.parent, Name: e.name, From: e.from, Block: e.block}
		if p, ok := n.dirPath(dirRef{e.parent, e.parentGen}, 0); ok {
			c.Path = p + "/" + e.name
		}
		if e.from == PathFromJournal {
			c.Sequence = e.seq
			tm := e.commit
			c.Commit = &tm
		}
		r.Candidates = append(r.Candidates, c)
	}
	e, why := n.choose(cs)
	if why != "" {
		r.Reason = why
		return r
	}
	r.Parent, r.parentGen, r.Name = e.parent, e.parentGen, e.name
	p, ok := n.dirPath(dirRef{e.parent, e.parentGen}, 0)
	if !ok {
		r.Reason = fmt.Sprintf(reasonNoParent, e.parent)
		return r
	}
	r.Path, r.From = p+"/"+e.name, e.from
	return r
}

// underDotDot keeps, for a directory orphan whose '..' is still readable,
// only the entries in that parent: a removed directory keeps the '..' of
// the directory it was last in.
func (n *namer) underDotDot(ino uint32, cs []evidence) []evidence {
	p, ok := n.fs.liveParent(ino)
	if !ok {
		return cs
	}
	var out []evidence
	for _, e := range cs {
		if e.parent == p {
			out = append(out, e)
		}
	}
	return out
}

// dirPath is the path of directory d ("" for the root): from the live
// tree while d is the live directory of that number and generation, else
// from the same evidence as an orphan's name.
func (n *namer) dirPath(d dirRef, depth int) (string, bool) {
	if d.ino == 2 {
		return "", true
	}
	if p, ok := n.paths[d]; ok {
		if p == nil {
			return "", false // a loop
		}
		return *p, *p != ""
	}
	if depth > maxDepth {
		return "", false
	}
	n.paths[d] = nil
	path, ok := n.resolveDir(d, depth)
	if !ok {
		path = ""
	}
	n.paths[d] = &path
	return path, ok
}

func (n *namer) resolveDir(d dirRef, depth int) (string, bool) {
	t := n.targets[d.ino]
	in, _, err := n.fs.ReadInode(d.ino)
	live := err == nil && in.IsDir() && in.Generation == d.gen
	if live && t == nil && in.LinksCount > 0 {
		parent, ok := n.fs.liveParent(d.ino)
		if !ok {
			return "", false
		}
		pin, _, err := n.fs.ReadInode(parent)
		if err != nil {
			return "", false
		}
		name, ok := n.fs.liveNameIn(parent, d.ino)
		if !ok {
			return "", false
		}
		pp, ok := n.dirPath(dirRef{parent, pin.Generation}, depth+1)
		return pp + "/" + name, ok
	}
	var cs []evidence
	switch {
	case t != nil && live:
		// A directory orphan: its own evidence, as for any orphan.
		cs = n.underDotDot(d.ino, n.candidates(d.ino, dirent.FtDir, t))
	default:
		// A directory that is gone: only when every entry found for it
		// (of its generation, where the journal holds its inode) agrees.
		cs = n.candidates(d.ino, dirent.FtDir, &nameTarget{ft: dirent.FtDir, gen: d.gen})
		if len(cs) > 1 {
			return "", false
		}
	}
	e, why := n.choose(cs)
	if why != "" {
		return "", false
	}
	pp, ok := n.dirPath(dirRef{e.parent, e.parentGen}, depth+1)
	return pp + "/" + e.name, ok
}

// liveParent is the '..' of live directory ino (links > 0, or a directory
// orphan whose block 0 is still mapped).
func (fs *FS) liveParent(ino uint32) (uint32, bool) {
	in, _, err := fs.ReadInode(ino)
	if err != nil || !in.IsDir() {
		return 0, false
	}
	if in.HasInlineData() {
		data, err := inode.InlineData(in, ino)
		if err != nil || len(data) < dirent.InlineDotDotSize {
			return 0, false
		}
		return binary.LittleEndian.Uint32(data), true
	}
	m, err := fs.BlockMap(ino, in)
	if err != nil {
		return 0, false
	}
	phys, unwritten, ok := m.Map(0)
	if !ok || unwritten {
		return 0, false
	}
	b, err := fs.ReadBlock(phys)
	if err != nil || dirent.CheckDots(b, ino) != nil {
		return 0, false
	}
	p := binary.LittleEndian.Uint32(b[dirent.MinRecLen:])
	return p, p != 0 && p <= fs.SB.InodesCount
}

// liveNameIn finds the live entry of directory parent naming directory
// ino.
func (fs *FS) liveNameIn(parent, ino uint32) (string, bool) {
	in, _, err := fs.ReadInode(parent)
	if err != nil || !in.IsDir() || in.LinksCount == 0 {
		return "", false
	}
	p := dirent.NewParams(fs.SB, in.Seed(fs.SB.CsumSeed(), parent))
	var name string
	look := func(space []byte) bool {
		dirent.WalkRecords(space, p, func(_, _ int, i uint32, nm []byte) bool {
			if i == ino && dirent.CheckName(nm) == nil {
				name = string(nm)
			}
			return name == ""
		})
		return name != ""
	}
	if in.HasInlineData() {
		data, err := inode.InlineData(in, parent)
		if err != nil || len(data) < dirent.InlineIBlockSize {
			return "", false
		}
		return name, look(data[dirent.InlineDotDotSize:dirent.InlineIBlockSize]) || look(data[dirent.InlineIBlockSize:])
	}
	m, err := fs.BlockMap(parent, in)
	if err != nil {
		return "", false
	}
	for _, r := range m.Runs {
		for k := range uint64(r.Len) {
			b, err := fs.ReadBlock(r.Physical + k)
			if err != nil || r.Unwritten {
				continue
			}
			if space, err := dirent.LeafSpace(b, p); err == nil && look(space) {
				return name, true
			}
		}
	}
	return "", false
}
