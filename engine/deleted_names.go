package engine

import (
	"github.com/ext4relink/ext4relink/journal"
)

// nameDeleted gives each deleted file its original path from the same
// evidence the orphans' names come from (names_evidence.go): entries in
// logged copies of directory blocks, checked against the file's live
// copy (generation, type, creation time), never a guess. A removed tree
// is named recursively: its directories are deleted files too, and the
// namer follows their own logged entries up to a live directory.
func (fs *FS) nameDeleted(files []DeletedFile, h *journal.History) {
	if len(files) == 0 {
		return
	}
	n := fs.emptyNamer(h)
	addNameTargets(n, files)
	if err := n.gather(); err != nil {
		for i := range files {
			files[i].PathReason = "the directory evidence could not be read"
		}
		return
	}
	for i := range files {
		r := n.result(files[i].Inode)
		files[i].Path, files[i].PathFrom, files[i].PathReason = r.Path, r.From, r.Reason
	}
}

// emptyNamer is a namer with no targets yet (newNamer takes the orphans).
func (fs *FS) emptyNamer(h *journal.History) *namer {
	return &namer{fs: fs, h: h, targets: map[uint32]*nameTarget{}, interest: map[uint32]bool{},
		ev: map[uint32][]evidence{}, dirs: map[uint32][]dirVersion{}, owners: map[uint64][]owner{},
		copies: map[uint32][]inodeCopy{}, paths: map[dirRef]*string{}}
}

// addNameTargets makes the deleted files the namer's targets, described
// by their live copies.
func addNameTargets(n *namer, files []DeletedFile) {
	for _, d := range files {
		in := d.live
		t := &nameTarget{ft: in.FileType(), gen: in.Generation, ctime: in.ChangeTime()}
		t.crtime, t.hasCrtime = in.BirthTime()
		n.targets[d.Inode] = t
		n.interest[d.Inode] = true
	}
}
