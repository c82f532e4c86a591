package engine

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ext4relink/ext4relink/fixtures"
	"github.com/ext4relink/ext4relink/internal/loopmnt"
	"github.com/ext4relink/ext4relink/internal/testfs"
	"github.com/ext4relink/ext4relink/journal"
	"github.com/ext4relink/ext4relink/super"
)

// pathsOf is the original path of every orphan on img's list, by inode.
func pathsOf(t *testing.T, img string) map[uint32]string {
	t.Helper()
	l, names := namesOf(t, img)
	out := map[uint32]string{}
	for _, o := range l.Orphans {
		out[o.Inode] = names[o.Inode].Path
	}
	return out
}

// TestRelinkKeepsOthersNames: relinking one orphan under a new name
// writes its transaction after the newest one in the journal, so the
// older directory copies the other orphans' original paths come from
// survive: list still names every one of them.
func TestRelinkKeepsOthersNames(t *testing.T) {
	img := fixtures.Get(t, "ext4-rmtree")
	p := img.Copy(t)
	before := pathsOf(t, p)
	held := uint32(orphanAt(img, "tree/a/b/held.bin").Inode)
	for _, m := range img.Orphans {
		if before[uint32(m.Inode)] != "/"+m.Path {
			t.Fatalf("before: inode %d named %q, want /%s", m.Inode, before[uint32(m.Inode)], m.Path)
		}
	}
	plan, err := relinkImage(t, p, Request{Inode: held, Name: "/lost+found/held.bin"})
	if err != nil {
		t.Fatal(err)
	}
	if lp := plan.LogPlace; lp == nil || lp.Copies != 0 || lp.Transactions != 0 || lp.After == 0 {
		t.Errorf("the transaction's place %+v: want after the newest, overwriting nothing", lp)
	}
	after := pathsOf(t, p)
	if _, ok := after[held]; ok {
		t.Errorf("inode %d is still an orphan", held)
	}
	for _, m := range img.Orphans {
		if ino := uint32(m.Inode); ino != held && after[ino] != "/"+m.Path {
			t.Errorf("after the relink: inode %d named %q, want /%s", ino, after[ino], m.Path)
		}
	}
}

// deletedOf is Deleted on img: path and state by inode.
func deletedOf(t *testing.T, img string) map[uint32]string {
	t.Helper()
	op, err := OpenFS(img, Options{Mode: ReadOnly})
	if err != nil {
		t.Fatal(err)
	}
	defer op.Dev.Close()
	h, err := op.FS.DeletedHistory()
	if err != nil {
		t.Fatal(err)
	}
	l, err := op.FS.Deleted(h)
	if err != nil {
		t.Fatal(err)
	}
	out := map[uint32]string{}
	for _, f := range l.Files {
		out[f.Inode] = f.Path + " " + f.State.String()
	}
	return out
}

// TestUndeleteKeepsOthers: an undelete writes its transaction after the
// newest one in the journal: deleted still lists every other file, with
// the same path and state.
func TestUndeleteKeepsOthers(t *testing.T) {
	img := fixtures.Get(t, "deleted-4k")
	p := img.Copy(t)
	before := deletedOf(t, p)
	m := deletedAt(t, img, "data/big.vmdk")
	plan, _, err := undeleteRun(p, UndeleteRequest{Inode: uint32(m.Inode), Original: true})
	if err != nil {
		t.Fatal(err)
	}
	if lp := plan.LogPlace; lp == nil || lp.Copies != 0 || lp.Transactions != 0 || lp.After == 0 {
		t.Errorf("the transaction's place %+v: want after the newest, overwriting nothing", lp)
	}
	after := deletedOf(t, p)
	if _, ok := after[uint32(m.Inode)]; ok {
		t.Errorf("inode %d is still listed as deleted", m.Inode)
	}
	delete(before, uint32(m.Inode))
	if len(before) < 10 {
		t.Fatalf("only %d other deleted files before the undelete", len(before))
	}
	for ino, want := range before {
		if after[ino] != want {
			t.Errorf("inode %d: %q before the undelete, %q after", ino, want, after[ino])
		}
	}
	if len(after) != len(before) {
		t.Errorf("%d deleted files after the undelete, want %d", len(after), len(before))
	}
}

// TestLogPlaceWrapped: in a log that wrapped, the block after the newest
// transaction holds the oldest: a transaction too big for the room there
// overwrites the oldest transactions first, never the newest, and the
// place says which and how many copies.
func TestLogPlaceWrapped(t *testing.T) {
	img := fixtures.Get(t, "deleted-wrapped")
	op, err := OpenFS(img.Path, Options{Mode: ReadOnly})
	if err != nil {
		t.Fatal(err)
	}
	defer op.Dev.Close()
	fs := op.FS
	h, err := fs.JournalHistory()
	if err != nil {
		t.Fatal(err)
	}
	txs := fs.transactions(h)
	if len(txs) < 3 {
		t.Fatalf("only %d transactions in the log", len(txs))
	}
	j := fs.JournalFile()
	lp, err := fs.logPlace(h, int(j.Capacity()/2))
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%+v: %s", lp, lp.Sentence(true))
	if lp.After != txs[0].Sequence || lp.Start != j.Advance(txs[0].CommitBlock, 1) {
		t.Errorf("placed at %d after %d, want after transaction %d (commit block %d)", lp.Start, lp.After, txs[0].Sequence, txs[0].CommitBlock)
	}
	if lp.Transactions == 0 || lp.Oldest != txs[len(txs)-1].Sequence {
		t.Fatalf("overwrites %d transactions from %d, want the oldest (%d) first", lp.Transactions, lp.Oldest, txs[len(txs)-1].Sequence)
	}
	copies, hit := 0, 0
	for i, tx := range txs {
		if int32(tx.Sequence-lp.Oldest) >= 0 && int32(tx.Sequence-lp.Newest) <= 0 {
			if i == 0 {
				t.Fatal("overwrites the newest transaction")
			}
			copies += tx.Blocks
			hit++
		}
	}
	if hit != lp.Transactions || copies != lp.Copies {
		t.Errorf("overwrites %d transactions, %d copies; transactions %d to %d hold %d, %d", lp.Transactions, lp.Copies, lp.Oldest, lp.Newest, hit, copies)
	}
	small, err := fs.logPlace(h, 1)
	if err != nil {
		t.Fatal(err)
	}
	if small.Start != lp.Start || small.Blocks != 3 {
		t.Errorf("one block: %+v", small)
	}
}

// TestCommitPointReplayedElsewhere: a crash just after the commit point
// of a transaction written after the newest one (not at the log's first
// block): e2fsck's journal recovery and the kernel's (at mount) both find
// it from s_start and give the new state.
func TestCommitPointReplayedElsewhere(t *testing.T) {
	img := fixtures.Get(t, "ext4-rmtree")
	o := orphanAt(img, "tree/a/b/held.bin")
	req := Request{Inode: uint32(o.Inode), Name: "/lost+found/held.bin"}
	ops := recordRelink(t, img, req)
	p := img.Copy(t)
	var start uint64
	emptied := false // a pending recovery is written home and the log emptied first
	for k := range ops {
		applyOps(t, p, ops[k:k+1])
		op, err := OpenFS(p, Options{Mode: ReadOnly})
		if err != nil {
			t.Fatal(err)
		}
		j := op.FS.JournalFile()
		start = uint64(j.SB.Start)
		first := j.First
		op.Dev.Close()
		if start == 0 {
			emptied = true
		}
		if start != 0 && emptied {
			if start == first {
				t.Fatalf("after op %d of %d: the transaction starts at the log's first block %d", k, len(ops), first)
			}
			t.Logf("commit point after op %d of %d: s_start %d", k, len(ops), start)
			break
		}
	}
	if start == 0 || !emptied {
		t.Fatal("no commit point found among the writes")
	}
	q := img.Copy(t)
	copyFile(t, p, q)
	out, code := testfs.E2fsckFix(t, p)
	if code > 1 || !strings.Contains(out, "recovering journal") {
		t.Fatalf("e2fsck -fy: exit %d\n%s", code, out)
	}
	op, err := OpenFS(p, Options{Mode: ReadOnly})
	if err != nil {
		t.Fatal(err)
	}
	data, err := op.FS.ReadPath("/lost+found/held.bin")
	op.Dev.Close()
	if err != nil || testfs.SHA256(data) != o.SHA256 {
		t.Fatalf("after e2fsck's recovery: %v, or the wrong content", err)
	}
	// The kernel's recovery at a read-write mount (a read-only loop
	// device cannot be recovered).
	m := loopmnt.Must(t, q, "rw")
	got := testfs.FileSHA256(t, filepath.Join(m.Dir, "lost+found/held.bin"))
	if err := m.Unmount(); err != nil {
		t.Fatal(err)
	}
	if got != o.SHA256 {
		t.Fatal("after the kernel's recovery: the wrong content")
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestLogEndContinues: a stale block of the next sequence right where the
// transaction would end would make a replay read on into it: the plan is
// refused, naming the journal block, and nothing is written.
func TestLogEndContinues(t *testing.T) {
	img := fixtures.Get(t, "ext4-rmtree")
	p := img.Copy(t)
	req := Request{Inode: uint32(orphanAt(img, "tree/a/b/held.bin").Inode), Name: "/lost+found/held.bin"}
	op, err := OpenFS(p, Options{Mode: ReadOnly})
	if err != nil {
		t.Fatal(err)
	}
	plan, _, err := op.FS.PlanRelink(req, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	j := op.FS.JournalFile()
	end := j.Advance(plan.LogPlace.Start, plan.LogPlace.Blocks)
	fsblk, err := j.Map(end)
	if err != nil {
		t.Fatal(err)
	}
	b := make([]byte, op.FS.BlockSize())
	h := journal.Header{Magic: journal.Magic, BlockType: journal.BlockDescriptor, Sequence: op.FS.commitSequence() + 1}
	h.Encode(b)
	op.Dev.Close()
	f, err := os.OpenFile(p, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt(b, int64(fsblk)*int64(len(b))); err != nil {
		t.Fatal(err)
	}
	f.Close()
	before := testfs.FileSHA256(t, p)
	_, err = relinkImage(t, p, req)
	if !errors.Is(err, super.ErrCorrupt) || !strings.Contains(err.Error(), fmt.Sprintf("journal block %d", end)) {
		t.Fatalf("relink: %v, want a refusal naming journal block %d", err, end)
	}
	if testfs.FileSHA256(t, p) != before {
		t.Fatal("the refused relink wrote to the image")
	}
}
