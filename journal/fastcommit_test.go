package journal_test

import (
	"encoding/binary"
	"errors"
	"os/exec"
	"strconv"
	"testing"

	"github.com/ext4relink/ext4relink/internal/loopmnt"

	"github.com/ext4relink/ext4relink/fixtures"
	"github.com/ext4relink/ext4relink/internal/testfs"
	"github.com/ext4relink/ext4relink/journal"
	"github.com/ext4relink/ext4relink/super"
)

func inodeSize(t *testing.T, p string, ino uint32) uint64 {
	t.Helper()
	return testfs.StatField(t, testfs.Stat(t, p, uint64(ino)), "Size")
}

// TestFastCommitPending: the ext4-fastcommit fixture holds, after its last
// full commit, one fast commit (HEAD, INODE, TAIL) with the tid of the
// next transaction, followed by stale records of an older fast commit.
// Recover reports it as ErrFastCommitPending; the kernel and e2fsck do
// replay it (the fsync'd file's size comes from the INODE record), while
// the full-commit replay alone leaves the older size.
func TestFastCommitPending(t *testing.T) {
	img := fixtures.Get(t, "ext4-fastcommit")
	im := openImage(t, img.Path)
	j := im.load(t)
	ov, err := j.Recover()
	if err != nil {
		t.Fatal(err)
	}
	fc := ov.Log.FastCommit
	perr := ov.Pending()
	if !errors.Is(perr, journal.ErrFastCommitPending) || !errors.Is(perr, super.ErrUnsupported) {
		t.Fatalf("Pending: %v", perr)
	}
	t.Log(perr)
	rep := fc.Replay()
	if len(rep) != 3 || rep[0].Tag != journal.FCTagHead || rep[1].Tag != journal.FCTagInode || rep[2].Tag != journal.FCTagTail ||
		rep[0].TID != ov.Log.End || rep[2].TID != ov.Log.End {
		t.Fatalf("fast commit records: %v", rep)
	}
	if fc.Err != nil || len(fc.Tags) <= fc.Valid {
		t.Fatalf("fc scan: err %v, %d records, %d valid", fc.Err, len(fc.Tags), fc.Valid)
	}
	ino := rep[1].Ino
	fcSize := uint64(binary.LittleEndian.Uint32(rep[1].RawInode[4:])) | uint64(binary.LittleEndian.Uint32(rep[1].RawInode[108:]))<<32

	full := replayedByDebugfs(t, img.Path, im, j)
	fullSize := inodeSize(t, full, ino)
	if fullSize == fcSize {
		t.Fatalf("inode %d: the fast commit does not change the size (%d)", ino, fcSize)
	}
	e := img.Copy(t)
	exec.Command("e2fsck", "-E", "journal_only", "-y", e).Run()
	if got := inodeSize(t, e, ino); got != fcSize {
		t.Errorf("e2fsck: inode %d size %d, fast commit says %d (full commits %d)", ino, got, fcSize, fullSize)
	}
	k := img.Copy(t)
	kernelReplay(t, k)
	if got := inodeSize(t, k, ino); got != fcSize {
		t.Errorf("kernel: inode %d size %d, fast commit says %d (full commits %d)", ino, got, fcSize, fullSize)
	}
	t.Logf("inode %d: %d bytes after the full commits, %d after the fast commit", ino, fullSize, fcSize)

	// A fast commit whose tail checksum fails, with no valid one before it,
	// fails the kernel's whole recovery (EFSBADCRC in PASS_SCAN).
	t.Run("bad tail checksum", func(t *testing.T) {
		p := img.Copy(t)
		corruptJBlock(t, im, p, j.FCFirst, func(b []byte) {
			b[rep[1].Offset+4+8] ^= 1 // inside the INODE record
		})
		pi := openImage(t, p)
		_, err := pi.load(t).Recover()
		if !errors.Is(err, super.ErrChecksum) {
			t.Fatalf("Recover: %v", err)
		}
		t.Log(err)
		if m, out, err := loopmnt.Try(t, p, "rw"); err == nil {
			m.Unmount()
			t.Errorf("the kernel mounted it")
		} else {
			t.Logf("kernel: %s", out)
		}
	})
	// A HEAD of another tid is stale: no fast commit is pending and the
	// kernel replays only the full commits.
	t.Run("stale head", func(t *testing.T) {
		p := img.Copy(t)
		corruptJBlock(t, im, p, j.FCFirst, func(b []byte) {
			binary.LittleEndian.PutUint32(b[rep[0].Offset+8:], ov.Log.End-1)
		})
		pi := openImage(t, p)
		ov2, err := pi.load(t).Recover()
		if err != nil {
			t.Fatal(err)
		}
		if err := ov2.Pending(); err != nil || ov2.Log.FastCommit.Valid != 0 {
			t.Fatalf("Pending: %v", err)
		}
		t.Log(ov2.Log.FastCommit.Stop)
		kernelReplay(t, p)
		if got := inodeSize(t, p, ino); got != fullSize {
			t.Errorf("kernel: inode %d size %d, want the full-commit size %d", ino, got, fullSize)
		}
	})
}

var _ = strconv.Itoa
