package engine

import (
	"errors"
	"fmt"
	"path"
	"strings"

	"github.com/ext4relink/ext4relink/journal"
	"github.com/ext4relink/ext4relink/super"
)

// Relinking at the original path (--original): each orphan goes back where
// OriginalPaths says it was. A directory it was in that is itself an orphan
// (a parent pinned by the open file, left by rm -rf) is relinked first,
// into its own parent, recursively; a directory that no longer exists at
// all is created with --parents (Mkdir, in the same transaction). With
// --all, an orphan whose path is unknown or taken, or whose directory
// cannot be brought back, goes to --into as #INO instead, and the plan says
// why (Relinked.Why).

// CreatedDir is a directory the plan creates (--parents).
type CreatedDir struct {
	Path      string
	Inode     uint32
	Parent    uint32
	DirChange string
}

// pinnedDirNote replaces dirOrphanNote for a removed directory a file open
// inside it kept alive: its open files come back into it, the rest of what
// it held does not.
const pinnedDirNote = "a directory removed (rm -rf) around a file open inside it; the open files it held come back into it, the files that were closed do not"

// orderedOriginalAllRefusal: --all --original without a journal.
const orderedOriginalAllRefusal = "--all --original relinks removed parent directories and resumes interrupted runs by their original names, " +
	"which the ordered steps of a filesystem without a journal cannot do safely; relink one file at a time with --inode N --original, " +
	"or all of them into /lost+found with --all"

// orderedMkdirRefusal: --parents without a journal.
const orderedMkdirRefusal = "creating a directory allocates an inode and a block and links them, which cannot be ordered safely on a filesystem without a journal " +
	"(a crash in between leaves it inconsistent); nothing was written. Relink into a directory that exists instead: /lost+found always does " +
	"(--name /lost+found/NAME, or --all without --original)"

// originals plans one --original request.
type originals struct {
	p      *Plan
	l      *OrphanList
	h      *journal.History
	names  map[uint32]NameResult
	req    Request
	into   string
	strict bool              // --inode N: refuse instead of falling back to --into
	byIno  map[uint32]int    // inode -> index in l.Orphans
	placed map[uint32]string // inode -> where the plan puts it
	why    map[uint32]string // inode -> why it is not relinked (a skipped directory)
	busy   map[uint32]bool   // being placed (a loop of parents)
}

func (p *Plan) relinkOriginal(l *OrphanList, req Request) ([]Skipped, error) {
	if p.Ordered && req.All {
		return nil, super.Errorf(super.ErrUnsupported, "filesystem without a journal", super.NoBlock, -1, "%s", orderedOriginalAllRefusal)
	}
	h := p.history // the commit writes after its newest transaction (placeTransaction)
	names, err := p.fs.OriginalPaths(l, h)
	if err != nil {
		return nil, err
	}
	op := &originals{p: p, l: l, h: h, names: names, req: req, into: req.Into, strict: !req.All,
		placed: map[uint32]string{}, why: map[uint32]string{}, busy: map[uint32]bool{}}
	if op.into == "" {
		op.into = "/lost+found"
	}
	op.byIno = make(map[uint32]int, len(l.Orphans))
	for i, o := range l.Orphans {
		op.byIno[o.Inode] = i
	}
	if !req.All {
		return nil, op.one(req.Inode)
	}
	return op.all()
}

// one relinks inode ino at its original path, or refuses saying why.
func (op *originals) one(ino uint32) error {
	if err := op.p.checkInodeNumber(ino); err != nil {
		return err
	}
	o, onList := findOrphan(op.l, ino)
	if !onList {
		// A re-run after an earlier run relinked it: its one live name
		// (an interrupted ordered commit's stale i_dtime is cleared there).
		at, err := op.linkedPath(ino)
		if err != nil || at == "" {
			return errors.Join(err, op.p.notAnOrphan(op.l, ino, "", 0, false))
		}
		return op.p.relinkOne(op.l, ino, at)
	}
	target, why, err := op.target(o)
	if err != nil {
		return err
	}
	if why != "" {
		return op.refuse(ino, why)
	}
	if err := op.p.relinkOne(op.l, ino, target); err != nil {
		return err
	}
	op.note(ino, "")
	return nil
}

// linkedPath is the one name that links inode ino in the live tree ("" when
// it has none, or several, or is not in use).
func (op *originals) linkedPath(ino uint32) (string, error) {
	used, err := op.p.InodeInUse(ino)
	if err != nil || !used {
		return "", err
	}
	names, err := op.p.fs.OriginalPaths(&OrphanList{Orphans: []Orphan{{Inode: ino}}}, op.h)
	if err != nil {
		return "", err
	}
	if r := names[ino]; r.From == PathFromLive {
		return r.Path, nil
	}
	return "", nil
}

func (op *originals) refuse(ino uint32, why string) error {
	return fmt.Errorf("%w: inode %d cannot be relinked at its original path: %s; give it a name with --name PATH (e.g. --name /lost+found/#%d)", ErrRequest, ino, why, ino)
}

// all relinks every orphan --all would, each at its original path or in
// --into with the reason.
func (op *originals) all() ([]Skipped, error) {
	if prob, ok := unreadableMember(op.l); ok && !op.l.scanned {
		return nil, super.Errorf(super.ErrCorrupt, "orphan list", super.NoBlock, -1,
			"%s; --all would leave out the orphans that cannot be read (relink the readable ones one at a time with --inode)", prob)
	}
	var skipped []Skipped
	for _, o := range op.l.Orphans {
		if _, err := op.place(o); err != nil {
			return nil, err
		}
		if why, ok := op.why[o.Inode]; ok {
			skipped = append(skipped, Skipped{o.Inode, why})
		}
	}
	return skipped, nil
}

// skipWhy is why --all leaves orphan o alone ("" to relink it).
func (op *originals) skipWhy(o Orphan) string {
	why := skipReason(o)
	switch {
	case why != "":
	case op.req.gone[o.Inode]:
		why = "treated as released (test)"
	case o.Source == SourceScan && op.p.Ordered:
		why = orderedScanRefusal
	case o.State == StatePastEOF && op.p.trimRefusal() != "":
		why = op.p.trimRefusal()
	}
	return why
}

// place relinks orphan o (its pinned parents first) and returns where it
// went; "" when it is not relinked (op.why says why).
func (op *originals) place(o Orphan) (string, error) {
	if at, ok := op.placed[o.Inode]; ok {
		return at, nil
	}
	if _, ok := op.why[o.Inode]; ok {
		return "", nil
	}
	if op.busy[o.Inode] {
		return "", super.Errorf(super.ErrCorrupt, fmt.Sprintf("directory orphan %d", o.Inode), super.NoBlock, -1, "the original parents of the orphans form a loop")
	}
	op.busy[o.Inode] = true
	defer delete(op.busy, o.Inode)
	if why := op.skipWhy(o); why != "" {
		if op.strict {
			return "", op.refuse(o.Inode, why)
		}
		op.why[o.Inode] = why
		return "", nil
	}
	target, why, err := op.target(o)
	if err != nil {
		return "", err
	}
	if why != "" {
		if op.strict {
			return "", op.refuse(o.Inode, why)
		}
		target = fmt.Sprintf("%s/#%d", strings.TrimRight(op.into, "/"), o.Inode)
		if _, err := op.p.ensureDir(op.into, op.req.Parents); err != nil {
			return "", err
		}
	}
	parent, name, existing, err := op.p.Resolve(target)
	if err != nil {
		return "", err
	}
	if existing != 0 && existing != o.Inode {
		return "", fmt.Errorf("%w: %s already exists (inode %d); choose another --into (do not mount the filesystem to move it away: a mount frees the orphans)", ErrRequest, target, existing)
	}
	if err := op.p.relink(o, parent, name, target, existing == o.Inode, false); err != nil {
		return "", err
	}
	op.placed[o.Inode] = target
	op.note(o.Inode, why)
	return target, nil
}

// note records on the orphan's Relinked entry its original path and, when
// it went elsewhere, why.
func (op *originals) note(ino uint32, why string) {
	for i := len(op.p.Relinks) - 1; i >= 0; i-- { // the newest: just added
		if op.p.Relinks[i].Inode == ino {
			op.p.Relinks[i].OriginalPath = op.names[ino].Path
			op.p.Relinks[i].Why = why
			if len(op.names[ino].ParentOf) > 0 {
				op.p.Relinks[i].DirChange = strings.Replace(op.p.Relinks[i].DirChange, dirOrphanNote, pinnedDirNote, 1)
			}
			return
		}
	}
}

// target is where orphan o goes: its original path, its directory made
// ready (a pinned parent relinked, a missing one created with --parents).
// why says why it cannot go there; err is a failure.
func (op *originals) target(o Orphan) (target, why string, err error) {
	r, ok := op.names[o.Inode]
	if !ok || r.Path == "" {
		reason := r.Reason
		if reason == "" {
			reason = "no directory entry naming it survives"
		}
		return "", "its original path is not known: " + reason + op.candidates(r), nil
	}
	dir, base := path.Split(r.Path)
	if po, pinned := op.pinnedParent(o.Inode, r); pinned {
		at, err := op.place(po)
		if err != nil {
			return "", "", err
		}
		if at == "" {
			return "", fmt.Sprintf("its original directory %s (inode %d) was removed and is not relinked: %s", strings.TrimRight(dir, "/"), po.Inode, op.why[po.Inode]), nil
		}
		target = at + "/" + base
	} else {
		missing, err := op.p.missingDir(dir)
		if err != nil {
			return "", "", err
		}
		if missing != "" && !op.req.Parents {
			return "", fmt.Sprintf("the parent directory %s does not exist (add --parents to create it)", missing), nil
		}
		if _, err := op.p.ensureDir(dir, op.req.Parents); err != nil {
			return "", "", err
		}
		target = r.Path
	}
	_, _, existing, err := op.p.Resolve(target)
	if err != nil {
		return "", "", err
	}
	if existing != 0 && existing != o.Inode {
		return "", fmt.Sprintf("its original path %s is taken (by inode %d)", target, existing), nil
	}
	return target, "", nil
}

// pinnedParent returns the orphan that was the directory of r, when it is
// itself on the list: a removed directory the open file kept alive.
func (op *originals) pinnedParent(ino uint32, r NameResult) (Orphan, bool) {
	if r.Parent == 0 || op.req.gone[r.Parent] {
		return Orphan{}, false
	}
	i, ok := op.byIno[r.Parent]
	if !ok || op.l.Orphans[i].Type != TypeDir {
		return Orphan{}, false
	}
	if pr, ok := op.names[r.Parent]; !ok || !containsIno(pr.ParentOf, ino) {
		return Orphan{}, false
	}
	return op.l.Orphans[i], true
}

func containsIno(s []uint32, ino uint32) bool {
	for _, v := range s {
		if v == ino {
			return true
		}
	}
	return false
}

func (op *originals) candidates(r NameResult) string {
	if len(r.Candidates) == 0 {
		return ""
	}
	var s []string
	for _, c := range r.Candidates {
		if c.Path != "" {
			s = append(s, c.Path)
		} else {
			s = append(s, fmt.Sprintf("%s in directory %d", c.Name, c.Parent))
		}
	}
	return " (candidates: " + strings.Join(s, ", ") + ")"
}
