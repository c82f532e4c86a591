package main

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/ext4relink/ext4relink/fixtures"
)

func runCLI(args ...string) (int, string, string) {
	var out, errb bytes.Buffer
	code := run(args, &out, &errb)
	return code, out.String(), errb.String()
}

func TestUsage(t *testing.T) {
	for _, c := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"--help"}, exitOK, "EXIT STATUS"},
		{[]string{"help"}, exitOK, "SYNOPSIS"},
		{[]string{"list", "--help"}, exitOK, "SYNOPSIS"},
		{[]string{"--version"}, exitOK, "ext4relink "},
		{[]string{"list"}, exitUsage, "--dev is required"},
		{[]string{"list", "--dev"}, exitUsage, "needs an argument"},
		{[]string{"list", "--bogus"}, exitUsage, "unknown flag"},
		{[]string{"list", "--dev", "x", "extra"}, exitUsage, "unexpected argument"},
		{[]string{"list", "--dev", "/nonexistent"}, exitDevice, "no such file"},
		{[]string{"list", "--dev", "/tmp"}, exitDevice, "is a directory"},
		{[]string{"list", "--dev", "/dev/null"}, exitDevice, "neither a block device"},
	} {
		code, out, errs := runCLI(c.args...)
		if code != c.code || !strings.Contains(out+errs, c.want) {
			t.Errorf("%v: exit %d, want %d; output %q %q", c.args, code, c.code, out, errs)
		}
	}
}

func TestListJSON(t *testing.T) {
	img := fixtures.Get(t, "ext4-4k-journal")
	code, out, errs := runCLI("list", "--dev", img.Path, "--json")
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, errs)
	}
	var got []map[string]any
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("not a JSON array: %v\n%s", err, out)
	}
	if len(got) != len(img.Orphans) {
		t.Fatalf("%d orphans, manifest %d", len(got), len(img.Orphans))
	}
	for i, o := range got {
		for _, k := range []string{"inode", "size", "links"} {
			if _, ok := o[k].(float64); !ok {
				t.Errorf("orphan %d: %q missing or not a number", i, k)
			}
		}
	}
}

func TestListText(t *testing.T) {
	img := fixtures.Get(t, "ext4-orphanfile")
	code, out, errs := runCLI("list", "--dev", img.Path)
	if code != exitOK || !strings.Contains(out, "orphan_file[") || !strings.Contains(out, "deleted-open") {
		t.Fatalf("exit %d\n%s%s", code, out, errs)
	}
}

func TestJournalCommand(t *testing.T) {
	img := fixtures.Get(t, "ext4-4k-journal")
	code, out, errs := runCLI("journal", "--dev", img.Path, "--json")
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, errs)
	}
	var r struct {
		NeedsRecovery bool `json:"needs_recovery"`
		Transactions  []struct {
			Sequence   uint32 `json:"sequence"`
			DataBlocks int    `json:"data_blocks"`
			Checksum   string `json:"checksum"`
			Replayed   bool   `json:"replayed"`
		} `json:"transactions"`
	}
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatal(err)
	}
	if !r.NeedsRecovery || len(r.Transactions) == 0 {
		t.Fatalf("%+v", r)
	}
	for _, x := range r.Transactions {
		if !x.Replayed || x.Checksum != "valid" || x.DataBlocks == 0 {
			t.Errorf("transaction %+v", x)
		}
	}
	code, out, _ = runCLI("journal", "--dev", fixtures.Get(t, "ext4-4k-freeze").Path)
	if code != exitOK || !strings.Contains(out, "clean (nothing to replay)") {
		t.Fatalf("freeze image: exit %d\n%s", code, out)
	}
}
