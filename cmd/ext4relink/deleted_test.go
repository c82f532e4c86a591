package main

import (
	"encoding/json"
	"os/exec"
	"strings"
	"testing"

	"github.com/ext4relink/ext4relink/fixtures"
)

// TestDeletedJSON: deleted --json names every removed file of a genuine
// image with its original path and state intact, with the documented
// fields; the text form has the columns.
func TestDeletedJSON(t *testing.T) {
	img := fixtures.Get(t, "deleted-4k")
	code, out, errs := runCLI("deleted", "--dev", img.Path, "--json")
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, errs)
	}
	var got struct {
		Files        []map[string]any `json:"files"`
		Transactions int              `json:"transactions"`
	}
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, out)
	}
	byIno := map[float64]map[string]any{}
	for _, f := range got.Files {
		for _, k := range []string{"inode", "path", "path_from", "type", "size", "mode", "uid", "gid", "mtime", "dtime", "state"} {
			if _, ok := f[k]; !ok {
				t.Errorf("file %v: no %q", f["inode"], k)
			}
		}
		byIno[f["inode"].(float64)] = f
	}
	for _, m := range img.Deleted {
		f := byIno[float64(m.Inode)]
		if f == nil || f["path"] != "/"+m.Path || f["state"] != "intact" {
			t.Errorf("%s (inode %d): %v", m.Path, m.Inode, f)
		}
	}
	code, out, errs = runCLI("deleted", "--dev", img.Path)
	if code != exitOK || !strings.Contains(out, "INODE  PATH") || !strings.Contains(out, "/tree/a/b/c/three.bin") {
		t.Fatalf("exit %d\n%s%s", code, out, errs)
	}
}

// TestDeletedNoJournal: without an internal journal there is nothing to
// read: exit 6, a JSON error object with --json.
func TestDeletedNoJournal(t *testing.T) {
	img := fixtures.Get(t, "deleted-4k")
	p := img.Copy(t)
	if out, err := exec.Command("e2fsck", "-fy", p).CombinedOutput(); err != nil && !strings.Contains(err.Error(), "exit status 1") {
		t.Fatalf("e2fsck: %v\n%s", err, out)
	}
	if out, err := exec.Command("tune2fs", "-O", "^has_journal", p).CombinedOutput(); err != nil {
		t.Fatalf("tune2fs: %v\n%s", err, out)
	}
	code, out, _ := runCLI("deleted", "--dev", p, "--json")
	var e struct {
		Error    string `json:"error"`
		ExitCode int    `json:"exit_code"`
	}
	if code != exitUnsupported || json.Unmarshal([]byte(out), &e) != nil || e.ExitCode != exitUnsupported || !strings.Contains(e.Error, "no internal journal") {
		t.Fatalf("exit %d: %s", code, out)
	}
}
