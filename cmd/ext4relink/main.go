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

	"github.com/ext4relink/ext4relink/engine"
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
	a := &app{stdout: stdout, stderr: stderr}
	cmd := ""
	if len(args) > 0 {
		switch args[0] {
		case "list", "journal", "demo", "help", "relink":
			cmd, args = args[0], args[1:]
		}
	}
	switch cmd {
	case "help":
		fmt.Fprint(stdout, usageText)
		return exitOK
	case "list":
		return a.list(args)
	case "journal":
		return a.journal(args)
	case "demo":
		return a.demo(args)
	}
	return a.relink(args)
}

// flags builds a flag set with the options every command shares.
func (a *app) flags(name string) *pflag.FlagSet {
	fl := pflag.NewFlagSet(name, pflag.ContinueOnError)
	fl.SetOutput(io.Discard)
	fl.StringVar(&a.dev, "dev", "", "block device or image file")
	fl.BoolVar(&a.json, "json", false, "machine-readable output")
	return fl
}

// parse parses args; it prints the usage on --help and reports bad usage.
func (a *app) parse(fl *pflag.FlagSet, args []string, needDev bool) (int, bool) {
	help := fl.BoolP("help", "h", false, "")
	ver := fl.Bool("version", false, "")
	if err := fl.Parse(args); err != nil {
		return a.usageErr("%v", err), false
	}
	switch {
	case *help:
		fmt.Fprint(a.stdout, usageText)
		return exitOK, false
	case *ver:
		fmt.Fprintf(a.stdout, "ext4relink %s\n", version)
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
	fmt.Fprintf(a.stderr, "ext4relink: "+format+" (see 'ext4relink --help')\n", args...)
	return exitUsage
}

// fail prints err and maps it to an exit code.
func (a *app) fail(err error) int {
	fmt.Fprintf(a.stderr, "ext4relink: %v\n", err)
	return exitCode(err)
}

// exitCode maps the engine's sentinels to the documented exit codes.
func exitCode(err error) int {
	switch {
	case err == nil:
		return exitOK
	case errors.Is(err, engine.ErrInternal):
		return exitInternal
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
