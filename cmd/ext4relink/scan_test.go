package main

import (
	"encoding/json"
	"fmt"
	iofs "io/fs"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ext4relink/ext4relink/engine"
	"github.com/ext4relink/ext4relink/inode"
	"github.com/ext4relink/ext4relink/internal/testfs"
)

// TestScanCLI: a journal-only capture, replayed home (debugfs jr), whose
// chain is then cut by zeroing the third member's i_dtime: list --scan
// shows every orphan, those behind the cut as "scan" (text and JSON);
// --all without --scan leaves them (nothing shows the cut); --all --scan
// brings them all back and e2fsck -fn is clean.
func TestScanCLI(t *testing.T) {
	e := newBadEnv(t, "ext4-4k-journal", true)
	chain := chainOf(t, e.dev)
	if len(chain) < 5 {
		t.Fatalf("chain of %d", len(chain))
	}
	e.editInode(chain[2], true, func(in *inode.Inode) { in.Dtime = 0 })
	behind := chain[3:]

	code, out, errs := runCLI("list", "--dev", e.dev, "--scan")
	if code != exitOK || errs != "" || !strings.Contains(out, "Scanned the inode tables") {
		t.Fatalf("list --scan: exit %d\n%s\n%s", code, out, errs)
	}
	for _, ino := range behind {
		if !strings.Contains(out, fmt.Sprintf("\n%d ", ino)) {
			t.Errorf("list --scan does not show inode %d:\n%s", ino, out)
		}
	}
	code, out, _ = runCLI("list", "--dev", e.dev, "--scan", "--json")
	var listed []jsonOrphan
	if err := json.Unmarshal([]byte(out), &listed); code != exitOK || err != nil {
		t.Fatalf("list --scan --json: exit %d, %v\n%s", code, err, out)
	}
	src := map[uint32]string{}
	for _, o := range listed {
		src[o.Inode] = o.Source
	}
	for _, o := range e.img.Orphans {
		want := engine.SourceChain
		for _, b := range behind {
			if b == uint32(o.Inode) {
				want = engine.SourceScan
			}
		}
		if src[uint32(o.Inode)] != want.String() {
			t.Errorf("inode %d: source %q, want %q", o.Inode, src[uint32(o.Inode)], want)
		}
	}
	if !strings.Contains(out, `"source": "scan"`) {
		t.Errorf(`no "source": "scan" in %s`, out)
	}

	checkExtractScan(t, e, behind)

	code, out, errs = runCLI("--dev", e.dev, "--all", "--scan", "--json")
	var rep jsonRelinkReport
	if err := json.Unmarshal([]byte(out), &rep); code != exitOK || err != nil {
		t.Fatalf("--all --scan: exit %d, %v\n%s\n%s", code, err, out, errs)
	}
	scanned := 0
	for _, r := range rep.Relinked {
		if r.Source == engine.SourceScan.String() {
			scanned++
		}
	}
	if len(rep.Relinked) != len(e.img.Orphans) || scanned != len(behind) || !rep.Verified || len(rep.Remaining) != 0 {
		t.Fatalf("--all --scan relinked %d (%d scan finds), verified %v, remaining %v; want %d (%d)", len(rep.Relinked), scanned, rep.Verified, rep.Remaining, len(e.img.Orphans), len(behind))
	}
	testfs.E2fsckClean(t, e.dev)
}

// chainOf lists the chain members' inode numbers, in chain order.
func chainOf(t *testing.T, dev string) []uint32 {
	t.Helper()
	op, err := engine.OpenFS(dev, engine.Options{Mode: engine.ReadOnly})
	if err != nil {
		t.Fatal(err)
	}
	defer op.Dev.Close()
	l, err := op.FS.Orphans()
	if err != nil {
		t.Fatal(err)
	}
	var out []uint32
	for _, o := range l.Orphans {
		if o.Source == engine.SourceChain {
			out = append(out, o.Inode)
		}
	}
	return out
}

// checkExtractScan: extract --all leaves the orphans behind the cut out,
// extract --all --scan copies every file orphan (sha256 as the manifest
// says), and --scan without --all is a usage error.
func checkExtractScan(t *testing.T, e *badEnv, behind []uint32) {
	t.Helper()
	copied := func(scan bool) map[string]bool {
		dir := filepath.Join(t.TempDir(), "out")
		args := []string{"extract", "--dev", e.dev, "--all", "--out", dir, "--quiet"}
		if scan {
			args = append(args, "--scan")
		}
		if code, out, errs := runCLI(args...); code != exitOK {
			t.Fatalf("%v: exit %d\n%s\n%s", args, code, out, errs)
		}
		got := map[string]bool{}
		err := filepath.WalkDir(dir, func(p string, d iofs.DirEntry, err error) error {
			if err == nil && d.Type().IsRegular() {
				got[testfs.FileSHA256(t, p)] = true
			}
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	without, with := copied(false), copied(true)
	missed := 0
	for _, o := range e.img.Orphans {
		if o.Kind != "file" {
			continue
		}
		if !with[o.SHA256] {
			t.Errorf("extract --all --scan did not copy inode %d", o.Inode)
		}
		if !without[o.SHA256] {
			missed++
		}
	}
	if missed == 0 {
		t.Errorf("extract --all without --scan copied every orphan although %d are behind the cut", len(behind))
	}
	if code, _, errs := runCLI("extract", "--dev", e.dev, "--inode", fmt.Sprint(behind[0]), "--scan", "--out", filepath.Join(t.TempDir(), "x")); code != exitUsage || !strings.Contains(errs, "--scan goes with --all") {
		t.Errorf("extract --inode --scan: exit %d, %s", code, errs)
	}
}
