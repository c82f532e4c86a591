// Package fuzzsmoke runs every fuzz target of the module for a short,
// bounded time as part of the ordinary test run, so that CI exercises the
// fuzzers (seeded from the fixtures and from testdata/fuzz, where found
// crashers are kept as regression inputs) on every change.
package fuzzsmoke

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// budget is how long each fuzz target runs. EXT4RELINK_FUZZTIME overrides it
// (e.g. 60s for a longer local campaign).
func budget() string {
	if v := os.Getenv("EXT4RELINK_FUZZTIME"); v != "" {
		return v
	}
	return "4s"
}

var fuzzFunc = regexp.MustCompile(`(?m)^func (Fuzz\w+)\(`)

// targets finds every Fuzz function, by package directory.
func targets(t *testing.T, root string) map[string][]string {
	out := map[string][]string{}
	err := filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(p, "_test.go") {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		for _, m := range fuzzFunc.FindAllSubmatch(b, -1) {
			dir := "./" + filepath.Dir(mustRel(t, root, p))
			out[dir] = append(out[dir], string(m[1]))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func mustRel(t *testing.T, root, p string) string {
	r, err := filepath.Rel(root, p)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// TestFuzzTargetsBriefly runs each fuzz target for a few seconds; a crash
// fails the test (go test -fuzz writes the input to testdata/fuzz, where it
// stays as a regression input).
func TestFuzzTargetsBriefly(t *testing.T) {
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	all := targets(t, root)
	n := 0
	for dir, fns := range all {
		for _, fn := range fns {
			n++
			t.Run(strings.TrimPrefix(dir, "./")+"/"+fn, func(t *testing.T) {
				start := time.Now()
				cmd := exec.Command("go", "test", "-run", "^$", "-fuzz", "^"+fn+"$", "-fuzztime", budget(),
					"-fuzzminimizetime", "100x", dir)
				cmd.Dir = root
				var out bytes.Buffer
				cmd.Stdout, cmd.Stderr = &out, &out
				if err := cmd.Run(); err != nil {
					if spuriousDeadline(out.String()) {
						t.Logf("%s: the fuzzer stopped at its deadline while an input was running (no failing input): %s", fn, tail(out.String(), 300))
						return
					}
					t.Fatalf("%s %s: %v\n%s", dir, fn, err, tail(out.String(), 3000))
				}
				t.Logf("%s ran for %v", fn, time.Since(start).Round(time.Second))
			})
		}
	}
	if n < 15 {
		t.Fatalf("found only %d fuzz targets; expected every decoder and the journal parser to have one", n)
	}
	fmt.Fprintf(os.Stderr, "fuzzsmoke: %d targets, %s each\n", n, budget())
}

// spuriousDeadline recognises go test -fuzz reporting "context deadline
// exceeded" when -fuzztime runs out in the middle of an execution: no input
// failed (none was written to testdata/fuzz).
func spuriousDeadline(out string) bool {
	return strings.Contains(out, "context deadline exceeded") && !strings.Contains(out, "Failing input written to") &&
		!strings.Contains(out, "panic:") && !strings.Contains(out, "fuzz_test.go")
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[len(s)-n:]
}
