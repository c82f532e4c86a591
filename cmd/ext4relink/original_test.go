package main

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/ext4relink/ext4relink/fixtures"
	"github.com/ext4relink/ext4relink/internal/testfs"
)

// TestRelinkOriginalCLI: --all --original in text and JSON (which went
// where and why), --dry-run listing the directories --parents would
// create, and the usage errors and refusals that name what to do.
func TestRelinkOriginalCLI(t *testing.T) {
	img := fixtures.Get(t, "ext4-many")
	p := img.Copy(t)
	code, out, errs := runCLI("--dev", p, "--all", "--original", "--dry-run")
	if code != exitOK || !strings.Contains(out, "Not at its original path: its original path is not known") {
		t.Fatalf("exit %d: %s\n%s", code, errs, out)
	}
	code, out, errs = runCLI("--dev", p, "--all", "--original", "--json")
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, errs)
	}
	var rep struct {
		Relinked []struct {
			Inode    uint32 `json:"inode"`
			Path     string `json:"path"`
			Original string `json:"original_path"`
			Why      string `json:"why"`
		} `json:"relinked"`
		Verified bool `json:"verified"`
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatal(err)
	}
	if !rep.Verified || len(rep.Relinked) != len(img.Orphans) {
		t.Fatalf("%s", out)
	}
	for _, r := range rep.Relinked {
		tmp := r.Why != ""
		if tmp != (r.Path == fmt.Sprintf("/lost+found/#%d", r.Inode)) || (!tmp && r.Original != r.Path) {
			t.Errorf("%+v", r)
		}
	}
	testfs.E2fsckClean(t, p)

	img = fixtures.Get(t, "ext4-4k-journal")
	p = img.Copy(t)
	o, _ := img.Orphan("data/big.vmdk")
	code, out, errs = runCLI("--dev", p, "--inode", fmt.Sprint(o.Inode), "--name", "/new/deep/big.vmdk", "--parents", "--dry-run")
	if code != exitOK || !strings.Contains(out, "Would create directory /new (inode") || !strings.Contains(out, "Would create directory /new/deep (inode") {
		t.Fatalf("exit %d: %s\n%s", code, errs, out)
	}
	code, _, errs = runCLI("--dev", p, "--inode", fmt.Sprint(o.Inode), "--name", "/new/deep/big.vmdk")
	if code != exitRequest || !strings.Contains(errs, "--parents") || !strings.Contains(errs, "/lost+found") {
		t.Fatalf("exit %d: %s", code, errs)
	}
	for _, args := range [][]string{
		{"--inode", "12", "--original", "--name", "/x"},
		{"--original"},
	} {
		if code, _, _ := runCLI(append([]string{"--dev", p}, args...)...); code != exitUsage {
			t.Errorf("%v: exit %d, want a usage error", args, code)
		}
	}
}
