package main

import (
	"errors"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/ext4relink/ext4relink/engine"
	"github.com/ext4relink/ext4relink/extract"
	"github.com/ext4relink/ext4relink/internal/devio"
	"github.com/ext4relink/ext4relink/super"
)

// Exit codes of extract (documented in the manual's table with the others).
const (
	exitPartial = 9 // --ignore-errors: copied, but some ranges could not be read (holes in the copy)
	// exitOutput (10, in live.go): the output could not be written or does
	// not read back (full disk: the partial file was removed).
)

type extractOpts struct {
	ino          uint32
	path         string
	all          bool
	out          string
	force        bool
	noPreserve   bool
	quiet        bool
	ignoreErrors bool
	superblock   string // --superblock N, decimal
	blockSize    string // --blocksize B, decimal
	deleted      bool   // files deleted while closed (extract_deleted.go)
	reused       bool   // --include-reused
}

// extractReport is what an extract did; --json prints it as jsonExtractReport.
type extractReport struct {
	Extracted []*extract.Report
	Skipped   []engine.Skipped
	Failed    []extractFailure
	Backup    *engine.Backup
	Section   *devio.Section
}

type extractFailure struct {
	Inode    uint32
	Error    string
	ExitCode int
}

// progressMin is the size from which a copy shows progress on a terminal.
const progressMin = 64 << 20

func (a *app) extract(args []string) int {
	fl := a.flags("extract")
	var o extractOpts
	uint32Flag(fl, &o.ino, "inode", "")
	fl.StringVar(&o.path, "path", "", "")
	fl.BoolVar(&o.all, "all", false, "")
	fl.StringVar(&o.out, "out", "", "")
	fl.BoolVar(&o.force, "force", false, "")
	fl.BoolVar(&o.noPreserve, "no-preserve", false, "")
	fl.BoolVar(&o.quiet, "quiet", false, "")
	fl.BoolVar(&o.ignoreErrors, "ignore-errors", false, "")
	fl.StringVar(&o.superblock, "superblock", "", "")
	fl.StringVar(&o.blockSize, "blocksize", "", "")
	fl.BoolVar(&o.deleted, "deleted", false, "")
	fl.BoolVar(&o.reused, "include-reused", false, "")
	if code, ok := a.parse(fl, args, true); !ok {
		return code
	}
	if a.scanTables && !o.all {
		return a.usageErr("--scan goes with --all (orphans on no list are found by reading the inode tables); a single inode needs no scan: --inode N copies it either way")
	}
	if o.deleted || o.reused {
		return a.extractDeleted(o)
	}
	if code := o.check(a); code != 0 {
		return code
	}
	fs, info, use, closeFS, code, ok := a.openForExtract(o)
	if !ok {
		return code
	}
	defer closeFS()
	defer a.removeTempsOnInterrupt()()
	rep := &extractReport{Backup: info, Section: a.section}
	if info != nil && !a.json {
		fmt.Fprintf(a.stderr, "ext4relink: reading through the backup superblock of group %d at block %d (%d-byte blocks)%s\n",
			info.Group, info.Block, info.BlockSize, map[bool]string{true: "; the journal holds a log, replayed in memory as e2fsck would", false: ""}[info.LogReplayed])
	}
	if o.all {
		code = a.extractAll(fs, use, o, rep)
	} else {
		code = a.extractOne(fs, use, o, rep)
	}
	// One JSON object: the report, or (when nothing was attempted) the
	// error a.fail printed.
	if a.json && (code == exitOK || code == exitPartial || len(rep.Extracted)+len(rep.Skipped)+len(rep.Failed) > 0) {
		if rep.Extracted == nil {
			rep.Extracted = []*extract.Report{}
		}
		a.printJSON(toJSONExtractReport(rep))
	}
	return code
}

func (o extractOpts) check(a *app) int {
	n := 0
	for _, set := range []bool{o.ino != 0, o.path != "", o.all} {
		if set {
			n++
		}
	}
	switch {
	case n != 1:
		return a.usageErr("give one of --inode N, --path PATH or --all (see 'ext4relink list --dev DEV' for the orphans)")
	case o.out == "":
		return a.usageErr("--out is required: the file to write (with --all, the directory); put it on another disk than DEV")
	case (o.superblock == "") != (o.blockSize == ""):
		return a.usageErr("--superblock N and --blocksize B go together (as e2fsck -b N -B B): e.g. --superblock 32768 --blocksize 4096")
	case strings.HasSuffix(o.out, "/") && !o.all:
		return a.usageErr("--out %q ends in a slash: give the file's own name too, e.g. %s", o.out, filepath.Join(o.out, "rescued"))
	}
	return 0
}

// openForExtract opens DEV read-only (no O_EXCL, a shared lock on image
// files: other readers are not blocked) and loads the filesystem, through
// a backup superblock when asked.
func (a *app) openForExtract(o extractOpts) (*engine.FS, *engine.Backup, engine.Use, func(), int, bool) {
	opts, code, ok := a.devOptions(engine.ReadOnly)
	if !ok {
		return nil, nil, engine.Use{}, nil, code, false
	}
	var sbBlock, bs uint64
	if o.superblock != "" {
		var err1, err2 error
		sbBlock, err1 = parseDecimal(o.superblock, 48)
		bs, err2 = parseDecimal(o.blockSize, 17)
		if err1 != nil || err2 != nil || sbBlock == 0 {
			return nil, nil, engine.Use{}, nil, a.usageErr("--superblock %q --blocksize %q: want decimal numbers, e.g. --superblock 32768 --blocksize 4096", o.superblock, o.blockSize), false
		}
	}
	dev, use, err := engine.Open(a.dev, opts)
	if err != nil {
		return nil, nil, use, nil, a.fail(err), false
	}
	a.noteSection(dev)
	var fs *engine.FS
	var info *engine.Backup
	if sbBlock != 0 {
		fs, info, err = engine.LoadFSBackup(dev, sbBlock, uint32(bs))
	} else if fs, err = engine.LoadFS(dev); err != nil {
		err = backupHint(dev.ExplainNoFS(err))
	}
	if err != nil {
		dev.Close()
		return nil, nil, use, nil, a.fail(err), false
	}
	a.warnMounted(use)
	if fs.Journal.FastCommitsRefused != nil {
		fmt.Fprintf(a.stderr, "ext4relink: warning: %v; the copies show the files as of the last full journal commit\n", fs.Journal.FastCommitsRefused)
	}
	return fs, info, use, func() { dev.Close() }, 0, true
}

// backupHint adds, to a damaged primary superblock, how to read through a
// backup copy.
func backupHint(err error) error {
	var fe *super.FormatError
	if !errors.As(err, &fe) || fe.Struct != "superblock" {
		return err
	}
	return fmt.Errorf("%w; if the primary superblock is destroyed, read through a backup copy: --superblock 32768 --blocksize 4096 (1 KiB blocks: --superblock 8193 --blocksize 1024; 'dumpe2fs -h -o superblock=32768 -o blocksize=4096 DEV' shows whether one is there)", err)
}

// source is what extract.Write needs to copy inode ino of fs.
func source(fs *engine.FS, ino uint32) (extract.Source, error) {
	in, _, err := fs.ReadInode(ino)
	if err != nil {
		return extract.Source{}, err
	}
	return extract.Source{Ino: ino, Inode: in, FS: fs.InodeFS(), Read: fs.ReadBlock, Blocks: fs}, nil
}

func (a *app) extractOne(fs *engine.FS, use engine.Use, o extractOpts, rep *extractReport) int {
	ino := o.ino
	if o.path != "" {
		_, _, found, err := engine.NewPlan(fs, time.Time{}).Resolve(o.path)
		if err != nil {
			return a.fail(err)
		}
		if found == 0 {
			return a.fail(fmt.Errorf("%w: %s does not exist in the filesystem (as the replayed journal shows it); PATH is from the filesystem's own root", engine.ErrRequest, o.path))
		}
		ino = found
	}
	if err := extract.CheckPlace(a.dev, use, filepath.Dir(o.out)); err != nil {
		return a.fail(err)
	}
	if o.ino != 0 {
		a.warnNotOrphan(fs, ino)
	}
	r, err := a.extractInode(fs, ino, o.out, o)
	if err != nil {
		return a.fail(err)
	}
	rep.Extracted = append(rep.Extracted, r)
	a.printExtracted(r)
	if r.Partial() {
		return exitPartial
	}
	return exitOK
}

// warnNotOrphan warns about an inode that is neither linked nor on the
// orphan list: its blocks are free space, possibly reused.
func (a *app) warnNotOrphan(fs *engine.FS, ino uint32) {
	in, _, err := fs.ReadInode(ino)
	if err != nil || in.LinksCount != 0 {
		return
	}
	if l, err := fs.Orphans(); err == nil {
		for _, o := range l.Orphans {
			if o.Inode == ino {
				return
			}
		}
	}
	fmt.Fprintf(a.stderr, "ext4relink: warning: inode %d has no links and is not on the orphan list: it was freed, and its blocks may already hold other data\n", ino)
}

func (a *app) extractInode(fs *engine.FS, ino uint32, out string, o extractOpts) (*extract.Report, error) {
	src, err := source(fs, ino)
	if err != nil {
		return nil, err
	}
	wo := extract.WriteOptions{Force: o.force, NoPreserve: o.noPreserve, IgnoreErrors: o.ignoreErrors, NoDirSync: o.all}
	if !o.quiet && !a.json && src.Inode.Size() >= progressMin && isTerminal(a.stderr) {
		wo.Done = new(atomic.Int64)
		stop := a.extractProgress(wo.Done, src.Inode.Size())
		defer stop()
	}
	return extract.Write(src, out, wo)
}

func (a *app) extractAll(fs *engine.FS, use engine.Use, o extractOpts, rep *extractReport) int {
	// Check where DIR will be before making it: not even a mkdir on the
	// filesystem being read.
	if err := extract.CheckPlace(a.dev, use, existingAncestor(o.out)); err != nil {
		return a.fail(err)
	}
	if err := os.MkdirAll(o.out, 0o700); err != nil {
		return a.fail(fmt.Errorf("%w: %w", extract.ErrOutput, err))
	}
	l, err := fs.Orphans()
	if err != nil {
		return a.fail(err)
	}
	if a.scanTables { // orphans a torn write cut off every list, too
		if _, err := fs.ScanOrphans(l, a.scanProgress()); err != nil {
			return a.fail(err)
		}
	}
	names := a.originalPaths(fs, l)
	taken := map[string]bool{} // the outputs of this run
	code := exitOK
	for _, orph := range l.Orphans {
		if why := skipReason(orph); why != "" {
			rep.Skipped = append(rep.Skipped, engine.Skipped{Inode: orph.Inode, Reason: why})
			if !a.json {
				fmt.Fprintf(a.stdout, "Skipped inode %d: %s\n", orph.Inode, why)
			}
			continue
		}
		out, orig := outPath(o.out, orph.Inode, names[orph.Inode].Path, taken)
		taken[out] = true
		var r *extract.Report
		err := extract.CheckPlace(a.dev, use, filepath.Dir(out)) // a mount under DIR
		if err == nil {
			r, err = a.extractInode(fs, orph.Inode, out, o)
		}
		if err != nil {
			c := exitCode(err)
			fmt.Fprintf(a.stderr, "ext4relink: inode %d: %v\n", orph.Inode, err)
			rep.Failed = append(rep.Failed, extractFailure{Inode: orph.Inode, Error: err.Error(), ExitCode: c})
			if code == exitOK || code == exitPartial {
				code = c
			}
			continue
		}
		r.OriginalPath = orig
		rep.Extracted = append(rep.Extracted, r)
		a.printExtracted(r)
		if r.Partial() && code == exitOK {
			code = exitPartial
		}
	}
	extract.SyncDir(o.out) // the names, once for all files
	for _, p := range l.Problems {
		fmt.Fprintf(a.stderr, "ext4relink: warning: %s\n", p)
	}
	if !a.json && len(rep.Extracted)+len(rep.Skipped)+len(rep.Failed) == 0 {
		fmt.Fprintf(a.stdout, "No orphans on %s: nothing to extract.\n", a.where())
	}
	return code
}

// removeTempsOnInterrupt makes SIGINT and SIGTERM remove the partial copy
// being written (exit 130) until the returned function is called.
func (a *app) removeTempsOnInterrupt() (stop func()) {
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, os.Interrupt, syscall.SIGTERM)
	done := make(chan struct{})
	go func() {
		select {
		case <-ch:
			for _, p := range extract.RemoveTemps() {
				fmt.Fprintf(a.stderr, "\ninterrupted: the partial copy %s was removed; %s was not written\n", p, a.dev)
			}
			os.Exit(130)
		case <-done:
		}
	}()
	return func() { signal.Stop(ch); close(done) }
}

// existingAncestor is dir, or its nearest ancestor that exists.
func existingAncestor(dir string) string {
	d := filepath.Clean(dir)
	for {
		if _, err := os.Stat(d); err == nil || d == filepath.Dir(d) {
			return d
		}
		d = filepath.Dir(d)
	}
}

// outName is the name --all gives inode ino's copy when its original path
// is not known: #INO, at the top of the output directory.
func outName(ino uint32) string { return "#" + strconv.FormatUint(uint64(ino), 10) }

// outPath is where --all writes inode ino: at its original path (from the
// filesystem's root) under dir when engine.OriginalPaths gave one, else
// dir/#INO. The path's directories are made inside dir; a component that
// exists as anything but a real directory (a symbolic link an earlier
// orphan of this run became, a file), a name that is already taken (two
// orphans of this run had the same name), or a path that would leave dir, falls
// back to #INO. An output a previous run left is used as it is (refused
// without --force). orig is the path used ("" for #INO).
func outPath(dir string, ino uint32, path string, taken map[string]bool) (out, orig string) {
	fallback := filepath.Join(dir, outName(ino))
	rel := filepath.Clean(strings.TrimLeft(path, "/"))
	if path == "" || rel == "." || rel == ".." || strings.HasPrefix(rel, "../") {
		return fallback, ""
	}
	parts := strings.Split(rel, "/")
	d := dir
	for _, p := range parts[:len(parts)-1] {
		d = filepath.Join(d, p)
		st, err := os.Lstat(d)
		if errors.Is(err, os.ErrNotExist) {
			err = os.Mkdir(d, 0o700)
			if err == nil {
				continue
			}
		}
		if err != nil || !st.IsDir() {
			return fallback, ""
		}
	}
	out = filepath.Join(d, parts[len(parts)-1])
	if taken[out] {
		return fallback, ""
	}
	return out, path
}

// skipReason says why --all does not extract an orphan ("" to extract it).
func skipReason(o engine.Orphan) string {
	switch {
	case o.Problem != "":
		return "unreadable: " + o.Problem
	case o.State == engine.StateTruncating:
		return "a truncate was in progress (links > 0): its blocks may be partly freed; extract it by --inode if you want what is left"
	case o.State == engine.StateReleasing:
		return "the kernel had begun freeing it (i_size already 0): its length is lost"
	case o.Type == engine.TypeDir:
		return "a directory: a deleted directory holds no names, nothing to copy"
	case o.Type != engine.TypeFile && o.Type != engine.TypeSymlink:
		return fmt.Sprintf("a %s holds no data to copy", o.Type)
	}
	return ""
}

func (a *app) printExtracted(r *extract.Report) {
	if a.json {
		return
	}
	what := fmt.Sprintf("file, %d bytes", r.Size)
	if r.Type == "symlink" {
		what = fmt.Sprintf("symbolic link to %q", r.Target)
	} else if holes := r.Size - min(r.Size, r.DataBytes); holes > 0 && !r.Partial() {
		what += fmt.Sprintf(", %d of them holes", holes)
	}
	fmt.Fprintf(a.stdout, "Extracted inode %d (%s) to %s\n  sha256 %s; read back and verified\n", r.Inode, what, r.Out, r.SHA256)
	if r.Replaced {
		fmt.Fprintf(a.stdout, "  replaced the existing %s (--force)\n", r.Out)
	}
	for _, w := range r.Warnings {
		fmt.Fprintf(a.stderr, "ext4relink: warning: inode %d: %s\n", r.Inode, w)
	}
	if r.Partial() {
		var lost uint64
		for _, m := range r.Missing {
			lost += m.End - m.Start
		}
		fmt.Fprintf(a.stdout, "  PARTIAL: %d bytes could not be read and are holes (zeros) in the copy; the sha256 is of the copy:\n", lost)
		for _, m := range r.Missing {
			fmt.Fprintf(a.stdout, "    bytes %d..%d: %s\n", m.Start, m.End-1, m.Reason)
		}
	}
}

// extractProgress prints bytes, rate and ETA on stderr every half second until
// the returned stop is called.
func (a *app) extractProgress(done *atomic.Int64, total uint64) (stop func()) {
	start := time.Now()
	quit := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		t := time.NewTicker(500 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-quit:
				fmt.Fprint(a.stderr, "\r\033[K")
				return
			case <-t.C:
				d := done.Load()
				if d >= int64(total) {
					fmt.Fprintf(a.stderr, "\r\033[K%d MiB copied; flushing it to the output disk and reading it back", d>>20)
					continue
				}
				el := time.Since(start).Seconds()
				rate := float64(d) / el
				eta := "?"
				if rate > 0 {
					eta = time.Duration(float64(int64(total)-d) / rate * float64(time.Second)).Round(time.Second).String()
				}
				fmt.Fprintf(a.stderr, "\r\033[K%d MiB of %d MiB, %.0f MiB/s, ETA %s", d>>20, total>>20, rate/(1<<20), eta)
			}
		}
	}()
	return func() { close(quit); <-finished }
}

// isTerminal reports whether w is a terminal.
func isTerminal(w any) bool {
	f, ok := w.(*os.File)
	return ok && extract.IsTerminal(f)
}
