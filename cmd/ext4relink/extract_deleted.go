package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/ext4relink/ext4relink/engine"
	"github.com/ext4relink/ext4relink/extract"
	"github.com/ext4relink/ext4relink/internal/devio"
)

// reusedSuffix marks the copy of a reused file: some of its blocks may
// hold another file's data.
const reusedSuffix = ".REUSED"

// deletedExtracted is one copied deleted file: the copy's report and the
// file's state.
type deletedExtracted struct {
	*extract.Report
	State engine.DeletedState
}

// deletedExtractReport is what extract --deleted did; --json prints it as
// jsonDeletedExtractReport.
type deletedExtractReport struct {
	Extracted []deletedExtracted
	Skipped   []engine.Skipped
	Failed    []extractFailure
	Section   *devio.Section
}

func (o extractOpts) checkDeleted(a *app) int {
	switch {
	case !o.deleted:
		return a.usageErr("--include-reused goes with --deleted")
	case o.path != "" || o.all || o.superblock != "" || o.ignoreErrors:
		return a.usageErr("--deleted takes --inode N --out FILE, or --out DIR for every deleted file; not --path, --all, --superblock or --ignore-errors")
	case o.out == "":
		return a.usageErr("--out is required: the file to write (without --inode, the directory); put it on another disk than DEV")
	}
	return 0
}

// extractDeleted copies files deleted while closed out, from the maps
// their journal copies give: one (--inode) or every one listed (--out DIR,
// each at its original path under DIR, else DIR/#INODE). A reused file is
// copied only with --include-reused, under a name ending in .REUSED.
func (a *app) extractDeleted(o extractOpts) int {
	if code := o.checkDeleted(a); code != 0 {
		return code
	}
	fs, _, use, closeFS, code, ok := a.openForExtract(o)
	if !ok {
		return code
	}
	defer closeFS()
	defer a.removeTempsOnInterrupt()()
	l, code, ok := a.listDeleted(fs)
	if !ok {
		return code
	}
	rep := &deletedExtractReport{Extracted: []deletedExtracted{}, Section: a.section}
	if o.ino != 0 {
		code = a.extractOneDeleted(fs, use, o, l, rep)
	} else {
		code = a.extractAllDeleted(fs, use, o, l, rep)
	}
	if a.json && (code == exitOK || len(rep.Extracted)+len(rep.Skipped)+len(rep.Failed) > 0) {
		a.printJSON(toJSONDeletedExtractReport(rep))
	}
	return code
}

// deletedSkip says why a deleted file is not copied ("" to copy it).
func deletedSkip(d *engine.DeletedFile, reused bool) string {
	switch {
	case d.Type != engine.TypeFile && d.Type != engine.TypeSymlink:
		return fmt.Sprintf("a %s: nothing to copy", d.Type)
	case d.State == engine.DeletedIncomplete:
		return "incomplete: " + d.Reason
	case d.State == engine.DeletedReused && !reused:
		return d.Reason + "; copied only with --include-reused (as NAME" + reusedSuffix + ")"
	}
	return ""
}

func (a *app) extractOneDeleted(fs *engine.FS, use engine.Use, o extractOpts, l *engine.DeletedList, rep *deletedExtractReport) int {
	var d *engine.DeletedFile
	for i := range l.Files {
		if l.Files[i].Inode == o.ino {
			d = &l.Files[i]
		}
	}
	if d == nil {
		return a.fail(fmt.Errorf("%w: inode %d is not a deleted file the journal describes (see 'ext4relink deleted')", engine.ErrRequest, o.ino))
	}
	if why := deletedSkip(d, o.reused); why != "" {
		return a.fail(fmt.Errorf("%w: inode %d: %s", engine.ErrRequest, o.ino, why))
	}
	out := o.out
	if d.State == engine.DeletedReused {
		out += reusedSuffix
	}
	if err := extract.CheckPlace(a.dev, use, filepath.Dir(out)); err != nil {
		return a.fail(err)
	}
	r, err := a.copyDeleted(fs, d, out, o)
	if err != nil {
		return a.fail(err)
	}
	rep.Extracted = append(rep.Extracted, deletedExtracted{r, d.State})
	a.printDeletedExtracted(r, d)
	return exitOK
}

func (a *app) extractAllDeleted(fs *engine.FS, use engine.Use, o extractOpts, l *engine.DeletedList, rep *deletedExtractReport) int {
	if err := extract.CheckPlace(a.dev, use, existingAncestor(o.out)); err != nil {
		return a.fail(err)
	}
	if err := os.MkdirAll(o.out, 0o700); err != nil {
		return a.fail(fmt.Errorf("%w: %w", extract.ErrOutput, err))
	}
	taken := map[string]bool{}
	code := exitOK
	for i := range l.Files {
		d := &l.Files[i]
		if why := deletedSkip(d, o.reused); why != "" {
			rep.Skipped = append(rep.Skipped, engine.Skipped{Inode: d.Inode, Reason: why})
			if !a.json {
				fmt.Fprintf(a.stdout, "Skipped inode %d (%s): %s\n", d.Inode, orUnknown(d.Path), why)
			}
			continue
		}
		out, orig := outPath(o.out, d.Inode, d.Path, taken)
		if d.State == engine.DeletedReused {
			out += reusedSuffix
		}
		taken[out] = true
		var r *extract.Report
		err := extract.CheckPlace(a.dev, use, filepath.Dir(out))
		if err == nil {
			r, err = a.copyDeleted(fs, d, out, o)
		}
		if err != nil {
			c := exitCode(err)
			fmt.Fprintf(a.stderr, "ext4relink: inode %d: %v\n", d.Inode, err)
			rep.Failed = append(rep.Failed, extractFailure{Inode: d.Inode, Error: err.Error(), ExitCode: c})
			if code == exitOK {
				code = c
			}
			continue
		}
		r.OriginalPath = orig
		rep.Extracted = append(rep.Extracted, deletedExtracted{r, d.State})
		a.printDeletedExtracted(r, d)
	}
	extract.SyncDir(o.out)
	if !a.json && len(l.Files) == 0 {
		fmt.Fprint(a.stdout, noDeletedHelp)
	}
	return code
}

// copyDeleted writes deleted file d to out through the map of its live
// journal copy, with that copy's mode, owner and times.
func (a *app) copyDeleted(fs *engine.FS, d *engine.DeletedFile, out string, o extractOpts) (*extract.Report, error) {
	src := extract.Source{Ino: d.Inode, Inode: d.LiveInode(), FS: fs.InodeFS(), Read: fs.ReadBlock, Blocks: fs, Map: d.Map()}
	return extract.Write(src, out, extract.WriteOptions{Force: o.force, NoPreserve: o.noPreserve, NoDirSync: o.ino == 0})
}

func (a *app) printDeletedExtracted(r *extract.Report, d *engine.DeletedFile) {
	if a.json {
		return
	}
	a.printExtracted(r)
	if d.State == engine.DeletedReused {
		fmt.Fprintf(a.stdout, "  REUSED: %s; the copy may hold another file's data in those blocks\n", d.Reason)
	}
}

func orUnknown(p string) string {
	if p == "" {
		return "path unknown"
	}
	return p
}
