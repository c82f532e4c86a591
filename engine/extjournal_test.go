package engine

import (
	"bytes"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/ext4relink/ext4relink/fixtures"
	"github.com/ext4relink/ext4relink/internal/loopmnt"
	"github.com/ext4relink/ext4relink/internal/testfs"
	"golang.org/x/sys/unix"
)

// TestExternalJournalFrozen: a genuine crash image of a filesystem whose
// journal lives on another device, captured under fsfreeze (which flushes
// the journal and clears needs_recovery) while a deleted file is held open.
// ext4relink cannot write through a journal it does not have, so the relink
// goes through the ordered commit; e2fsck (given the journal device's copy)
// is clean and the kernel, mounting with that journal, reads the file.
func TestExternalJournalFrozen(t *testing.T) {
	if os.Getenv(fixtures.SkipEnv) == "1" {
		t.Skipf("%s=1: real-filesystem test skipped on request", fixtures.SkipEnv)
	}
	dir := t.TempDir()
	jImg, fImg := filepath.Join(dir, "journal.img"), filepath.Join(dir, "fs.img")
	for p, size := range map[string]int64{jImg: 16 << 20, fImg: 64 << 20} {
		if err := os.WriteFile(p, nil, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Truncate(p, size); err != nil {
			t.Fatal(err)
		}
	}
	jLoop := loopmnt.Attach(t, jImg, false)
	testfs.Exec(t, "mke2fs", "-q", "-F", "-O", "journal_dev", "-b", "4096", jLoop)
	testfs.Exec(t, "mke2fs", "-q", "-F", "-t", "ext4", "-b", "4096", "-J", "device="+jLoop, fImg)
	m := loopmnt.Must(t, fImg, "journal_path="+jLoop)
	defer m.Unmount()
	data := testfs.Random(300000, 21)
	os.Mkdir(filepath.Join(m.Dir, "data"), 0o755)
	held := filepath.Join(m.Dir, "data", "big")
	testfs.WriteFile(t, held, data)
	f, err := os.Open(held)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var st syscall.Stat_t
	if err := syscall.Fstat(int(f.Fd()), &st); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(held); err != nil {
		t.Fatal(err)
	}
	if err := unix.Syncfs(int(f.Fd())); err != nil {
		t.Fatal(err)
	}
	crashF, crashJ := filepath.Join(dir, "crash.img"), filepath.Join(dir, "crash-journal.img")
	testfs.Exec(t, "fsfreeze", "-f", m.Dir)
	errF := fixtures.CopySparse(fImg, crashF)
	errJ := fixtures.CopySparse(jImg, crashJ)
	testfs.Exec(t, "fsfreeze", "-u", m.Dir)
	if errF != nil || errJ != nil {
		t.Fatal(errF, errJ)
	}
	f.Close()
	if err := m.Unmount(); err != nil {
		t.Fatal(err)
	}

	plan, err := relinkImage(t, crashF, Request{Inode: uint32(st.Ino), Name: "/data/big-rescued"})
	if err != nil {
		t.Fatal(err)
	}
	if !plan.Ordered {
		t.Fatal("the plan for an external-journal filesystem is not ordered")
	}
	testfs.E2fsckClean(t, crashF, "-j", crashJ)
	jl := loopmnt.Attach(t, crashJ, true)
	r := loopmnt.Must(t, crashF, "ro,journal_path="+jl)
	got, err := os.ReadFile(filepath.Join(r.Dir, "data", "big-rescued"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, data) {
		t.Fatal("the kernel reads different content")
	}
}
