package engine

import (
	"os"
	"strings"
	"testing"

	"github.com/ext4relink/ext4relink/fixtures"
)

// TestJournalReportReplayProblem: a logged copy that fails its data
// checksum (the kernel's recovery, and so any mount, fails on it) is named
// by the journal report, not only by a relink.
func TestJournalReportReplayProblem(t *testing.T) {
	p := fixtures.Get(t, "ext4-4k-journal").Copy(t)
	op, err := OpenFS(p, Options{Mode: ReadOnly})
	if err != nil {
		t.Fatal(err)
	}
	ov := op.FS.JournalOverlay()
	if ov == nil || len(ov.Blocks()) == 0 {
		op.Dev.Close()
		t.Fatal("the fixture has no journal replay")
	}
	r, err := op.FS.JournalReport()
	if err != nil || r.ReplayProblem != "" {
		t.Fatalf("intact journal: %v %q", err, r.ReplayProblem)
	}
	cs := ov.Copies(ov.Blocks()[0])
	c := cs[len(cs)-1]
	bs := int64(op.FS.BlockSize())
	op.Dev.Close()
	f, err := os.OpenFile(p, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	one := []byte{0}
	f.ReadAt(one, int64(c.FSBlock)*bs+100)
	one[0] ^= 0xFF
	f.WriteAt(one, int64(c.FSBlock)*bs+100)
	f.Close()
	op, err = OpenFS(p, Options{Mode: ReadOnly})
	if err != nil {
		t.Fatal(err)
	}
	defer op.Dev.Close()
	r, err = op.FS.JournalReport()
	if err != nil || !strings.Contains(r.ReplayProblem, "checksum") {
		t.Fatalf("damaged logged copy: %v, replay problem %q", err, r.ReplayProblem)
	}
}
