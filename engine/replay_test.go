package engine

import (
	"bytes"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/ext4relink/ext4relink/fixtures"
	"github.com/ext4relink/ext4relink/internal/testfs"
	"github.com/ext4relink/ext4relink/super"
)

// TestWriteReplayMatchesDebugfs: for every fixture that needs recovery,
// writing our replay home gives the same blocks as debugfs jr (which also
// replays without reaping orphans) outside the journal and the superblock,
// the superblock differs only in fields jr itself touches, e2fsck then
// sees no journal to recover, and every orphan is still listed.
func TestWriteReplayMatchesDebugfs(t *testing.T) {
	for _, img := range fixtures.All(t) {
		t.Run(img.Name, func(t *testing.T) {
			sb := testfs.Superblock(t, img.Path)
			if !sb.HasIncompat(super.IncompatRecover) || sb.HasCompat(super.CompatFastCommit) {
				return // nothing to replay (fast_commit: jr 1.47 ignores the fast-commit area)
			}
			ours := img.Copy(t)
			fsOp, err := OpenFS(ours, Options{Mode: ReadWrite})
			if err != nil {
				t.Fatal(err)
			}
			fs, dev := fsOp.FS, fsOp.Dev
			journalBlocks := map[uint64]bool{}
			jin, _, _ := fs.ReadInode(fs.SB.JournalInum)
			m, _ := fs.BlockMap(fs.SB.JournalInum, jin)
			for _, b := range append(m.DataBlocks(), m.Meta...) {
				journalBlocks[b] = true
			}
			before, _ := fs.Orphans()
			if err := fs.WriteReplay(); err != nil {
				t.Fatal(err)
			}
			dev.Close()
			theirs := testfs.Replayed(t, img)
			compareImages(t, ours, theirs, sb, journalBlocks)
			out, _ := exec.Command("e2fsck", "-fn", ours).CombinedOutput()
			if strings.Contains(string(out), "journal recovery") || strings.Contains(string(out), "needs_recovery") {
				t.Errorf("e2fsck still sees a journal to recover:\n%.2000s", out)
			}
			fs2Op, err := OpenFS(ours, Options{Mode: ReadOnly})
			if err != nil {
				t.Fatal(err)
			}
			fs2, dev2 := fs2Op.FS, fs2Op.Dev
			defer dev2.Close()
			after, _ := fs2.Orphans()
			if fs2.Journal.NeedsRecovery || len(after.Orphans) != len(before.Orphans) {
				t.Fatalf("after the replay: needs_recovery %v, %d orphans (were %d)", fs2.Journal.NeedsRecovery, len(after.Orphans), len(before.Orphans))
			}
		})
	}
}

func compareImages(t *testing.T, ours, theirs string, sb *super.Superblock, skip map[uint64]bool) {
	t.Helper()
	a, _ := os.ReadFile(ours)
	b, _ := os.ReadFile(theirs)
	bs := int(sb.BlockSize())
	sbBlk := 0
	if bs == 1024 {
		sbBlk = 1
	}
	for n := 0; n*bs < len(a); n++ {
		x, y := a[n*bs:(n+1)*bs], b[n*bs:(n+1)*bs]
		if bytes.Equal(x, y) || skip[uint64(n)] {
			continue
		}
		if n == sbBlk {
			compareSuper(t, x, y, bs)
			continue
		}
		if sb.HasIncompat(super.IncompatMetaBG) && n != sbBlk {
			continue // debugfs jr rewrites meta_bg backup descriptors from the primaries
		}
		t.Errorf("block %d differs from debugfs jr's replay", n)
	}
}

// compareSuper: the superblocks may differ only in what jr's flush sets.
func compareSuper(t *testing.T, x, y []byte, bs int) {
	off := 1024
	if bs == 1024 {
		off = 0
	}
	sx, _ := super.Decode(x[off : off+1024])
	sy, _ := super.Decode(y[off : off+1024])
	for _, s := range []*super.Superblock{sx, sy} {
		s.Wtime, s.WtimeHi, s.Lastcheck, s.LastcheckHi, s.KbytesWritten, s.Csum = 0, 0, 0, 0, 0, 0
	}
	if !bytes.Equal(sx.Encode(), sy.Encode()) {
		t.Errorf("superblocks differ beyond s_wtime/s_lastcheck/s_kbytes_written")
	}
	if !bytes.Equal(x[:off], y[:off]) || !bytes.Equal(x[off+1024:], y[off+1024:]) {
		t.Errorf("the superblock's block differs outside the superblock")
	}
}
