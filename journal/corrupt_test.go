package journal_test

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/ext4relink/ext4relink/internal/loopmnt"

	"github.com/ext4relink/ext4relink/fixtures"
	"github.com/ext4relink/ext4relink/journal"
	"github.com/ext4relink/ext4relink/super"
)

// corruptJBlock applies fn to journal block jb of the image at p.
func corruptJBlock(t *testing.T, im *image, p string, jb uint64, fn func(b []byte)) {
	t.Helper()
	b := im.jblock(t, jb)
	fn(b)
	writeAt(t, p, int64(im.jmap[jb])*int64(im.sb.BlockSize()), b)
}

// patched is a device with some bytes replaced.
type patched struct {
	io.ReaderAt
	off  int64
	data []byte
}

func (p *patched) ReadAt(b []byte, off int64) (int, error) {
	n, err := p.ReaderAt.ReadAt(b, off)
	for i := range b[:n] {
		if k := off + int64(i) - p.off; k >= 0 && k < int64(len(p.data)) {
			b[i] = p.data[k]
		}
	}
	return n, err
}

// TestCorruptJournalSuperblock: with recovery needed, a journal superblock
// that fails any of the kernel's checks is refused with a clear error and
// nothing is guessed; debugfs and the kernel refuse it too.
func TestCorruptJournalSuperblock(t *testing.T) {
	type mutation struct {
		name     string
		fix      bool // re-checksum after the change, to reach the check behind the checksum
		fn       func(sb *journal.Superblock)
		sentinel error
	}
	muts := []mutation{
		{"magic", false, func(sb *journal.Superblock) { sb.Magic ^= 1 }, super.ErrCorrupt},
		{"descriptor block type", true, func(sb *journal.Superblock) { sb.BlockType = journal.BlockDescriptor }, super.ErrCorrupt},
		{"unknown format", true, func(sb *journal.Superblock) { sb.BlockType = 9 }, super.ErrUnsupported},
		{"block size", true, func(sb *journal.Superblock) { sb.BlockSize *= 2 }, super.ErrCorrupt},
		{"maxlen past the inode", true, func(sb *journal.Superblock) { sb.MaxLen += 1 }, super.ErrCorrupt},
		{"s_first 0", true, func(sb *journal.Superblock) { sb.First = 0 }, super.ErrCorrupt},
		{"s_first past maxlen", true, func(sb *journal.Superblock) { sb.First = sb.MaxLen }, super.ErrCorrupt},
		{"unknown incompat", true, func(sb *journal.Superblock) { sb.FeatureIncompat |= 0x100 }, super.ErrUnsupported},
		{"unknown ro_compat", true, func(sb *journal.Superblock) { sb.FeatureRoCompat |= 1 }, super.ErrUnsupported},
		{"csum v2 and v3", true, func(sb *journal.Superblock) {
			sb.FeatureIncompat |= journal.IncompatCsumV2 | journal.IncompatCsumV3
			sb.ChecksumType = journal.ChecksumCRC32C
		}, super.ErrCorrupt},
		{"csum v1 and v3", true, func(sb *journal.Superblock) {
			sb.FeatureCompat |= journal.CompatChecksum
			sb.FeatureIncompat |= journal.IncompatCsumV3
			sb.ChecksumType = journal.ChecksumCRC32C
		}, super.ErrCorrupt},
		{"checksum type", true, func(sb *journal.Superblock) {
			sb.FeatureIncompat |= journal.IncompatCsumV3
			sb.ChecksumType = journal.ChecksumMD5
		}, super.ErrCorrupt},
		{"too many fast-commit blocks", true, func(sb *journal.Superblock) {
			sb.FeatureIncompat |= journal.IncompatFastCommit
			sb.NumFCBlocks = sb.MaxLen - 1000
		}, super.ErrCorrupt},
		{"shared journal", true, func(sb *journal.Superblock) { sb.NrUsers = 2 }, super.ErrUnsupported},
	}
	for _, name := range []string{"ext4-4k-journal", "ext3-1k-journal"} {
		img := fixtures.Get(t, name)
		orig := openImage(t, img.Path)
		j0 := orig.load(t)
		for _, m := range muts {
			t.Run(name+"/"+m.name, func(t *testing.T) {
				sb := *j0.SB
				m.fn(&sb)
				if m.fix {
					sb.SetChecksum()
				}
				dev := &patched{ReaderAt: orig.f, off: int64(j0.SuperblockFSBlock()) * int64(orig.sb.BlockSize()), data: sb.Encode()}
				_, err := journal.Load(dev, orig.sb.BlockSize(), orig.bmap, orig.nblocks)
				var fe *super.FormatError
				if !errors.Is(err, m.sentinel) || !errors.As(err, &fe) {
					t.Fatalf("Load: %v, want a FormatError wrapping %v", err, m.sentinel)
				}
				t.Log(err)
			})
		}
		if j0.Format.CsumV2or3() {
			t.Run(name+"/checksum", func(t *testing.T) {
				p := img.Copy(t)
				sb := *j0.SB
				sb.Users[100] ^= 1 // covered by nothing but the checksum
				writeAt(t, p, int64(j0.SuperblockFSBlock())*int64(orig.sb.BlockSize()), sb.Encode())
				im := openImage(t, p)
				if _, err := journal.Load(im.f, im.sb.BlockSize(), im.bmap, im.nblocks); !errors.Is(err, super.ErrChecksum) {
					t.Fatalf("Load: %v", err)
				}
				// The witnesses refuse it as well: debugfs does not replay
				// and the kernel does not mount.
				a := copyImage(t, p)
				if out := jr(t, a); !strings.Contains(out, "corrupt") {
					t.Errorf("debugfs jr did not complain: %q", out)
				}
				checkNothingReplayed(t, orig, a)
				if m, out, err := loopmnt.Try(t, p, "rw"); err == nil {
					m.Unmount()
					t.Errorf("the kernel mounted a filesystem whose journal superblock fails its checksum")
				} else {
					t.Logf("kernel: %s", bytes.TrimSpace(out))
				}
			})
		}
	}
}

func mustScan(t *testing.T, j *journal.Journal) *journal.Log {
	t.Helper()
	l, err := j.Scan()
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// checkNothingReplayed checks that no block outside the journal and the
// superblock differs between two images.
func checkNothingReplayed(t *testing.T, orig *image, got string) {
	t.Helper()
	bs := uint64(orig.sb.BlockSize())
	a := readAll(t, orig)
	b := readFile(t, got, len(a))
	for blk := uint64(0); blk < orig.sb.BlocksCount(); blk++ {
		if blk == super.Offset/bs || orig.isJournal(blk) {
			continue
		}
		if !bytes.Equal(a[blk*bs:(blk+1)*bs], b[blk*bs:(blk+1)*bs]) {
			t.Errorf("block %d changed although nothing may be replayed", blk)
		}
	}
}

// TestCorruptCommitBlock: a commit block that fails its checksum ends the
// replay there (the transaction before it is the last one replayed), as
// debugfs jr on the same corrupted copy shows; without checksums a commit
// block without magic ends the log.
func TestCorruptCommitBlock(t *testing.T) {
	for _, c := range []struct {
		name string
		fn   func(b []byte)
		stop journal.StopReason
		x    jrExpect
	}{
		{"ext4-4k-journal", func(b []byte) { b[0x200] ^= 0x10 }, journal.StopCommitChecksum, jrExpect{errorFS: true}},
		{"ext4-1k-journal", func(b []byte) { b[0x40] ^= 0x01 }, journal.StopCommitChecksum, jrExpect{errorFS: true}},
		{"ext3-1k-journal", func(b []byte) { clear(b[:4]) }, journal.StopNoMagic, jrExpect{}},
	} {
		t.Run(c.name, func(t *testing.T) {
			img := fixtures.Get(t, c.name)
			orig := openImage(t, img.Path)
			txs := mustScan(t, orig.load(t)).Replayed()
			victim := txs[len(txs)/2]
			p := img.Copy(t)
			corruptJBlock(t, orig, p, victim.CommitBlock, c.fn)
			im := openImage(t, p)
			j := im.load(t)
			ov, err := j.Recover()
			if err != nil {
				t.Fatal(err)
			}
			l := ov.Log
			if l.Stop.Reason != c.stop || l.Stop.Block != victim.CommitBlock || l.End != victim.Sequence {
				t.Fatalf("stop %+v end %d, want %v at block %d, end %d", l.Stop, l.End, c.stop, victim.CommitBlock, victim.Sequence)
			}
			if got := l.Replayed(); len(got) != len(txs)/2 || got[len(got)-1].Sequence != victim.Sequence-1 {
				t.Fatalf("%d transactions replayed, want %d", len(got), len(txs)/2)
			}
			if c.stop == journal.StopCommitChecksum && (!l.HasFailedCommit || l.FailedCommit != victim.Sequence) {
				t.Fatalf("failed commit %v %d", l.HasFailedCommit, l.FailedCommit)
			}
			compareWithJR(t, im, j, ov, replayedByDebugfs(t, p, im, j), c.x)
		})
	}
}

// TestCorruptDescriptorBlock: a descriptor block failing its checksum makes
// the scan look at its commit time. If the commit is not older than the
// previous one, the kernel fails the whole recovery (nothing is replayed);
// if it is older, the log is taken as ending there.
func TestCorruptDescriptorBlock(t *testing.T) {
	img := fixtures.Get(t, "ext4-4k-journal")
	orig := openImage(t, img.Path)
	j0 := orig.load(t)
	txs := mustScan(t, j0).Replayed()
	victim := txs[len(txs)/2]
	prev := txs[len(txs)/2-1]

	t.Run("fails recovery", func(t *testing.T) {
		p := img.Copy(t)
		corruptJBlock(t, orig, p, victim.Descriptors[0], func(b []byte) { b[len(b)-100] ^= 1 })
		im := openImage(t, p)
		_, err := im.load(t).Recover()
		if !errors.Is(err, super.ErrChecksum) {
			t.Fatalf("Recover: %v, want a checksum error", err)
		}
		t.Log(err)
		a := copyImage(t, p)
		jr(t, a)
		checkNothingReplayed(t, orig, a)
	})
	t.Run("stale tail", func(t *testing.T) {
		p := img.Copy(t)
		corruptJBlock(t, orig, p, victim.Descriptors[0], func(b []byte) { b[len(b)-100] ^= 1 })
		corruptJBlock(t, orig, p, victim.CommitBlock, func(b []byte) {
			c, err := journal.DecodeCommit(b, j0.Format)
			if err != nil {
				t.Fatal(err)
			}
			c.CommitSec = uint64(prev.CommitTime.Unix()) - 1
			c.SetChecksum(j0.Seed())
			copy(b, c.Encode())
		})
		im := openImage(t, p)
		j := im.load(t)
		ov, err := j.Recover()
		if err != nil {
			t.Fatal(err)
		}
		if ov.Log.Stop.Reason != journal.StopStale || ov.Log.End != victim.Sequence || ov.Log.HasFailedCommit {
			t.Fatalf("stop %+v end %d", ov.Log.Stop, ov.Log.End)
		}
		compareWithJR(t, im, j, ov, replayedByDebugfs(t, p, im, j), jrExpect{})
	})
}

// TestCorruptDataBlock: a logged copy whose tag checksum fails is skipped:
// the block keeps its previous copy, or the device's content when it has
// none, exactly as debugfs jr leaves it; Verify reports the failure (the
// kernel replays the rest and then refuses to mount).
func TestCorruptDataBlock(t *testing.T) {
	img := fixtures.Get(t, "ext4-4k-journal")
	orig := openImage(t, img.Path)
	ov0, err := orig.load(t).Recover()
	if err != nil {
		t.Fatal(err)
	}
	var multi, single uint64
	for _, b := range ov0.Blocks() {
		n := len(ov0.Copies(b))
		if n >= 2 && multi == 0 && b != 0 {
			multi = b
		}
		if n == 1 && single == 0 && b != 0 {
			single = b
		}
	}
	if multi == 0 || single == 0 {
		t.Fatalf("no suitable blocks (multi %d, single %d)", multi, single)
	}
	cm, cs := ov0.Copies(multi), ov0.Copies(single)
	p := img.Copy(t)
	flip := func(b []byte) { b[1234] ^= 0x80 }
	corruptJBlock(t, orig, p, cm[len(cm)-1].JBlock, flip)
	corruptJBlock(t, orig, p, cs[0].JBlock, flip)

	im := openImage(t, p)
	j := im.load(t)
	ov, err := j.Recover()
	if err != nil {
		t.Fatal(err)
	}
	d, ok, err := ov.ReadBlock(multi)
	prevCopy := orig.jblock(t, cm[len(cm)-2].JBlock)
	journal.Unescape(prevCopy, cm[len(cm)-2].Flags)
	if err != nil || !ok || !bytes.Equal(d, prevCopy) {
		t.Fatalf("block %d: ok=%v err=%v, want the previous copy", multi, ok, err)
	}
	if _, ok, err := ov.ReadBlock(single); ok || err != nil {
		t.Fatalf("block %d: ok=%v err=%v, want no valid copy", single, ok, err)
	}
	if got := ov.BadCopies(); len(got) != 2 {
		t.Fatalf("bad copies %v", got)
	}
	if err := ov.Verify(); !errors.Is(err, super.ErrChecksum) {
		t.Fatalf("Verify: %v", err)
	}
	compareWithJR(t, im, j, ov, replayedByDebugfs(t, p, im, j), jrExpect{failed: true})
}

// TestRevokedBlocks: a block revoked in transaction R is not replayed from
// any transaction up to R. The bigalloc fixture carries a kernel-made
// revoke block; debugfs agrees on the result (TestReplayMatchesDebugfs).
func TestRevokedBlocks(t *testing.T) {
	im := openImage(t, fixtures.Get(t, "ext4-bigalloc").Path)
	j := im.load(t)
	ov, err := j.Recover()
	if err != nil {
		t.Fatal(err)
	}
	if ov.Log.Revokes == 0 {
		t.Fatal("the fixture has no revoke records")
	}
	newest := map[uint64]uint32{}
	for _, tx := range ov.Log.Replayed() {
		for _, rb := range tx.RevokeBlocks {
			r, err := journal.DecodeRevoke(im.jblock(t, rb), j.Format)
			if err != nil {
				t.Fatal(err)
			}
			for _, b := range r.Records {
				newest[b] = tx.Sequence
			}
		}
	}
	revoked := 0
	for b, rs := range newest {
		for _, c := range ov.Copies(b) {
			if c.Revoked != (c.Sequence <= rs) {
				t.Errorf("block %d: copy of transaction %d revoked=%v, revoke in %d", b, c.Sequence, c.Revoked, rs)
			}
			if c.Revoked {
				revoked++
			}
		}
	}
	t.Logf("%d revoke records, %d revoked copies", ov.Log.Revokes, revoked)
}
