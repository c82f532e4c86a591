package main

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/ext4relink/ext4relink/engine"
	"github.com/ext4relink/ext4relink/internal/devio"
	"github.com/ext4relink/ext4relink/internal/undo"
)

type relinkOpts struct {
	ino          uint32
	name         string
	all          bool
	into         string
	dryRun       bool
	allowROMount bool
	undo         string
	keepPastEOF  bool
	original     bool
	parents      bool
}

// relinkReport is what a relink did; --json prints it as jsonRelinkReport.
type relinkReport struct {
	DryRun   bool
	Relinked []engine.Relinked
	// Created are the directories --parents creates (with --dry-run:
	// would create).
	Created []engine.CreatedDir
	Skipped []engine.Skipped
	Blocks  []engine.Change
	Journal string
	// Commit is "journal" (one jbd2 transaction) or "ordered" (no internal
	// journal: four flushed steps, each safe to crash after).
	Commit string
	// Log is where the journal transaction goes and which older logged
	// copies it overwrites (commit "journal" only).
	Log      *engine.LogPlace
	Verified bool
	Undo     *undoReport
	// Remaining are the orphans left on the list (with --dry-run: that
	// would be left): e2fsck -n reports them, the next mount frees them.
	Remaining []remainingOrphan
	// EarlierRelinks are inodes already linked as #INODE in the --all
	// directory: what an earlier run relinked (only set when nothing was
	// left to relink).
	EarlierRelinks []uint32
	// Section is the partition (or offset) of DEV the run worked in; the
	// block numbers are the filesystem's, counted from its start.
	Section *devio.Section
}

// remainingOrphan is one orphan a run leaves on the list.
type remainingOrphan struct {
	Inode    uint32
	Type     engine.FileType
	Size     uint64
	Links    uint16
	State    engine.OrphanState
	Source   engine.OrphanSource
	Position int
	Slot     int
}

// undoReport says where --undo saved the old content of the blocks written.
type undoReport struct {
	File   string
	Blocks int
}

func (a *app) relink(args []string) int {
	fl := a.flags("relink")
	var o relinkOpts
	uint32Flag(fl, &o.ino, "inode", "")
	fl.StringVar(&o.name, "name", "", "")
	fl.BoolVar(&o.all, "all", false, "")
	fl.StringVar(&o.into, "into", "", "")
	fl.BoolVar(&o.dryRun, "dry-run", false, "")
	fl.BoolVar(&o.allowROMount, "allow-ro-mount", false, "")
	fl.StringVar(&o.undo, "undo", "", "")
	fl.BoolVar(&o.keepPastEOF, "keep-past-eof", false, "")
	fl.BoolVar(&o.original, "original", false, "")
	fl.BoolVar(&o.parents, "parents", false, "")
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
	case o.original && o.name != "":
		return a.usageErr("--original relinks at the original path; do not combine it with --name")
	case o.original && !o.all && o.ino == 0:
		return a.usageErr("give --inode N --original (or --all --original); see 'ext4relink list --dev DEV' for the orphans and their original paths")
	case o.original:
		if o.into != "" && !o.all {
			return a.usageErr("--into only goes with --all")
		}
		if o.all && o.ino != 0 {
			return a.usageErr("--all relinks every orphan; do not combine it with --inode")
		}
		return 0
	case o.all && (o.ino != 0 || o.name != ""):
		return a.usageErr("--all relinks every orphan; do not combine it with --inode/--name")
	case !o.all && (o.ino == 0 || o.name == ""):
		return a.usageErr("give --inode N and --name PATH (or --all); see 'ext4relink list --dev DEV' for the orphans")
	case o.into != "" && !o.all:
		return a.usageErr("--into only goes with --all")
	case strings.Contains(o.name, "//"):
		return a.usageErr("--name %q has an empty component (//)", o.name)
	case strings.Trim(o.name, "/") != "" && strings.HasSuffix(o.name, "/"):
		return a.usageErr("--name %q ends in a slash: give the file's own name too, e.g. %s", o.name, strings.TrimRight(o.name, "/")+"/rescued")
	}
	return 0
}

func (a *app) doRelink(o relinkOpts) int {
	op, code := a.openForWrite(writeOpen{dryRun: o.dryRun, undo: o.undo, allowROMount: o.allowROMount, ino: o.ino})
	if op == nil {
		return code
	}
	fs := op.FS
	done := false
	defer a.closeWrite(op, &done)
	before, err := fs.Orphans()
	if err != nil {
		return a.refuse(err, o.ino)
	}
	plan, skipped, err := fs.PlanRelink(engine.Request{Inode: o.ino, Name: o.name, All: o.all, Into: o.into, KeepPastEOF: o.keepPastEOF,
		Original: o.original, Parents: o.parents,
		Scan: a.scanTables, ScanProgress: a.scanProgress()}, time.Now())
	if err != nil {
		return a.refuse(err, o.ino)
	}
	if a.scanTables {
		before = plan.Listed() // with the scan's finds, for "remaining"
	}
	rep, err := a.relinkPlanReport(o, fs, plan, skipped, before)
	if err != nil {
		return a.refuse(err, o.ino)
	}
	if !o.dryRun {
		if code := a.commitRelink(op, plan, before, rep); code != exitOK {
			return code
		}
	}
	a.printRelinkResult(o, rep, before)
	done = true
	return exitOK
}

// writeOpen says how a writing command (relink, undelete) opens DEV.
type writeOpen struct {
	dryRun       bool
	undo         string // --undo FILE
	allowROMount bool
	ino          uint32 // the inode asked for, for refusals
}

// openForWrite opens the filesystem for a writing command: read-only for
// a dry run, and through the undo file when --undo asks for one. On
// failure it returns nil and the exit code (the error already reported).
func (a *app) openForWrite(w writeOpen) (*engine.Opened, int) {
	mode := engine.ReadWrite
	if w.dryRun {
		mode = engine.ReadOnly
	}
	opts, code, ok := a.devOptions(mode)
	if !ok {
		return nil, code
	}
	opts.AllowReadOnlyMount = w.allowROMount
	var (
		op  *engine.Opened
		err error
	)
	if w.undo != "" && !w.dryRun {
		// Every write of this run goes through the undo file, which saves
		// each block's old content (on stable storage) first.
		op, err = engine.OpenFSWithUndo(a.dev, opts, w.undo)
	} else {
		op, err = engine.OpenFS(a.dev, opts)
	}
	if err != nil {
		return nil, a.refuse(err, w.ino)
	}
	a.noteSection(op.Dev)
	return op, exitOK
}

// closeWrite ends a writing command: on a failure (done false) the undo
// file is removed if nothing was written, else kept with a word on how to
// use it (see dropUndo; closing it twice is harmless); then DEV is closed.
func (a *app) closeWrite(op *engine.Opened, done *bool) {
	if op.Undo != nil && !*done {
		a.dropUndo(op.Undo)
	}
	op.Dev.Close()
}

// relinkPlanReport describes the plan before anything is written.
func (a *app) relinkPlanReport(o relinkOpts, fs *engine.FS, plan *engine.Plan, skipped []engine.Skipped, before *engine.OrphanList) (*relinkReport, error) {
	changes, err := plan.Changes()
	if err != nil {
		return nil, err
	}
	if changes == nil {
		changes = []engine.Change{}
	}
	rep := &relinkReport{DryRun: o.dryRun, Relinked: plan.Relinks, Created: plan.Created, Skipped: skipped, Blocks: changes, Journal: journalSummary(fs), Commit: "journal", Section: a.section, Log: plan.LogPlace,
		Remaining: remaining(before, plan.Relinks)}
	if rep.Relinked == nil {
		rep.Relinked = []engine.Relinked{}
	}
	if o.all && len(rep.Relinked) == 0 {
		rep.EarlierRelinks = fs.EarlierRelinks(o.into)
	}
	if plan.Ordered {
		rep.Commit = "ordered"
	}
	return rep, nil
}

// commitRelink writes the plan, closes the undo file and verifies the
// result from the device, recording both in rep.
func (a *app) commitRelink(op *engine.Opened, plan *engine.Plan, before *engine.OrphanList, rep *relinkReport) int {
	if err := op.FS.Commit(plan); err != nil {
		return a.fail(fmt.Errorf("writing: %w; the orphans are safe: the commit leaves either the old state or the new one, so run the same command again to finish", err))
	}
	if undo := op.Undo; undo != nil {
		if err := undo.Close(); err != nil {
			// Every header was already on stable storage before the
			// device write it covers: the file is complete anyway.
			fmt.Fprintf(a.stderr, "ext4relink: warning: %v (the undo file was already complete after the last write)\n", err)
		}
		rep.Undo = &undoReport{File: undo.Path(), Blocks: len(undo.Saved())}
	}
	if err := engine.Verify(op.Dev, plan, before); err != nil {
		return a.fail(err)
	}
	rep.Verified = true
	return exitOK
}

// printRelinkResult prints the report as text or JSON.
func (a *app) printRelinkResult(o relinkOpts, rep *relinkReport, before *engine.OrphanList) {
	if a.json {
		a.printJSON(toJSONRelinkReport(*rep))
		if o.dryRun && o.undo != "" {
			fmt.Fprintf(a.stderr, "ext4relink: --undo %s: no undo file was created: --dry-run writes nothing\n", o.undo)
		}
		return
	}
	a.printRelink(*rep, before)
	if o.dryRun && o.undo != "" {
		fmt.Fprintf(a.stdout, "No undo file was created (--undo %s): --dry-run writes nothing.\n", o.undo)
	}
}

// dropUndo closes the undo file after a failed run: it is removed when the
// device was never written, and kept (with a note on how to use it) when
// some blocks were.
func (a *app) dropUndo(u *undo.Dev) {
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
	verb, mk := "Relinked", "Created"
	if rep.DryRun {
		verb, mk = "Would relink", "Would create"
	}
	for _, c := range rep.Created {
		fmt.Fprintf(w, "%s directory %s (inode %d, mode 0755, owner root): %s.\n", mk, c.Path, c.Inode, c.DirChange)
	}
	for _, r := range rep.Relinked {
		if r.AlreadyDone {
			fmt.Fprintf(w, "Inode %d is already linked as %s: nothing to do.\n", r.Inode, r.Path)
			continue
		}
		fmt.Fprintf(w, "%s inode %d (%s, %d bytes, %s) as %s: %s.\n", verb, r.Inode, r.Type, r.Size, where(engine.Orphan{Source: r.Source, Position: r.Position, Slot: r.Slot}), r.Path, r.DirChange)
		if r.PastEOF != nil {
			fmt.Fprintf(w, "  %s.\n", r.PastEOF.Sentence(rep.DryRun))
		}
		if r.Why != "" {
			fmt.Fprintf(w, "  Not at its original path: %s.\n", r.Why)
		}
	}
	if len(rep.Relinked) == 0 {
		a.printNothingToRelink(rep)
	}
	for _, s := range rep.Skipped {
		fmt.Fprintf(w, "Skipped inode %d: %s.\n", s.Inode, s.Reason)
	}
	how := "through one journal transaction"
	if rep.Commit == "ordered" {
		how = "without an internal journal, in four ordered and flushed steps (links, entries, orphan list, stale chain links)"
	}
	if rep.DryRun && len(rep.Blocks) == 0 {
		fmt.Fprintf(w, "\nPlan (%s): nothing would be written.\nNothing was written (--dry-run).\n", rep.Journal)
		return
	}
	if rep.DryRun {
		fmt.Fprintf(w, "\nPlan (%s); these %d blocks would be written, %s:\n", rep.Journal, len(rep.Blocks), how)
		for _, c := range rep.Blocks {
			fmt.Fprintf(w, "  block %d: %s\n", c.Block, strings.Join(c.What, "; "))
		}
		printLogPlace(w, rep.Log, true)
		fmt.Fprintln(w, "Nothing was written (--dry-run).")
		return
	}
	switch {
	case len(rep.Blocks) == 0:
		fmt.Fprintln(w, "\nNothing needed writing: the device was not changed.")
	case rep.Commit == "ordered":
		fmt.Fprintf(w, "\nWrote %d blocks %s and verified the result.\n", len(rep.Blocks), how)
	default:
		fmt.Fprintf(w, "\nWrote %d blocks %s and verified the result; no journal recovery is pending.\n", len(rep.Blocks), how)
	}
	if len(rep.Blocks) > 0 {
		printLogPlace(w, rep.Log, false)
	}
	if u := rep.Undo; u != nil {
		fmt.Fprintf(w, "Saved the old content of the %d device blocks this run changed to %s: 'e2undo %s %s' puts the device back exactly as it was, as long as nothing else has changed it since (e2undo refuses otherwise).\n", u.Blocks, u.File, u.File, a.dev)
	}
	a.printNext(rep)
}

// printNext says exactly what comes next. A mount is advised only when no
// orphan is left: mounting (even read-only) frees every orphan still listed.
func (a *app) printNext(rep relinkReport) {
	w := a.stdout
	if len(rep.Remaining) > 0 {
		fmt.Fprintf(w, "\n%d inode(s) remain on the orphan list:\n", len(rep.Remaining))
		for _, o := range rep.Remaining {
			fmt.Fprintf(w, "  inode %d: %s, %d bytes, %s, %s\n", o.Inode, o.Type, o.Size, where(engine.Orphan{Source: o.Source, Position: o.Position, Slot: o.Slot}), o.State)
		}
	}
	reports := fsckForecast(rep.Remaining)
	if len(reports) == 0 {
		if len(rep.Remaining) > 0 {
			fmt.Fprintln(w, "They have links (a truncate was in progress): e2fsck -n does not report them, and the next mount finishes the truncate.")
		}
		if len(rep.Relinked) > 0 {
			fmt.Fprintf(w, "Next: '%s' should report nothing; then mount it and copy the data somewhere safe.\n", a.withFsckDev("e2fsck -fn"))
		}
		return
	}
	fmt.Fprintf(w, "'%s' will report them, with exit 4:\n", a.withFsckDev("e2fsck -fn"))
	for _, r := range reports {
		fmt.Fprintf(w, "  %s\n", r)
	}
	fmt.Fprint(w, `and block and inode bitmap differences ("Filesystem still has errors"):
e2fsck -n never processes the orphan list, so it sees these inodes
half-deleted. That is expected and says nothing about what was relinked. The
next mount (even read-only) or 'e2fsck -p'/'-y' finishes the kernel's work:
deleted-open, past-eof and releasing inodes are freed for good, truncating
ones truncated.
`)
	if ino, ok := firstRelinkable(rep.Remaining); ok {
		fmt.Fprintf(w, "To keep one, relink it first:\n  ext4relink --dev %s --inode %d --name PATH   (or --all)\nMount only when you want none of them.\n", a.devArgs(), ino)
	} else {
		fmt.Fprintln(w, "None of them can be relinked (see their states above).")
	}
}

// fsckForecast says what e2fsck -n reports about the orphans left, in the
// order it checks inodes' i_dtime: a chain member that still links to the
// next one (its i_dtime is an inode number) is "part of the orphaned inode
// list"; one with no links and no chain link left (the chain's last member,
// an orphan-file entry) "has zero dtime". Members with links and no chain
// link (a truncate in progress) are not reported.
func fsckForecast(left []remainingOrphan) []string {
	var chain []remainingOrphan
	var out []string
	for _, o := range left {
		switch o.Source {
		case engine.SourceChain:
			chain = append(chain, o)
		case engine.SourceStranded:
			out = append(out, fmt.Sprintf("inode %d (cut off the chain by the fast-commit replay): \"Deleted inode %d has zero dtime\" or \"Inode %d was part of the orphaned inode list\"", o.Inode, o.Inode, o.Inode))
		case engine.SourceScan:
			out = append(out, fmt.Sprintf("inode %d (on no list, found by --scan): \"Deleted inode %d has zero dtime\" or \"Inode %d was part of the orphaned inode list\"", o.Inode, o.Inode, o.Inode))
		default:
			if o.Links == 0 {
				out = append(out, fmt.Sprintf("\"Deleted inode %d has zero dtime\"", o.Inode))
			}
		}
	}
	slices.SortFunc(chain, func(x, y remainingOrphan) int { return x.Position - y.Position })
	lowDtime := false
	for k, o := range chain {
		switch {
		case k < len(chain)-1:
			out = append(out, fmt.Sprintf("\"Inode %d was part of the orphaned inode list\"", o.Inode))
			lowDtime = true
		case o.Links == 0:
			out = append(out, fmt.Sprintf("\"Deleted inode %d has zero dtime\"", o.Inode))
		}
	}
	if lowDtime {
		out = append(out, "\"Inodes that were part of a corrupted orphan linked list found\"")
	}
	return out
}

// firstRelinkable returns the first orphan left that a relink would take.
func firstRelinkable(left []remainingOrphan) (uint32, bool) {
	for _, o := range left {
		if o.State == engine.StateDeletedOpen || o.State == engine.StatePastEOF {
			return o.Inode, true
		}
	}
	return 0, false
}

// printNothingToRelink explains an --all run that found nothing to do,
// claiming an earlier run only when the directory entries show one.
func (a *app) printNothingToRelink(rep relinkReport) {
	w := a.stdout
	if n := len(rep.EarlierRelinks); n > 0 {
		fmt.Fprintf(w, "No orphan to relink. %d inode(s) are already linked as #INODE in the --all directory, as an earlier run leaves them (e.g. #%d).\n", n, rep.EarlierRelinks[0])
		return
	}
	if len(rep.Skipped) > 0 {
		fmt.Fprintln(w, "No orphan that can be relinked:")
		return
	}
	fmt.Fprint(w, noOrphansHelp)
}

// noOrphansHelp says what usually leaves no orphans behind.
const noOrphansHelp = `No orphans: no inode on this filesystem is a file deleted while open.
What usually causes that:
  - the filesystem was mounted since the crash (even read-only: the kernel's
    orphan cleanup runs at mount time when the device is writable);
  - e2fsck ran (it frees every orphan; so does 'e2fsck -E journal_only');
  - the process closed the file (or exited) before the crash or the copy:
    the last close frees the inode at once.
If the process still runs, the file is not lost: copy it now from
/proc/PID/fd/N (find it with: ls -l /proc/*/fd | grep deleted).
`

// remaining lists the orphans a run leaves on the list.
func remaining(before *engine.OrphanList, relinked []engine.Relinked) []remainingOrphan {
	done := map[uint32]bool{}
	for _, r := range relinked {
		done[r.Inode] = true
	}
	out := []remainingOrphan{}
	for _, o := range before.Orphans {
		if !done[o.Inode] {
			out = append(out, remainingOrphan{Inode: o.Inode, Type: o.Type, Size: o.Size, Links: o.Links, State: o.State, Source: o.Source, Position: o.Position, Slot: o.Slot})
		}
	}
	return out
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
		return a.fail(fmt.Errorf("%w; nothing was written. To save the data without relinking, copy it out read-only: %s", err, a.withFsckDev(fmt.Sprintf("debugfs -n -R 'dump %s /safe/place'", target))))
	case exitRequest:
		return a.fail(fmt.Errorf("%w; nothing was written", err))
	}
	return a.fail(err)
}
