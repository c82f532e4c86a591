package main

import (
	"bufio"
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/ext4relink/ext4relink/engine"
)

// list prints every orphan. It opens the device read-only and never writes.
func (a *app) list(args []string) int {
	fs, closeFS, code, ok := a.openReadOnly("list", args)
	if !ok {
		return code
	}
	defer closeFS()
	l, err := fs.Orphans()
	if err != nil {
		return a.fail(err)
	}
	var scan *engine.ScanStats
	if a.scanTables {
		if scan, err = fs.ScanOrphans(l, a.scanProgress()); err != nil {
			return a.fail(err)
		}
	}
	names := a.originalPaths(fs, l)
	if a.json {
		a.printJSON(listed(l, names))
	} else {
		a.printOrphans(fs, l, names)
		a.printScan(scan)
	}
	for i, p := range l.Problems {
		if i == len(l.Problems)-1 && l.Damaged != nil && !a.scanTables {
			p += "; 'list --scan' also finds the orphans the damage hides"
		}
		fmt.Fprintf(a.stderr, "ext4relink: warning: %s\n", p)
	}
	if fs.Journal.FastCommitsRefused != nil {
		fmt.Fprintf(a.stderr, "ext4relink: warning: %v (not shown above)\n", fs.Journal.FastCommitsRefused)
	}
	if lg := fs.Log; lg != nil && lg.HasFailedCommit {
		fmt.Fprintf(a.stderr, "ext4relink: warning: journal transaction %d failed its commit checksum: the replay stops before it, as the kernel's would (the kernel also flags the filesystem as having errors); a relink will be refused\n", lg.FailedCommit)
	}
	if len(l.Problems) > 0 {
		return exitCorrupt
	}
	return exitOK
}

// openReadOnly parses a read-only command's flags and opens the filesystem
// read-only, warning when it is mounted. ok false means: return code.
func (a *app) openReadOnly(name string, args []string) (fs *engine.FS, closeFS func(), code int, ok bool) {
	fl := a.flags(name)
	if code, ok := a.parse(fl, args, true); !ok {
		return nil, nil, code, false
	}
	opts, code, ok := a.devOptions(engine.ReadOnly)
	if !ok {
		return nil, nil, code, false
	}
	op, err := engine.OpenFS(a.dev, opts)
	if err != nil {
		return nil, nil, a.fail(err), false
	}
	a.noteSection(op.Dev)
	a.warnMounted(op.Use)
	return op.FS, func() { op.Dev.Close() }, 0, true
}

func (a *app) warnMounted(use engine.Use) {
	for _, m := range use.Mounts {
		mode := "read-write"
		if m.ReadOnly {
			mode = "read-only"
		}
		fmt.Fprintf(a.stderr, "ext4relink: warning: the filesystem is mounted %s at %s; the on-disk state may lag the kernel's\n", mode, m.MountPoint)
	}
}

func (a *app) printOrphans(fs *engine.FS, l *engine.OrphanList, names map[uint32]engine.NameResult) {
	// One write for the table: the tabwriter writes each cell and each
	// run of padding on its own.
	bw := bufio.NewWriter(a.stdout)
	defer bw.Flush()
	fmt.Fprintf(bw, "%s: %d-byte blocks, %s\n", a.where(), fs.BlockSize(), journalSummary(fs))
	if len(l.Orphans) == 0 {
		fmt.Fprint(bw, noOrphansHelp)
		return
	}
	w := tabwriter.NewWriter(bw, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "INODE\tWHERE\tTYPE\tMODE\tUID\tGID\tSIZE\tLINKS\tSECTORS\tMTIME\tCTIME\tSTATE\tPATH")
	for _, o := range l.Orphans {
		if o.Problem != "" {
			fmt.Fprintf(w, "%d\t%s\t?\t\t\t\t\t\t\t\t\tunreadable: %s\t?\n", o.Inode, where(o), o.Problem)
			continue
		}
		state := o.State.String()
		if o.PastEOFBlocks > 0 {
			state += fmt.Sprintf(" (%d written blocks past the size)", o.PastEOFBlocks)
		}
		fmt.Fprintf(w, "%d\t%s\t%s\t%04o\t%d\t%d\t%d\t%d\t%d\t%s\t%s\t%s\t%s\n",
			o.Inode, where(o), o.Type, o.Mode, o.UID, o.GID, o.Size, o.Links, o.Blocks,
			localTime(o.Mtime), localTime(o.Ctime), state, pathColumn(o, names))
	}
	w.Flush()
	bw.Flush()
	a.notePathless(l, names)
}

// localTime prints a time as the user's clock shows it, with the zone's
// offset so that it is never ambiguous (JSON has RFC 3339).
func localTime(t time.Time) string {
	return t.Local().Format("2006-01-02 15:04:05 -0700")
}

func where(o engine.Orphan) string {
	switch o.Source {
	case engine.SourceChain:
		return fmt.Sprintf("chain#%d", o.Position)
	case engine.SourceStranded:
		return fmt.Sprintf("stranded#%d", o.Position)
	case engine.SourceScan:
		return "scan"
	}
	return fmt.Sprintf("orphan_file[%d]", o.Slot)
}

func journalSummary(fs *engine.FS) string {
	j := fs.Journal
	switch {
	case !j.Present:
		return "no journal"
	case j.External:
		return "external journal (not needed: no recovery pending)"
	case !j.NeedsRecovery:
		return "journal clean"
	}
	return fmt.Sprintf("journal replayed in memory (%d transactions, %d blocks; nothing written)", j.Transactions, j.Blocks)
}
