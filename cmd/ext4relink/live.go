package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/ext4relink/ext4relink/internal/devio"
	"github.com/ext4relink/ext4relink/internal/live"
	"github.com/spf13/pflag"
	"golang.org/x/sys/unix"
)

// Exit codes of live (besides the shared ones in usage.go).
const (
	exitOutput      = 10  // the output could not be written (full disk, ...); the partial output was removed
	exitInterrupted = 130 // a signal stopped a live copy; holders resumed, partial output removed
)

type liveOpts struct {
	copy   string
	out    string
	all    bool
	force  bool
	freeze bool
	pids   string // --pid: only the files these processes hold
}

// possible is what live says about what can and cannot be done, in the
// text output, in --json and (in other words) in the manual.
var possible = []string{
	"Copy it out NOW, to another disk: 'ext4relink live --copy PID:FD --out FILE' (add --freeze for a file that is being written, such as a database or a VM image; --all --out DIR copies every one).",
	"It cannot be given a name again while its filesystem is mounted, by any tool: linkat() on /proc/PID/fd/N fails with ENOENT for a file whose link count is 0, and the frelink call that would allow it exists only as a kernel module.",
	"Do not kill the holders and do not shut down cleanly: when the last holder closes it, the kernel frees it for good.",
	"After a crash or power cut (so no holder closed it) it waits on the orphan list until the next mount or fsck frees it: boot rescue media, do NOT mount the filesystem or run fsck, and run the rescue command shown for it.",
}

// live lists, or copies out, the deleted files still held on this system.
// It never writes to a held file.
func (a *app) live(args []string) int {
	fl := pflag.NewFlagSet("live", pflag.ContinueOnError)
	fl.SetOutput(io.Discard)
	fl.BoolVar(&a.json, "json", a.json, "")
	var o liveOpts
	fl.StringVar(&o.copy, "copy", "", "")
	fl.StringVar(&o.out, "out", "", "")
	fl.BoolVar(&o.all, "all", false, "")
	fl.BoolVar(&o.force, "force", false, "")
	fl.BoolVar(&o.freeze, "freeze", false, "")
	fl.StringVar(&o.pids, "pid", "", "")
	if code, ok := a.parse(fl, args, false); !ok {
		return code
	}
	switch {
	case o.copy != "" && o.all:
		return a.usageErr("give --copy PID:FD or --all, not both")
	case (o.copy != "" || o.all) && o.out == "":
		return a.usageErr("--out is required with --copy (the output file) and --all (the output directory); put it on another disk")
	case o.copy == "" && !o.all && (o.out != "" || o.force || o.freeze):
		return a.usageErr("--out, --force and --freeze go with --copy PID:FD or --all")
	case o.copy != "" && o.pids != "":
		return a.usageErr("--pid selects files for the list and --all; --copy names its process already")
	case o.copy != "":
		return a.liveCopy(o)
	case o.all:
		return a.liveCopyAll(o)
	}
	return a.liveList(o)
}

// liveFail reports an error of the live package with its exit code.
func (a *app) liveFail(err error) int {
	return a.report(err, liveExitCode(err))
}

func liveExitCode(err error) int {
	switch {
	case err == nil:
		return exitOK
	case errors.Is(err, live.ErrInterrupted):
		return exitInterrupted
	case errors.Is(err, live.ErrPermission), errors.Is(err, live.ErrSource):
		return exitDevice
	case errors.Is(err, live.ErrOutput):
		return exitOutput
	case errors.Is(err, live.ErrVerify):
		return exitVerify
	case errors.Is(err, live.ErrNoSource), errors.Is(err, live.ErrNotDeleted), errors.Is(err, live.ErrNoRoom),
		errors.Is(err, live.ErrOutputExists), errors.Is(err, live.ErrFreeze):
		return exitRequest
	}
	return exitInternal
}

// scan finds the held deleted files, only those the processes in --pid
// hold when it is given.
func (a *app) scan(o liveOpts) (*live.Report, int, bool) {
	var want []int
	if o.pids != "" {
		for _, p := range strings.Split(o.pids, ",") {
			n, err := parseDecimal(p, 31)
			if err != nil || n == 0 {
				return nil, a.usageErr("--pid %q: want process IDs in decimal, separated by commas", o.pids), false
			}
			want = append(want, int(n))
		}
	}
	r, err := live.Scan()
	if err != nil {
		return nil, a.liveFail(err), false
	}
	if want != nil {
		r.Files = slices.DeleteFunc(r.Files, func(f live.File) bool {
			return !slices.ContainsFunc(f.Holders, func(h live.Holder) bool { return slices.Contains(want, h.PID) })
		})
	}
	return r, 0, true
}

func (a *app) liveList(o liveOpts) int {
	r, code, ok := a.scan(o)
	if !ok {
		return code
	}
	if a.json {
		a.printJSON(toJSONLiveReport(r, possible))
	} else {
		a.printLive(r)
	}
	if len(r.Unreadable) == 0 {
		return exitOK
	}
	if os.Geteuid() != 0 {
		return a.report(fmt.Errorf("%w: the descriptors or mappings of %d process(es) could not be read (%s): the list above may be incomplete; run ext4relink as root",
			live.ErrPermission, len(r.Unreadable), pidList(r.Unreadable)), exitDevice)
	}
	a.note("warning: the descriptors or mappings of %d process(es) could not be read even as root (%s: another user namespace, or a security module, denies it); the list above may be incomplete", len(r.Unreadable), pidList(r.Unreadable))
	return exitOK
}

func pidList(pids []int) string {
	var s []string
	for i, p := range pids {
		if i == 8 {
			s = append(s, "...")
			break
		}
		s = append(s, fmt.Sprint(p))
	}
	return "PID " + strings.Join(s, ", ")
}

func (a *app) printLive(r *live.Report) {
	w := a.stdout
	if len(r.Files) == 0 {
		fmt.Fprintln(w, "No deleted file is held open, mapped, or backing a loop device on this system.")
		return
	}
	fmt.Fprintf(w, "%d deleted file(s) still held on this system:\n", len(r.Files))
	for _, f := range r.Files {
		fmt.Fprintln(w)
		printLiveFile(w, f)
	}
	fmt.Fprintln(w, "\nWhat is possible:")
	for _, p := range possible {
		fmt.Fprintf(w, "- %s\n", p)
	}
}

func printLiveFile(w io.Writer, f live.File) {
	dev := f.Device
	if dev == "" {
		dev = f.Source
	}
	where := fmt.Sprintf("%s (%d:%d", dev, f.Major, f.Minor)
	if f.FSType != "" {
		where += ", " + f.FSType + ", mounted at " + f.MountPoint
	}
	size := "size unknown (held only by a loop device)"
	if len(f.Holders) > 0 && f.Holders[0].LoopSize > 0 {
		size = fmt.Sprintf("the loop device shows %d bytes of it", f.Holders[0].LoopSize)
	}
	if f.Size >= 0 {
		size = fmt.Sprintf("%d bytes, %d sectors allocated", f.Size, f.Blocks)
	}
	fmt.Fprintf(w, "inode %d on %s): %s\n", f.Inode, where, size)
	fmt.Fprintf(w, "  was:     %s", f.Path)
	if f.FSPath != "" && f.FSPath != f.Path {
		fmt.Fprintf(w, "  (inside the filesystem: %s)", f.FSPath)
	}
	fmt.Fprintln(w)
	for _, h := range f.Holders {
		fmt.Fprintf(w, "  held by: %-40s copy: ext4relink live --copy %s --out FILE\n", holderText(h), h.Copy)
	}
	if f.Rescue != "" {
		fmt.Fprintf(w, "  after a crash or power cut, from rescue media: %s\n", f.Rescue)
	}
	for _, n := range f.Notes {
		fmt.Fprintf(w, "  note: %s\n", n)
	}
}

func holderText(h live.Holder) string {
	switch h.Kind {
	case live.HolderFD:
		return fmt.Sprintf("pid %d (%s) fd %d", h.PID, h.Command, *h.FD)
	case live.HolderMap:
		return fmt.Sprintf("pid %d (%s) mapping %s", h.PID, h.Command, h.Map)
	}
	s := "loop device " + h.Loop
	if h.LoopOffset != 0 {
		s += fmt.Sprintf(" (from byte %d)", h.LoopOffset)
	}
	return s
}

// progress returns a progress printer for a copy (bytes, rate) when
// stderr is a terminal, else nil.
func (a *app) progress() func(done, size int64) {
	f, ok := a.stderr.(*os.File)
	if !ok {
		return nil
	}
	if _, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS); err != nil {
		return nil
	}
	start := time.Now()
	return func(done, size int64) {
		a.progressShown = true
		rate := float64(done) / time.Since(start).Seconds()
		fmt.Fprintf(f, "\rext4relink: copied %s of %s (%s/s)   ", devio.HumanSize(done), devio.HumanSize(size), devio.HumanSize(int64(rate)))
	}
}

// endProgress ends the progress line, if one was printed.
func (a *app) endProgress() {
	if a.progressShown {
		fmt.Fprintln(a.stderr)
		a.progressShown = false
	}
}

// note prints a line on stderr.
func (a *app) note(format string, args ...any) {
	a.endProgress()
	fmt.Fprintf(a.stderr, "ext4relink: "+format+"\n", args...)
}

func (a *app) liveCopy(o liveOpts) int {
	src, err := live.ParseSource(o.copy)
	if err != nil {
		return a.usageErr("%v", err)
	}
	opt := live.CopyOptions{Out: o.out, Force: o.force, Freeze: o.freeze, Note: a.note, Progress: a.progress()}
	if o.freeze && src.Loop == "" {
		opt.Holders = otherHolders(src)
	}
	res, err := live.Copy(src, opt)
	a.endProgress()
	if err != nil {
		return a.liveFail(err)
	}
	if a.json {
		a.printJSON(toJSONLiveCopy(res))
	} else {
		a.printCopied(res)
	}
	return exitOK
}

// otherHolders are the processes that hold the same file as src, to stop
// with --freeze too. A failed scan only means fewer are stopped.
func otherHolders(src live.Source) []int {
	r, err := live.Scan()
	if err != nil {
		return nil
	}
	for _, f := range r.Files {
		var pids []int
		mine := false
		for _, h := range f.Holders {
			if h.Copy == src.String() {
				mine = true
			}
			if h.PID != 0 && !slices.Contains(pids, h.PID) {
				pids = append(pids, h.PID)
			}
		}
		if mine {
			return pids
		}
	}
	return nil
}

func (a *app) printCopied(r *live.CopyResult) {
	w := a.stdout
	fmt.Fprintf(w, "Copied %s (inode %d, was %s) to %s: %d bytes, %d of them data (the rest holes), %d sectors allocated (the held file: %d).\n",
		r.Source, r.Inode, r.Path, r.Out, r.Size, r.DataBytes, r.Blocks, r.SourceBlocks)
	fmt.Fprintf(w, "sha256 %s  (read back from the output and matched)\n", r.SHA256)
	if len(r.Frozen) > 0 {
		fmt.Fprintf(w, "%s stopped for the copy and resumed.\n", pidList(r.Frozen))
	}
	if len(r.AlreadyStopped) > 0 {
		fmt.Fprintf(w, "%s was already stopped before the copy (job control or a debugger) and was left stopped.\n", pidList(r.AlreadyStopped))
	}
	if r.SameFS {
		fmt.Fprintln(w, "note: the copy is on the filesystem that holds the deleted file (there was room); keep an eye on its free space.")
	}
	if r.MountedRW != "" {
		fmt.Fprintf(a.stderr, "ext4relink: warning: %s is mounted read-write at %s: the filesystem inside may have changed during the copy; for a consistent copy unmount it (or mount -o remount,ro %s) and copy again\n", r.Source, r.MountedRW, r.MountedRW)
	}
	if r.Changed {
		fmt.Fprintf(a.stderr, "ext4relink: warning: %s changed while it was copied: the copy may mix old and new data; copy again with --freeze for a consistent one\n", r.Source)
	}
}

// copyAllResult is one file of 'live --all' (jsonLiveCopyAll in --json).
type copyAllResult struct {
	*live.CopyResult
	Error    string
	ExitCode int
	// Gone: every holder closed it between the scan and the copy.
	Gone bool
}

// copyHeld copies one file for --all, as DEVNAME-INODE-NAME in o.out,
// through its holders in turn (descriptors first, then mappings, then a
// loop device) until one still holds it. On error the result names what
// was tried.
func (a *app) copyHeld(f live.File, o liveOpts) (*live.CopyResult, error) {
	name := fmt.Sprintf("%s-%d-%s", filepath.Base(devLabel(f)), f.Inode, filepath.Base(f.Path))
	out := filepath.Join(o.out, name)
	hs := slices.Clone(f.Holders)
	slices.SortStableFunc(hs, func(x, y live.Holder) int { return int(x.Kind) - int(y.Kind) })
	var err error
	for _, h := range hs {
		opt := live.CopyOptions{Out: out, Force: o.force, Freeze: o.freeze && h.Kind != live.HolderLoop, Note: a.note, Progress: a.progress()}
		if opt.Freeze {
			for _, x := range f.Holders {
				opt.Holders = append(opt.Holders, x.PID)
			}
		} else if o.freeze {
			a.note("%s is held only by %s: copied without --freeze (no process to stop)", f.Path, h.Loop)
		}
		src, _ := live.ParseSource(h.Copy)
		var res *live.CopyResult
		res, err = live.Copy(src, opt)
		a.endProgress()
		if !errors.Is(err, live.ErrNoSource) {
			if err != nil {
				res = &live.CopyResult{Source: h.Copy, Path: f.Path, Inode: f.Inode, Out: out}
			}
			return res, err
		}
	}
	return nil, err
}

// liveCopyAll copies every held deleted file into the directory o.out,
// as DEVNAME-INODE-NAME, through a descriptor when there is one, else a
// mapping, else the loop device.
func (a *app) liveCopyAll(o liveOpts) int {
	r, code, ok := a.scan(o)
	if !ok {
		return code
	}
	if err := os.MkdirAll(o.out, 0o700); err != nil {
		return a.liveFail(fmt.Errorf("%w: cannot make the output directory %s: %v", live.ErrOutput, o.out, err))
	}
	code = exitOK
	var results []copyAllResult
files:
	for _, f := range r.Files {
		res, err := a.copyHeld(f, o)
		switch {
		case errors.Is(err, live.ErrNoSource):
			// Every holder let go between the scan and the copy: gone, and
			// nothing anyone can copy any more.
			a.note("warning: %s (inode %d) is no longer held (closed since the list was made): it is gone, nothing to copy", f.Path, f.Inode)
			results = append(results, copyAllResult{CopyResult: &live.CopyResult{Path: f.Path, Inode: f.Inode}, Gone: true})
			continue
		case err != nil:
			c := liveExitCode(err)
			fmt.Fprintf(a.stderr, "ext4relink: %s: %v\n", f.Path, err)
			results = append(results, copyAllResult{CopyResult: res, Error: err.Error(), ExitCode: c})
			if code == exitOK {
				code = c
			}
			if c == exitInterrupted {
				break files
			}
			continue
		}
		results = append(results, copyAllResult{CopyResult: res})
		if !a.json {
			a.printCopied(res)
		}
	}
	if a.json {
		if results == nil {
			results = []copyAllResult{}
		}
		a.printJSON(toJSONLiveCopyAll(results))
	} else if len(r.Files) == 0 {
		fmt.Fprintln(a.stdout, "No deleted file is held open, mapped, or backing a loop device on this system: nothing copied.")
	}
	return code
}

func devLabel(f live.File) string {
	if f.Device != "" {
		return f.Device
	}
	return fmt.Sprintf("%d_%d", f.Major, f.Minor)
}
