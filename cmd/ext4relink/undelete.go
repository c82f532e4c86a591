package main

import (
	"fmt"
	"strings"
	"time"

	"github.com/ext4relink/ext4relink/engine"
	"github.com/ext4relink/ext4relink/internal/devio"
)

type undeleteOpts struct {
	ino      uint32
	name     string
	original bool
	dryRun   bool
	undo     string
}

// undeleteReport is what an undelete did; --json prints it as
// jsonUndeleteReport.
type undeleteReport struct {
	DryRun    bool
	Undeleted *engine.Undeleted
	Blocks    []engine.Change
	Journal   string
	// Log is where the journal transaction goes and which older logged
	// copies it overwrites.
	Log      *engine.LogPlace
	Verified bool
	Undo     *undoReport
	Section  *devio.Section
}

// undelete puts a file deleted while closed back in place.
func (a *app) undelete(args []string) int {
	fl := a.flags("undelete")
	var o undeleteOpts
	uint32Flag(fl, &o.ino, "inode", "")
	fl.StringVar(&o.name, "name", "", "")
	fl.BoolVar(&o.original, "original", false, "")
	fl.BoolVar(&o.dryRun, "dry-run", false, "")
	fl.StringVar(&o.undo, "undo", "", "")
	if code, ok := a.parse(fl, args, true); !ok {
		return code
	}
	switch {
	case o.ino == 0:
		return a.usageErr("give --inode N (see 'ext4relink deleted --dev DEV')")
	case (o.name == "") == !o.original:
		return a.usageErr("give --name PATH or --original (the path 'ext4relink deleted' shows), one of them")
	case strings.Contains(o.name, "//"):
		return a.usageErr("--name %q has an empty component (//)", o.name)
	case strings.Trim(o.name, "/") != "" && strings.HasSuffix(o.name, "/"):
		return a.usageErr("--name %q ends in a slash: give the file's own name too", o.name)
	}
	return a.doUndelete(o)
}

func (a *app) doUndelete(o undeleteOpts) int {
	op, code := a.openForWrite(writeOpen{dryRun: o.dryRun, undo: o.undo, ino: o.ino})
	if op == nil {
		return code
	}
	fs, dev, undo := op.FS, op.Dev, op.Undo
	done := false
	defer a.closeWrite(op, &done)
	if !a.json {
		fmt.Fprintf(a.stderr, "ext4relink: reading the journal's whole log area ...\n")
	}
	plan, u, err := fs.PlanUndelete(engine.UndeleteRequest{Inode: o.ino, Name: o.name, Original: o.original}, time.Now())
	if err != nil {
		return a.refuse(err, o.ino)
	}
	changes, err := plan.Changes()
	if err != nil {
		return a.refuse(err, o.ino)
	}
	if changes == nil {
		changes = []engine.Change{}
	}
	rep := undeleteReport{DryRun: o.dryRun, Undeleted: u, Blocks: changes, Journal: journalSummary(fs), Section: a.section, Log: plan.LogPlace}
	if !o.dryRun {
		if err := fs.Commit(plan); err != nil {
			return a.fail(fmt.Errorf("writing: %w; the commit leaves either the old state or the new one: run the same command again to finish", err))
		}
		if undo != nil {
			if err := undo.Close(); err != nil {
				fmt.Fprintf(a.stderr, "ext4relink: warning: %v (the undo file was already complete after the last write)\n", err)
			}
			rep.Undo = &undoReport{File: undo.Path(), Blocks: len(undo.Saved())}
		}
		if err := engine.VerifyUndelete(dev, plan, u); err != nil {
			return a.fail(err)
		}
		rep.Verified = true
	}
	if a.json {
		a.printJSON(toJSONUndeleteReport(rep))
	} else {
		a.printUndelete(rep)
	}
	done = true
	return exitOK
}

func (a *app) printUndelete(rep undeleteReport) {
	w, u := a.stdout, rep.Undeleted
	if u.AlreadyDone {
		fmt.Fprintf(w, "Inode %d is already back as %s: nothing to do.\n", u.Inode, u.Path)
		return
	}
	verb := "Put back"
	if rep.DryRun {
		verb = "Would put back"
	}
	fmt.Fprintf(w, "%s inode %d (%s, %d bytes, %d blocks, from its copy in journal transaction %d) as %s: %s.\n",
		verb, u.Inode, u.Type, u.Size, u.Blocks, u.Sequence, u.Path, u.DirChange)
	if rep.DryRun {
		fmt.Fprintf(w, "\nPlan (%s); these %d blocks would be written, through one journal transaction:\n", rep.Journal, len(rep.Blocks))
		for _, c := range rep.Blocks {
			fmt.Fprintf(w, "  block %d: %s\n", c.Block, strings.Join(c.What, "; "))
		}
		printLogPlace(w, rep.Log, true)
		fmt.Fprintln(w, "Nothing was written (--dry-run).")
		return
	}
	fmt.Fprintf(w, "\nWrote %d blocks through one journal transaction and verified the result (the file reads back with sha256 %s).\n", len(rep.Blocks), u.SHA256)
	printLogPlace(w, rep.Log, false)
	if x := rep.Undo; x != nil {
		fmt.Fprintf(w, "Saved the old content of the %d device blocks this run changed to %s: 'e2undo %s %s' puts the device back exactly as it was.\n", x.Blocks, x.File, x.File, a.dev)
	}
	fmt.Fprintf(w, "Next: '%s' should report nothing.\n", a.withFsckDev("e2fsck -fn"))
}
