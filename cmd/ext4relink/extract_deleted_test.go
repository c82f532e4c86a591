package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/ext4relink/ext4relink/fixtures"
	"github.com/ext4relink/ext4relink/internal/testfs"
)

// TestExtractDeleted: every file removed with rm (and rm -rf) on genuine
// images is copied out under its original path, by sha256, with its mode;
// one by --inode too.
func TestExtractDeleted(t *testing.T) {
	for _, name := range []string{"deleted-4k", "deleted-1k-32bit", "deleted-ext3", "deleted-inline", "deleted-deep"} {
		t.Run(name, func(t *testing.T) {
			img := fixtures.Get(t, name)
			dir := filepath.Join(t.TempDir(), "out")
			code, out, errs := runCLI("extract", "--deleted", "--dev", img.Path, "--out", dir, "--json")
			if code != exitOK {
				t.Fatalf("exit %d\n%s%s", code, out, errs)
			}
			for _, m := range img.Deleted {
				p := filepath.Join(dir, m.Path)
				var sum string
				if m.Kind == "symlink" {
					target, err := os.Readlink(p)
					if err != nil {
						t.Fatal(err)
					}
					sum = testfs.SHA256([]byte(target))
				} else {
					sum = testfs.FileSHA256(t, p)
					if st, err := os.Stat(p); err != nil || st.Mode().Perm() != 0o640 {
						t.Errorf("%s: mode %v (%v)", m.Path, st.Mode(), err)
					}
				}
				if sum != m.SHA256 {
					t.Errorf("%s: sha256 %s, want %s", m.Path, sum, m.SHA256)
				}
			}
			m := img.Deleted[len(img.Deleted)-1]
			if m.Kind != "file" {
				m = img.Deleted[0]
			}
			one := filepath.Join(t.TempDir(), "one")
			code, out, errs = runCLI("extract", "--deleted", "--dev", img.Path, "--inode", strconv.FormatUint(m.Inode, 10), "--out", one)
			if code != exitOK || testfs.FileSHA256(t, one) != m.SHA256 {
				t.Fatalf("--inode %d: exit %d\n%s%s", m.Inode, code, out, errs)
			}
		})
	}
}

// TestExtractDeletedReused: reused files are skipped unless
// --include-reused, and then written as NAME.REUSED with state "reused" in
// the JSON, never silently as whole.
func TestExtractDeletedReused(t *testing.T) {
	img := fixtures.Get(t, "deleted-reused")
	dir := filepath.Join(t.TempDir(), "out")
	code, out, errs := runCLI("extract", "--deleted", "--dev", img.Path, "--out", dir, "--json")
	var rep struct {
		Extracted []map[string]any `json:"extracted"`
		Skipped   []map[string]any `json:"skipped"`
	}
	if code != exitOK || json.Unmarshal([]byte(out), &rep) != nil || len(rep.Extracted) != 0 || len(rep.Skipped) != len(img.Deleted) {
		t.Fatalf("without --include-reused: exit %d\n%s%s", code, out, errs)
	}
	code, out, errs = runCLI("extract", "--deleted", "--include-reused", "--dev", img.Path, "--out", dir, "--json")
	if code != exitOK || json.Unmarshal([]byte(out), &rep) != nil || len(rep.Extracted) != len(img.Deleted) {
		t.Fatalf("--include-reused: exit %d\n%s%s", code, out, errs)
	}
	for _, e := range rep.Extracted {
		if e["state"] != "reused" || !strings.HasSuffix(e["out"].(string), reusedSuffix) {
			t.Errorf("%v", e)
		}
	}
	for _, m := range img.Deleted {
		if _, err := os.Stat(filepath.Join(dir, m.Path)); !os.IsNotExist(err) {
			t.Errorf("%s written under its plain name: %v", m.Path, err)
		}
	}
	code, _, errs = runCLI("extract", "--deleted", "--dev", img.Path, "--inode", strconv.FormatUint(img.Deleted[0].Inode, 10), "--out", filepath.Join(dir, "x"))
	if code != exitRequest || !strings.Contains(errs, "--include-reused") {
		t.Fatalf("--inode of a reused file: exit %d %s", code, errs)
	}
	code, _, _ = runCLI("extract", "--include-reused", "--dev", img.Path, "--inode", "14", "--out", filepath.Join(dir, "y"))
	if code != exitUsage {
		t.Fatalf("--include-reused without --deleted: exit %d", code)
	}
}
