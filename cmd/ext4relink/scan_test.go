package main

import (
	"encoding/json"
	"fmt"
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
