// Command ext4relink brings back files that were deleted while a process
// still held them open, by repairing an unmounted ext4 filesystem. Run
// `ext4relink --help` for the manual.
package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/ext4relink/ext4relink/engine"
	"github.com/ext4relink/ext4relink/extract"
	"github.com/ext4relink/ext4relink/internal/devio"
	"github.com/ext4relink/ext4relink/super"
	"github.com/spf13/pflag"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "0.1.0-dev"

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// app carries the output streams and the common flags of one invocation.
type app struct {
	stdout, stderr io.Writer
	dev            string
	json           bool
	flagSets       []*pflag.FlagSet // every flag set parsed, for tests
	partition      string           // --partition N, decimal
	offset         string           // --offset BYTES, decimal
	scanTables     bool             // --scan (list, relink): orphans on no list too
	// section is the part of DEV the command worked in (--partition,
	// --offset), once the device is open.
	section *devio.Section
	// progressShown: a progress line (live) waits for its newline.
	progressShown bool
}

// run executes one command line and returns the exit status. It never
// panics on bad input: a panic is a bug and is reported as exit 1.
func run(args []string, stdout, stderr io.Writer) (code int) {
	defer func() {
		if r := recover(); r != nil {
			fmt.Fprintf(stderr, "ext4relink: internal error (a bug; nothing more was written): %v\n", r)
			code = exitInternal
		}
	}()
	a := &app{stdout: stdout, stderr: stderr, json: wantsJSON(args)}
	cmd, args := splitCommand(args)
	switch cmd {
	case "help":
		fmt.Fprint(stdout, usageText())
		return exitOK
	case "list":
		return a.list(args)
	case "journal":
		return a.journal(args)
	case "demo":
		return a.demo(args)
	case "partitions":
		return a.partitions(args)
	case "live":
		return a.live(args)
	case "extract":
		return a.extract(args)
	case "deleted":
		return a.deleted(args)
	case "undelete":
		return a.undelete(args)
	}
	return a.relink(args)
}

// commands are the command words. "relink" names the default command.
var commands = map[string]bool{"list": true, "journal": true, "demo": true, "help": true, "relink": true, "partitions": true, "live": true, "extract": true, "deleted": true, "undelete": true}

// valueFlags are the flags (of any command) that take a value in the next
// argument; a command word right after one of them is that value, not the
// command. TestValueFlags keeps it in step with the flag sets.
var valueFlags = map[string]bool{"dev": true, "inode": true, "name": true, "into": true, "undo": true, "dir": true, "partition": true, "offset": true, "copy": true, "out": true, "pid": true, "path": true, "superblock": true, "blocksize": true}

// splitCommand finds the command word: first, as documented, or after
// flags ("ext4relink --dev X list"). Everything else stays in order.
func splitCommand(args []string) (string, []string) {
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			break
		}
		if strings.HasPrefix(a, "-") {
			if name := strings.TrimLeft(a, "-"); valueFlags[name] && !strings.Contains(a, "=") {
				i++
			}
			continue
		}
		if commands[a] {
			rest := append(append([]string{}, args[:i]...), args[i+1:]...)
			return a, rest
		}
		break
	}
	return "", args
}

// wantsJSON reports whether --json was asked for, before the flags are
// parsed, so that even a usage error is reported as JSON.
func wantsJSON(args []string) bool {
	for _, a := range args {
		if a == "--" {
			break
		}
		if a == "--json" || a == "--json=true" {
			return true
		}
	}
	return false
}

// flags builds a flag set with the options every command shares.
func (a *app) flags(name string) *pflag.FlagSet {
	fl := pflag.NewFlagSet(name, pflag.ContinueOnError)
	fl.SetOutput(io.Discard)
	fl.StringVar(&a.dev, "dev", "", "block device or image file")
	fl.BoolVar(&a.json, "json", a.json, "machine-readable output")
	fl.StringVar(&a.partition, "partition", "", "work inside partition N of the disk image's MBR or GPT")
	fl.StringVar(&a.offset, "offset", "", "work inside the disk image from byte BYTES on")
	if name == "list" || name == "relink" || name == "extract" {
		fl.BoolVar(&a.scanTables, "scan", false, "read every inode table for orphans on no list")
	}
	return fl
}

// devOptions turns --partition/--offset into engine options. They are
// parsed here, decimal only (pflag's integers would take 0x and 0 prefixes).
func (a *app) devOptions(mode engine.Mode) (engine.Options, int, bool) {
	o := engine.Options{Mode: mode}
	if a.partition != "" && a.offset != "" {
		return o, a.usageErr("give --partition or --offset, not both"), false
	}
	if a.partition != "" {
		n, err := parseDecimal(a.partition, 31)
		if err != nil || n < 1 {
			return o, a.usageErr("--partition %q: want a partition number (1, 2, ...; see 'ext4relink partitions --dev DISK')", a.partition), false
		}
		o.Partition = int(n)
	}
	if a.offset != "" {
		n, err := parseDecimal(a.offset, 63)
		if err != nil || n%512 != 0 {
			return o, a.usageErr("--offset %q: want a byte offset in decimal, a multiple of 512", a.offset), false
		}
		o.UseOffset, o.Offset = true, int64(n)
	}
	return o, 0, true
}

// noteSection remembers the section dev was opened with, for messages.
func (a *app) noteSection(dev *engine.Device) {
	if s, ok := dev.Section(); ok {
		a.section = &s
	}
}

// where names DEV, and the section of it, in messages.
func (a *app) where() string {
	if a.section == nil {
		return a.dev
	}
	return a.dev + " " + a.section.Label
}

// devArgs repeats --dev DEV with its --partition/--offset, for commands
// the user is told to run next.
func (a *app) devArgs() string {
	switch {
	case a.partition != "":
		return a.dev + " --partition " + a.partition
	case a.offset != "":
		return a.dev + " --offset " + a.offset
	}
	return a.dev
}

// withFsckDev returns the shell command that runs tool (e2fsck -fn,
// debugfs ...) on the filesystem: on DEV itself, or, inside a disk image,
// on a read-only loop device for the section that is detached afterwards
// (an attached loop device would make the next ext4relink run refuse the
// image as busy).
func (a *app) withFsckDev(tool string) string {
	if a.section == nil {
		return tool + " " + a.dev
	}
	return fmt.Sprintf(`L=$(losetup -r -f --show -o %d --sizelimit %d %s); %s "$L"; losetup -d "$L"`, a.section.Start, a.section.Size, a.dev, tool)
}

// parse parses args; it prints the usage on --help and reports bad usage.
func (a *app) parse(fl *pflag.FlagSet, args []string, needDev bool) (int, bool) {
	help := fl.BoolP("help", "h", false, "")
	ver := fl.Bool("version", false, "")
	man := fl.Bool("man", false, "") // the man page in roff, for go generate
	fl.MarkHidden("man")
	singleValued(fl)
	a.flagSets = append(a.flagSets, fl)
	if err := fl.Parse(args); err != nil {
		return a.usageErr("%v", err), false
	}
	switch {
	case *help:
		fmt.Fprint(a.stdout, usageText())
		return exitOK, false
	case *ver:
		fmt.Fprintln(a.stdout, versionLine())
		return exitOK, false
	case *man:
		fmt.Fprint(a.stdout, renderMan(manual))
		return exitOK, false
	case fl.NArg() > 0:
		return a.usageErr("unexpected argument %q", fl.Arg(0)), false
	case needDev && a.dev == "":
		return a.usageErr("--dev is required"), false
	}
	return 0, true
}

// usageErr reports bad usage as one line, like every other error.
func (a *app) usageErr(format string, args ...any) int {
	return a.report(fmt.Errorf(format+" (see 'ext4relink --help')", args...), exitUsage)
}

// fail prints err and maps it to an exit code.
func (a *app) fail(err error) int {
	return a.report(err, exitCode(err))
}

// report prints err on stderr and, with --json, as one JSON object on
// stdout, naming the on-disk structure when a FormatError is behind it.
func (a *app) report(err error, code int) int {
	fmt.Fprintf(a.stderr, "ext4relink: %v\n", err)
	if a.json {
		r := errorReport{Error: err.Error(), ExitCode: code}
		var fe *super.FormatError
		var te *devio.TableError
		if errors.As(err, &te) {
			r.PartitionTable = toJSONPartitionReport(te.Report)
		} else if errors.As(err, &fe) {
			r.Structure = fe.Struct
			if fe.Block != super.NoBlock {
				b := int64(fe.Block)
				r.Block = &b
			}
			if fe.Offset >= 0 {
				o := fe.Offset
				r.Offset = &o
			}
		}
		a.printJSON(r)
	}
	return code
}

// exitCode maps the engine's sentinels to the documented exit codes.
func exitCode(err error) int {
	switch {
	case err == nil:
		return exitOK
	case errors.Is(err, engine.ErrInternal):
		return exitInternal
	case errors.Is(err, extract.ErrOutput), errors.Is(err, extract.ErrVerify):
		return exitOutput
	case errors.Is(err, engine.ErrArgument):
		return exitUsage
	case errors.Is(err, engine.ErrBusy):
		return exitBusy
	case errors.Is(err, engine.ErrDevice):
		return exitDevice
	case errors.Is(err, engine.ErrVerify):
		return exitVerify
	case errors.Is(err, super.ErrChecksum), errors.Is(err, super.ErrCorrupt):
		return exitCorrupt
	case errors.Is(err, super.ErrUnsupported):
		return exitUnsupported
	case errors.Is(err, engine.ErrRequest):
		return exitRequest
	}
	return exitInternal
}

func (a *app) printJSON(v any) {
	enc := json.NewEncoder(a.stdout)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}
