package main

import (
	"fmt"
	"text/tabwriter"

	"github.com/ext4relink/ext4relink/engine"
)

// journal prints the journal's transactions as recovery would see them.
func (a *app) journal(args []string) int {
	fs, closeFS, code, ok := a.openReadOnly("journal", args)
	if !ok {
		return code
	}
	defer closeFS()
	r, err := fs.JournalReport()
	if err != nil {
		return a.fail(err)
	}
	if a.json {
		a.printJSON(toJSONJournal(r))
	} else {
		a.printJournal(r)
	}
	if r.ReplayProblem != "" {
		// Shown in the report too; the exit code says the journal is damaged.
		fmt.Fprintf(a.stderr, "ext4relink: warning: %s: the kernel's journal recovery, and so any mount, fails on it; ext4relink refuses to relink on top of it\n", r.ReplayProblem)
		return exitCorrupt
	}
	return exitOK
}

func (a *app) printJournal(r *engine.JournalReport) {
	w := a.stdout
	switch {
	case !r.Present:
		fmt.Fprintln(w, "no journal")
		return
	case r.External:
		fmt.Fprintf(w, "external journal (%s)\n", r.Note)
		return
	}
	state := "clean (nothing to replay)"
	if r.NeedsRecovery {
		state = "needs recovery"
	}
	fmt.Fprintf(w, "journal inode %d: %d blocks, log starts at %d, s_start %d, s_sequence %d, features: %s; %s\n",
		r.Inode, r.Blocks, r.First, r.Start, r.Sequence, r.FeatureList(), state)
	if r.Note != "" {
		fmt.Fprintf(w, "note: %s\n", r.Note)
	}
	if len(r.Transactions) > 0 {
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "SEQUENCE\tSTART\tBLOCKS\tREVOKES\tCOMMIT\tCHECKSUM\tREPLAYED")
		for _, t := range r.Transactions {
			commit := "none"
			if t.Committed {
				commit = localTime(t.CommitTime)
			}
			fmt.Fprintf(tw, "%d\t%d\t%d\t%d\t%s\t%s\t%v\n", t.Sequence, t.Start, t.DataBlocks, t.Revokes, commit, t.Checksum, t.Replayed)
		}
		tw.Flush()
	}
	fmt.Fprintf(w, "scan stopped: %s\n", r.Stop)
	if r.NeedsRecovery {
		fmt.Fprintf(w, "replay would write %d filesystem blocks (ext4relink replays in memory; nothing is written)\n", r.ReplayBlocks)
	}
	if fc := r.FastCommit; fc != nil && fc.Valid > 0 {
		fmt.Fprintf(w, "fast commits newer than the last full commit (tid %d): %d records, replayed in memory with the log\n", fc.ExpectedTID, fc.Valid)
		for _, rec := range fc.Records {
			fmt.Fprintf(w, "  %s\n", rec)
		}
	}
}
