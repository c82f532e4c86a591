package main

import (
	"fmt"
	"text/tabwriter"

	"github.com/ext4relink/ext4relink/engine"
)

// deleted lists the files deleted while closed that the journal still
// describes. It opens the device read-only and never writes.
func (a *app) deleted(args []string) int {
	fs, closeFS, code, ok := a.openReadOnly("deleted", args)
	if !ok {
		return code
	}
	defer closeFS()
	l, code, ok := a.listDeleted(fs)
	if !ok {
		return code
	}
	if a.json {
		if l.Files == nil {
			l.Files = []engine.DeletedFile{}
		}
		a.printJSON(toJSONDeletedList(l))
	} else {
		a.printDeleted(fs, l)
	}
	if fs.Journal.FastCommitsRefused != nil {
		fmt.Fprintf(a.stderr, "ext4relink: warning: %v (not replayed: the states above do not account for them)\n", fs.Journal.FastCommitsRefused)
	}
	return exitOK
}

// listDeleted reads the journal's whole log area and lists the deleted
// files, with a progress line on a terminal-less stderr kept short.
func (a *app) listDeleted(fs *engine.FS) (*engine.DeletedList, int, bool) {
	if !a.json {
		fmt.Fprintf(a.stderr, "ext4relink: reading the journal's whole log area ...\n")
	}
	h, err := fs.DeletedHistory()
	if err != nil {
		return nil, a.fail(err), false
	}
	l, err := fs.Deleted(h)
	if err != nil {
		return nil, a.fail(err), false
	}
	return l, 0, true
}

func (a *app) printDeleted(fs *engine.FS, l *engine.DeletedList) {
	fmt.Fprintf(a.stdout, "%s: %d-byte blocks, %s; %d transactions in the journal", a.where(), fs.BlockSize(), journalSummary(fs), l.Transactions)
	if !l.Oldest.IsZero() {
		fmt.Fprintf(a.stdout, ", the oldest committed %s", localTime(l.Oldest))
	}
	fmt.Fprintln(a.stdout)
	if len(l.Files) == 0 {
		fmt.Fprint(a.stdout, noDeletedHelp)
	} else {
		w := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(w, "INODE\tPATH\tTYPE\tMODE\tUID\tGID\tSIZE\tMTIME\tDELETED\tSTATE")
		for _, d := range l.Files {
			path := d.Path
			if path == "" {
				path = "?"
			}
			fmt.Fprintf(w, "%d\t%s\t%s\t%04o\t%d\t%d\t%d\t%s\t%s\t%s\n", d.Inode, path, d.Type, d.Mode,
				d.UID, d.GID, d.Size, localTime(d.Mtime), localTime(d.Dtime), d.State)
		}
		w.Flush()
	}
	if l.Gone > 0 {
		fmt.Fprintf(a.stdout, "%d more freed inodes have live copies only from before the log wrapped; they are not listed (their map is no longer known for certain)\n", l.Gone)
	}
}

const noDeletedHelp = `No deleted file is described by the journal. A file deleted before the
oldest transaction still in the log area cannot be found this way: the
journal has wrapped over its inode's copies.
`
