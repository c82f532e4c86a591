package main

import (
	"encoding/json"
	"strconv"
	"strings"
	"testing"

	"github.com/ext4relink/ext4relink/fixtures"
	"github.com/ext4relink/ext4relink/internal/testfs"
)

// TestUndeleteCLI: --dry-run writes nothing; the run puts the file back
// (JSON report, verified), e2fsck -fn is clean, and the same command again
// finds it done.
func TestUndeleteCLI(t *testing.T) {
	img := fixtures.Get(t, "deleted-4k")
	var ino string
	for _, d := range img.Deleted {
		if d.Path == "data/small.bin" {
			ino = strconv.FormatUint(d.Inode, 10)
		}
	}
	p := img.Copy(t)
	before := testfs.FileSHA256(t, p)
	code, out, errs := runCLI("undelete", "--dev", p, "--inode", ino, "--original", "--dry-run")
	if code != exitOK || !strings.Contains(out, "Would put back") || testfs.FileSHA256(t, p) != before {
		t.Fatalf("dry run: exit %d\n%s%s", code, out, errs)
	}
	code, out, errs = runCLI("undelete", "--dev", p, "--inode", ino, "--original", "--json")
	var rep struct {
		Undeleted struct {
			Path   string `json:"path"`
			SHA256 string `json:"sha256"`
		} `json:"undeleted"`
		Verified bool `json:"verified"`
	}
	if code != exitOK || json.Unmarshal([]byte(out), &rep) != nil || !rep.Verified || rep.Undeleted.Path != "/data/small.bin" {
		t.Fatalf("exit %d\n%s%s", code, out, errs)
	}
	testfs.E2fsckClean(t, p)
	code, out, errs = runCLI("undelete", "--dev", p, "--inode", ino, "--original")
	if code != exitOK || !strings.Contains(out, "already back") {
		t.Fatalf("second run: exit %d\n%s%s", code, out, errs)
	}
}

// TestUndeleteCLIRefusals: usage errors and a refused request, as JSON.
func TestUndeleteCLIRefusals(t *testing.T) {
	img := fixtures.Get(t, "deleted-reused")
	for _, c := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"undelete", "--dev", img.Path, "--original"}, exitUsage, "--inode"},
		{[]string{"undelete", "--dev", img.Path, "--inode", "14"}, exitUsage, "--name PATH or --original"},
		{[]string{"undelete", "--dev", img.Path, "--inode", "14", "--original", "--name", "/x"}, exitUsage, "one of them"},
		{[]string{"undelete", "--dev", img.Path, "--inode", "14", "--original", "--dry-run", "--json"}, exitRequest, `"exit_code": 7`},
	} {
		code, out, errs := runCLI(c.args...)
		if code != c.code || !strings.Contains(out+errs, c.want) {
			t.Errorf("%v: exit %d, want %d; %s%s", c.args, code, c.code, out, errs)
		}
	}
}
