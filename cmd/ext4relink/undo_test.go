package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ext4relink/ext4relink/fixtures"
	"github.com/ext4relink/ext4relink/internal/testfs"
)

func undoTool(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// TestUndoCLI: relink with --undo through the CLI, check the result with
// e2fsck, then the real e2undo puts the image back bit for bit.
func TestUndoCLI(t *testing.T) {
	for _, c := range []struct {
		fixture string
		args    []string
	}{
		{"ext4-4k-sync", []string{"--all"}},
		{"ext4-fulldir-1k", []string{"--all", "--into", "/full"}},
	} {
		t.Run(c.fixture, func(t *testing.T) {
			img := fixtures.Get(t, c.fixture)
			p := img.Copy(t)
			orig := testfs.FileSHA256(t, p)
			undo := filepath.Join(t.TempDir(), "run.e2undo")

			code, out, errs := runCLI(append([]string{"--dev", p, "--undo", undo}, c.args...)...)
			if code != exitOK || errs != "" {
				t.Fatalf("exit %d\n%s%s", code, out, errs)
			}
			if !strings.Contains(out, "Saved the old content of the ") || !strings.Contains(out, "'e2undo "+undo+" "+p+"'") {
				t.Fatalf("the output does not say how to undo:\n%s", out)
			}
			undoTool(t, "e2fsck", "-fn", p)
			e2undoOut := undoTool(t, "e2undo", undo, p)
			if got := testfs.FileSHA256(t, p); got != orig {
				t.Fatalf("not the original after e2undo:\n%s", e2undoOut)
			}
		})
	}
}

// TestUndoCLIJSON: --json reports the undo file and how many blocks it holds.
func TestUndoCLIJSON(t *testing.T) {
	img := fixtures.Get(t, "ext4-orphanfile")
	p := img.Copy(t)
	orig := testfs.FileSHA256(t, p)
	undo := filepath.Join(t.TempDir(), "run.e2undo")
	code, out, errs := runCLI("--dev", p, "--all", "--undo", undo, "--json")
	if code != exitOK {
		t.Fatalf("exit %d\n%s%s", code, out, errs)
	}
	var rep struct {
		Blocks []json.RawMessage `json:"blocks"`
		Undo   *struct {
			File   string `json:"file"`
			Blocks int    `json:"blocks"`
		} `json:"undo"`
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatal(err)
	}
	if rep.Undo == nil || rep.Undo.File != undo || rep.Undo.Blocks < len(rep.Blocks) {
		t.Fatalf("undo report %+v (plan has %d blocks)\n%s", rep.Undo, len(rep.Blocks), out)
	}
	undoTool(t, "e2undo", undo, p)
	if testfs.FileSHA256(t, p) != orig {
		t.Fatal("not the original after e2undo")
	}
}

// TestUndoCLIRefusals: --dry-run makes no undo file (and says so); an
// existing file is never overwritten; a run refused before any write
// leaves no undo file behind.
func TestUndoCLIRefusals(t *testing.T) {
	img := fixtures.Get(t, "ext4-4k-sync")
	p := img.Copy(t)
	orig := testfs.FileSHA256(t, p)
	dir := t.TempDir()

	undo := filepath.Join(dir, "dry.e2undo")
	code, out, errs := runCLI("--dev", p, "--all", "--dry-run", "--undo", undo)
	if code != exitOK || !strings.Contains(out, "No undo file was created") {
		t.Fatalf("exit %d\n%s%s", code, out, errs)
	}
	if _, err := os.Stat(undo); !os.IsNotExist(err) {
		t.Fatal("--dry-run created the undo file")
	}
	code, out, errs = runCLI("--dev", p, "--all", "--dry-run", "--json", "--undo", undo)
	if code != exitOK || !strings.Contains(errs, "no undo file was created") || !json.Valid([]byte(out)) {
		t.Fatalf("exit %d\n%s%s", code, out, errs)
	}

	existing := filepath.Join(dir, "existing.e2undo")
	if err := os.WriteFile(existing, []byte("an earlier run's way back"), 0o600); err != nil {
		t.Fatal(err)
	}
	code, out, errs = runCLI("--dev", p, "--all", "--undo", existing)
	if code != exitRequest || !strings.Contains(errs, "already exists") {
		t.Fatalf("exit %d\n%s%s", code, out, errs)
	}
	if b, _ := os.ReadFile(existing); string(b) != "an earlier run's way back" {
		t.Fatal("the existing undo file was overwritten")
	}

	refused := filepath.Join(dir, "refused.e2undo")
	code, out, errs = runCLI("--dev", p, "--inode", "2", "--name", "/x", "--undo", refused)
	if code != exitRequest {
		t.Fatalf("exit %d\n%s%s", code, out, errs)
	}
	if _, err := os.Stat(refused); !os.IsNotExist(err) {
		t.Fatal("a refused run left an (empty) undo file behind")
	}
	if testfs.FileSHA256(t, p) != orig {
		t.Fatal("the image changed")
	}
}
