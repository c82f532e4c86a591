package main

import (
	"fmt"

	"github.com/ext4relink/ext4relink/engine"
)

// originalPaths reads the journal's history and finds every orphan's
// original path. A failure is a warning: the orphans are listed without
// paths.
func (a *app) originalPaths(fs *engine.FS, l *engine.OrphanList) map[uint32]engine.NameResult {
	h, err := fs.JournalHistory()
	if err != nil {
		fmt.Fprintf(a.stderr, "ext4relink: warning: the journal's history could not be read (%v); original paths come from the live directories only\n", err)
		h = nil
	}
	if h != nil && h.Unreadable > 0 {
		fmt.Fprintf(a.stderr, "ext4relink: warning: %d journal block(s) could not be read and were skipped; some original paths may be missing\n", h.Unreadable)
	}
	names, err := fs.OriginalPaths(l, h)
	if err != nil {
		fmt.Fprintf(a.stderr, "ext4relink: warning: original paths not found: %v\n", err)
		return map[uint32]engine.NameResult{}
	}
	return names
}

// pathColumn is list's PATH column for orphan o.
func pathColumn(o engine.Orphan, names map[uint32]engine.NameResult) string {
	r, ok := names[o.Inode]
	if !ok {
		return "?"
	}
	return r.String()
}

// notePathless says, under list's table, why some PATHs are "?" and where
// to see more.
func (a *app) notePathless(l *engine.OrphanList, names map[uint32]engine.NameResult) {
	n := 0
	for _, o := range l.Orphans {
		if names[o.Inode].Path == "" {
			n++
		}
	}
	if n > 0 {
		fmt.Fprintf(a.stdout, "PATH ?: %d orphan(s) without a path: no directory entry naming them survives, or\n"+
			"the entries found disagree (no path rather than a wrong one); --json shows\n"+
			"path_reason and path_candidates.\n", n)
	}
}
