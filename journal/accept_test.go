package journal_test

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/ext4relink/ext4relink/fixtures"
	"github.com/ext4relink/ext4relink/internal/testfs"
	"github.com/ext4relink/ext4relink/journal"
	"github.com/ext4relink/ext4relink/super"
)

// needsRecovery reports whether the fixture's journal must be replayed.
func needsRecovery(im *image) bool { return im.sb.HasIncompat(super.IncompatRecover) }

// replayedByDebugfs returns a copy of the image replayed by `debugfs -w -R jr`.
//
// debugfs 1.47 cannot replay a journal with the fast-commit feature: its
// journal loader never sets j_fc_first/j_fc_last, and recovery.c's wrap()
// then wraps at j_fc_last == 0, so the scan walks every other block and
// finds nothing. For such a journal the copy's journal superblock has
// INCOMPAT_FAST_COMMIT cleared (and is re-checksummed) before jr, which then
// replays the full commits exactly (the log does not wrap) and ignores the
// fast-commit area, as it must for this comparison.
func replayedByDebugfs(t *testing.T, src string, im *image, j *journal.Journal) string {
	t.Helper()
	p := copyImage(t, src)
	if !j.Format.FastCommit() {
		jr(t, p)
		return p
	}
	sb := *j.SB
	sb.FeatureIncompat &^= journal.IncompatFastCommit
	sb.SetChecksum()
	writeAt(t, p, int64(j.SuperblockFSBlock())*int64(im.sb.BlockSize()), sb.Encode())
	jr(t, p)
	return p
}

// TestReplayMatchesDebugfs is the acceptance test: for every fixture that
// needs recovery, the overlay's blocks are exactly what debugfs jr writes,
// and every other block is left as it was, except the blocks jr changes
// besides the replay (see superblockDiff and metaBGBackupOf).
func TestReplayMatchesDebugfs(t *testing.T) {
	for _, n := range fixtures.Names() {
		t.Run(n, func(t *testing.T) {
			img := fixtures.Get(t, n)
			im := openImage(t, img.Path)
			if !needsRecovery(im) {
				t.Skip("clean journal")
			}
			j := im.load(t)
			ov, err := j.Recover()
			if err != nil {
				t.Fatal(err)
			}
			if err := ov.Verify(); err != nil {
				t.Fatal(err)
			}
			if err := ov.CheckRange(im.sb.BlocksCount()); err != nil {
				t.Fatal(err)
			}
			compareWithJR(t, im, j, ov, replayedByDebugfs(t, img.Path, im, j), jrExpect{})
		})
	}
}

// jrExpect says how debugfs jr's side effects differ from a clean recovery.
type jrExpect struct {
	failed  bool // jbd2_journal_recover returned an error (s_state loses VALID_FS; s_sequence is not advanced)
	errorFS bool // a commit failed its checksum: s_errno was set, then moved to s_state ERROR_FS
}

// compareWithJR checks the image replayed by debugfs jr (path rep) against
// the original image im and the overlay block by block.
func compareWithJR(t *testing.T, im *image, j *journal.Journal, ov *journal.Overlay, rep string, x jrExpect) {
	t.Helper()
	in := map[uint64]bool{}
	for _, b := range ov.Blocks() {
		in[b] = true
	}
	bs := uint64(im.sb.BlockSize())
	sbBlock := uint64(super.Offset) / bs
	orig := readAll(t, im)
	after := readFile(t, rep, len(orig))
	metaBackups := 0
	final := func(b uint64) []byte {
		if in[b] {
			d, ok, err := ov.ReadBlock(b)
			if err != nil {
				t.Fatalf("block %d: ReadBlock: %v", b, err)
			}
			if ok {
				return d
			}
		}
		return orig[b*bs : (b+1)*bs]
	}
	for b := uint64(0); b < im.sb.BlocksCount(); b++ {
		o, r := orig[b*bs:(b+1)*bs], after[b*bs:(b+1)*bs]
		want := final(b)
		switch {
		case b == sbBlock:
			if d := superblockDiff(t, want, r, int(super.Offset%bs), x); d != "" {
				t.Errorf("superblock block %d: %s", b, d)
			}
		case b == j.SuperblockFSBlock():
			checkJournalSuperblock(t, j, ov.Log, r, x)
		case im.isJournal(b):
			if !bytes.Equal(o, r) {
				t.Errorf("journal block %d changed by jr", b)
			}
		case !bytes.Equal(want, r):
			if p, ok := metaBGBackupOf(im.sb, b); ok && !in[b] && bytes.Equal(final(p), r) {
				metaBackups++
				continue
			}
			if in[b] {
				t.Errorf("block %d: overlay differs from debugfs jr", b)
			} else {
				t.Errorf("block %d: changed by jr but not in the overlay", b)
			}
		}
	}
	t.Logf("%d transactions replayed, %d blocks; jr also rewrote %d meta_bg backup descriptor blocks",
		len(ov.Log.Replayed()), len(ov.Blocks()), metaBackups)
}

// readFile reads the first n bytes of an image file.
func readFile(t *testing.T, p string, n int) []byte {
	t.Helper()
	return testfs.ReadAt(t, p, 0, n)
}

func readAll(t *testing.T, im *image) []byte {
	t.Helper()
	n := im.sb.BlocksCount() * uint64(im.sb.BlockSize())
	b := make([]byte, n)
	if _, err := im.f.ReadAt(b, 0); err != nil {
		t.Fatal(err)
	}
	return b
}

// superblockDiff compares the block holding the primary superblock as the
// overlay leaves it (want) with what debugfs jr left (got). Besides the
// replay, jr (ext2fs_run_ext3_journal, ext2fs_clear_recover, ext2fs_flush)
// changes exactly these superblock fields, which are checked for their
// expected values rather than ignored:
//
//   - s_feature_incompat: RECOVER cleared;
//   - s_lastcheck: set to s_mtime-1 when it was not older than s_mtime;
//   - s_kbytes_written: increased by the kilobytes the replay wrote (only
//     when it was non-zero);
//   - s_wtime (and s_wtime_hi): the time of the flush;
//   - s_checksum: recomputed.
//
// (s_state loses VALID_FS only when the recovery failed, never here.)
func superblockDiff(t *testing.T, want, got []byte, off int, x jrExpect) string {
	t.Helper()
	if !bytes.Equal(want[:off], got[:off]) || !bytes.Equal(want[off+super.Size:], got[off+super.Size:]) {
		return "bytes outside the superblock differ"
	}
	w, _ := super.Decode(want[off : off+super.Size])
	g, _ := super.Decode(got[off : off+super.Size])
	var diffs []string
	if !g.VerifyChecksum() {
		diffs = append(diffs, "bad checksum after jr")
	}
	if g.HasIncompat(super.IncompatRecover) {
		diffs = append(diffs, "jr left needs_recovery set")
	}
	wantLastcheck := w.Lastcheck
	if w.Lastcheck >= w.Mtime {
		wantLastcheck = w.Mtime - 1
	}
	if g.Lastcheck != wantLastcheck {
		diffs = append(diffs, fmt.Sprintf("s_lastcheck %d, want %d", g.Lastcheck, wantLastcheck))
	}
	if g.KbytesWritten < w.KbytesWritten || (w.KbytesWritten == 0 && g.KbytesWritten != 0) {
		diffs = append(diffs, fmt.Sprintf("s_kbytes_written %d from %d", g.KbytesWritten, w.KbytesWritten))
	}
	wantState := w.State
	if x.failed {
		wantState &^= 1 // EXT2_VALID_FS
	}
	if x.errorFS {
		wantState |= 2 // EXT2_ERROR_FS
	}
	if g.State != wantState {
		diffs = append(diffs, fmt.Sprintf("s_state %#x, want %#x", g.State, wantState))
	}
	for _, s := range []*super.Superblock{w, g} {
		s.State = 0
		s.FeatureIncompat &^= super.IncompatRecover
		s.Lastcheck, s.KbytesWritten, s.Wtime, s.WtimeHi, s.Csum = 0, 0, 0, 0, 0
	}
	if wb, gb := w.Encode(), g.Encode(); !bytes.Equal(wb, gb) {
		for i := range wb {
			if wb[i] != gb[i] {
				diffs = append(diffs, fmt.Sprintf("byte %#x: %#02x != %#02x", i, wb[i], gb[i]))
			}
		}
	}
	if len(diffs) == 0 {
		return ""
	}
	return fmt.Sprint(diffs)
}

// metaBGBackupOf returns, when block b holds a backup of a meta_bg group
// descriptor block, the primary it copies. debugfs jr's final ext2fs_flush
// rewrites these backups from the in-memory (replayed) primaries even with
// EXT2_FLAG_MASTER_SB_ONLY.
func metaBGBackupOf(sb *super.Superblock, b uint64) (uint64, bool) {
	if !sb.HasIncompat(super.IncompatMetaBG) {
		return 0, false
	}
	g, _ := sb.GroupOfBlock(b)
	dpb := sb.DescPerBlock()
	if g/dpb < uint64(sb.FirstMetaBg) || (g%dpb != 1 && g%dpb != dpb-1) {
		return 0, false
	}
	at := sb.GroupFirstBlock(g)
	if sb.GroupHasSuper(g) {
		at++
	}
	if at != b {
		return 0, false
	}
	p, _ := sb.DescLocation(g / dpb * dpb)
	return p, true
}

// checkJournalSuperblock checks the journal superblock jr wrote against
// SuperblockBytes(0, NextSequence()).
func checkJournalSuperblock(t *testing.T, j *journal.Journal, l *journal.Log, got []byte, x jrExpect) {
	t.Helper()
	seq := l.NextSequence()
	if x.failed {
		seq = l.FirstSequence // recover_ext3_journal skips advancing j_tail_sequence on error
	}
	want, err := j.SuperblockBytes(0, seq)
	if err != nil {
		t.Fatal(err)
	}
	if j.Format.FastCommit() {
		// The debugfs oracle ran with the fast-commit flag cleared.
		sb, _ := journal.DecodeSuperblock(want)
		sb.FeatureIncompat &^= journal.IncompatFastCommit
		sb.SetChecksum()
		copy(want, sb.Encode())
	}
	if !bytes.Equal(want, got) {
		gs, _ := journal.DecodeSuperblock(got)
		t.Errorf("journal superblock after jr: start %d seq %d errno %d; SuperblockBytes(0, %d) differs",
			gs.Start, gs.Sequence, gs.ErrnoValue(), seq)
	}
}
