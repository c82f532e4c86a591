package main

import (
	"fmt"
	"strings"
	"time"

	"github.com/ext4relink/ext4relink/engine"
)

type relinkOpts struct {
	ino          uint32
	name         string
	all          bool
	into         string
	dryRun       bool
	allowROMount bool
	undo         string
}

// relinkReport is what --json prints.
type relinkReport struct {
	DryRun   bool              `json:"dry_run"`
	Relinked []engine.Relinked `json:"relinked"`
	Skipped  []engine.Skipped  `json:"skipped,omitempty"`
	Blocks   []engine.Change   `json:"blocks"`
	Journal  string            `json:"journal"`
	// Commit is "journal" (one jbd2 transaction) or "ordered" (no internal
	// journal: four flushed steps, each safe to crash after).
	Commit   string      `json:"commit"`
	Verified bool        `json:"verified"`
	Undo     *undoReport `json:"undo,omitempty"`
}

// undoReport says where --undo saved the old content of the blocks written.
type undoReport struct {
	File   string `json:"file"`
	Blocks int    `json:"blocks"`
}

func (a *app) relink(args []string) int {
	fl := a.flags("relink")
	var o relinkOpts
	fl.Uint32Var(&o.ino, "inode", 0, "")
	fl.StringVar(&o.name, "name", "", "")
	fl.BoolVar(&o.all, "all", false, "")
	fl.StringVar(&o.into, "into", "", "")
	fl.BoolVar(&o.dryRun, "dry-run", false, "")
	fl.BoolVar(&o.allowROMount, "allow-ro-mount", false, "")
	fl.StringVar(&o.undo, "undo", "", "")
	if code, ok := a.parse(fl, args, true); !ok {
		return code
	}
	if code := o.check(a); code != 0 {
		return code
	}
	return a.doRelink(o)
}

func (o relinkOpts) check(a *app) int {
	switch {
	case o.all && (o.ino != 0 || o.name != ""):
		return a.usageErr("--all relinks every orphan; do not combine it with --inode/--name")
	case !o.all && (o.ino == 0 || o.name == ""):
		return a.usageErr("give --inode N and --name PATH (or --all); see 'ext4relink list --dev DEV' for the orphans")
	case o.into != "" && !o.all:
		return a.usageErr("--into only goes with --all")
	}
	return 0
}

func (a *app) doRelink(o relinkOpts) int {
	mode := engine.ReadWrite
	if o.dryRun {
		mode = engine.ReadOnly
	}
	opts := engine.Options{Mode: mode, AllowReadOnlyMount: o.allowROMount}
	var (
		fs   *engine.FS
		dev  *engine.Device
		undo *engine.UndoDev
		err  error
	)
	if o.undo != "" && !o.dryRun {
		// Every write of this run goes through undo, which saves each
		// block's old content to the undo file (on stable storage) first.
		fs, dev, undo, _, err = engine.OpenFSWithUndo(a.dev, opts, o.undo)
	} else {
		fs, dev, _, err = engine.OpenFS(a.dev, opts)
	}
	if err != nil {
		return a.refuse(err, o.ino)
	}
	defer dev.Close()
	done := false
	if undo != nil {
		// On a failure: remove the undo file if nothing was written, else
		// keep it and say how to use it. Closing twice is harmless.
		defer func() {
			if !done {
				a.dropUndo(undo)
			}
		}()
	}
	before, err := fs.Orphans()
	if err != nil {
		return a.refuse(err, o.ino)
	}
	plan, skipped, err := fs.PlanRelink(engine.Request{Inode: o.ino, Name: o.name, All: o.all, Into: o.into}, time.Now())
	if err != nil {
		return a.refuse(err, o.ino)
	}
	changes, err := plan.Changes()
	if err != nil {
		return a.refuse(err, o.ino)
	}
	rep := relinkReport{DryRun: o.dryRun, Relinked: plan.Relinks, Skipped: skipped, Blocks: changes, Journal: journalSummary(fs), Commit: "journal"}
	if plan.Ordered {
		rep.Commit = "ordered"
	}
	if !o.dryRun {
		if err := fs.Commit(plan); err != nil {
			return a.fail(fmt.Errorf("writing: %w; the orphans are safe: the commit leaves either the old state or the new one, so run the same command again to finish", err))
		}
		if undo != nil {
			if err := undo.Close(); err != nil {
				// Every header was already on stable storage before the
				// device write it covers: the file is complete anyway.
				fmt.Fprintf(a.stderr, "ext4relink: warning: %v (the undo file was already complete after the last write)\n", err)
			}
			rep.Undo = &undoReport{File: undo.Path(), Blocks: len(undo.Saved())}
		}
		if err := engine.Verify(dev, plan, before); err != nil {
			return a.fail(err)
		}
		rep.Verified = true
	}
	if a.json {
		a.printJSON(rep)
		if o.dryRun && o.undo != "" {
			fmt.Fprintf(a.stderr, "ext4relink: --undo %s: no undo file was created: --dry-run writes nothing\n", o.undo)
		}
	} else {
		a.printRelink(rep, before)
		if o.dryRun && o.undo != "" {
			fmt.Fprintf(a.stdout, "No undo file was created (--undo %s): --dry-run writes nothing.\n", o.undo)
		}
	}
	done = true
	return exitOK
}

// dropUndo closes the undo file after a failed run: it is removed when the
// device was never written, and kept (with a note on how to use it) when
// some blocks were.
func (a *app) dropUndo(u *engine.UndoDev) {
	n := len(u.Saved())
	removed, err := u.Discard()
	switch {
	case err != nil:
		fmt.Fprintf(a.stderr, "ext4relink: %v\n", err)
	case removed:
	case n > 0:
		fmt.Fprintf(a.stderr, "ext4relink: the undo file %s holds the old content of the %d block(s) written so far: 'e2undo %s %s' puts the device back exactly as it was before this run.\n", u.Path(), n, u.Path(), a.dev)
	}
}

func (a *app) printRelink(rep relinkReport, before *engine.OrphanList) {
	w := a.stdout
	verb := "Relinked"
	if rep.DryRun {
		verb = "Would relink"
	}
	for _, r := range rep.Relinked {
		if r.AlreadyDone {
			fmt.Fprintf(w, "Inode %d is already linked as %s: nothing to do.\n", r.Inode, r.Path)
			continue
		}
		fmt.Fprintf(w, "%s inode %d (%s, %d bytes, %s) as %s: %s.\n", verb, r.Inode, r.Type, r.Size, where(engine.Orphan{Source: r.Source, Position: r.Position, Slot: r.Slot}), r.Path, r.DirChange)
	}
	if len(rep.Relinked) == 0 {
		fmt.Fprintln(w, "No orphan to relink: nothing was deleted while open (or an earlier run already relinked them all).")
	}
	for _, s := range rep.Skipped {
		fmt.Fprintf(w, "Skipped inode %d: %s.\n", s.Inode, s.Reason)
	}
	how := "through one journal transaction"
	if rep.Commit == "ordered" {
		how = "without an internal journal, in four ordered and flushed steps (links, entries, orphan list, stale chain links)"
	}
	if rep.DryRun {
		fmt.Fprintf(w, "\nPlan (%s); these %d blocks would be written, %s:\n", rep.Journal, len(rep.Blocks), how)
		for _, c := range rep.Blocks {
			fmt.Fprintf(w, "  block %d: %s\n", c.Block, strings.Join(c.What, "; "))
		}
		fmt.Fprintln(w, "Nothing was written (--dry-run).")
		return
	}
	if rep.Commit == "ordered" {
		fmt.Fprintf(w, "\nWrote %d blocks %s and verified the result.\n", len(rep.Blocks), how)
	} else {
		fmt.Fprintf(w, "\nWrote %d blocks %s and verified the result; no journal recovery is pending.\n", len(rep.Blocks), how)
	}
	if u := rep.Undo; u != nil {
		fmt.Fprintf(w, "Saved the old content of the %d device blocks this run changed to %s: 'e2undo %s %s' puts the device back exactly as it was, as long as nothing else has changed it since (e2undo refuses otherwise).\n", u.Blocks, u.File, u.File, a.dev)
	}
	done := map[uint32]bool{}
	for _, r := range rep.Relinked {
		done[r.Inode] = true
	}
	left := 0
	for _, o := range before.Orphans {
		if !done[o.Inode] {
			left++
		}
	}
	fmt.Fprintln(w, "Next: run 'e2fsck -fn "+a.dev+"' (it should report nothing), then mount and copy the data somewhere safe.")
	if left > 0 {
		fmt.Fprintf(w, "%d other orphan(s) remain; the next mount or fsck deletes them. Relink them first if you want them ('ext4relink list --dev %s').\n", left, a.dev)
	}
}

// refuse reports an error found before anything was written, saying so and,
// for damaged or unsupported structures, how to save the data anyway.
func (a *app) refuse(err error, ino uint32) int {
	switch code := exitCode(err); code {
	case exitCorrupt, exitUnsupported:
		target := "<INODE>"
		if ino != 0 {
			target = fmt.Sprintf("<%d>", ino)
		}
		return a.fail(fmt.Errorf("%w; nothing was written. To save the data without relinking, copy it out read-only: debugfs -n -R 'dump %s /safe/place' %s", err, target, a.dev))
	case exitRequest:
		return a.fail(fmt.Errorf("%w; nothing was written", err))
	}
	return a.fail(err)
}
