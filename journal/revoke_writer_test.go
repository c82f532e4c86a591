package journal_test

import (
	"bytes"
	"os/exec"
	"testing"
	"time"

	"github.com/ext4relink/ext4relink/internal/testfs"
	"github.com/ext4relink/ext4relink/journal"
)

// TestRevokeReplay logs three transactions into an empty journal:
//
//	T1: A, B, D    T2: revoke A and D; C, D    T3: A
//
// The replay must leave B and C from their transactions, A from T3 (its T1
// copy is revoked, the T3 copy is newer than the revoke), and D untouched
// (both copies are revoked: a revoke covers its own transaction). Recover,
// debugfs jr, e2fsck and the kernel must all agree.
func TestRevokeReplay(t *testing.T) {
	for _, c := range []struct {
		name string
		args []string
	}{
		{"ext4 (csum v3, 64-bit records)", []string{"-t", "ext4"}},
		{"ext3 (no csum, 32-bit records)", []string{"-t", "ext3", "-b", "1024"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			base := mkfsImage(t, c.args...)
			im := openImage(t, base)
			j := im.load(t)
			bs := int(im.sb.BlockSize())
			fb := freeBlocks(t, base, 4)
			A, B, C, D := fb[0], fb[1], fb[2], fb[3]
			fill := func(v byte) []byte { return bytes.Repeat([]byte{v}, bs) }
			seq := mustScan(t, j).NextSequence()
			when := time.Unix(1700000000, 0)
			var all []journal.JournalWrite
			pos := j.First
			add := func(ws []journal.JournalWrite) {
				all = append(all, ws...)
				pos = ws[len(ws)-1].JBlock + 1
			}
			w1, err := j.EncodeTransaction(seq, []journal.LoggedBlock{{A, fill(1)}, {B, fill(2)}, {D, fill(4)}}, pos, when)
			if err != nil {
				t.Fatal(err)
			}
			add(w1)
			r, err := journal.NewRevoke(j.Format, seq+1, []uint64{A, D})
			if err != nil {
				t.Fatal(err)
			}
			r.SetChecksum(j.Seed())
			add([]journal.JournalWrite{{JBlock: pos, Data: r.Encode()}})
			w2, err := j.EncodeTransaction(seq+1, []journal.LoggedBlock{{C, fill(3)}, {D, fill(5)}}, pos, when.Add(time.Second))
			if err != nil {
				t.Fatal(err)
			}
			add(w2)
			w3, err := j.EncodeTransaction(seq+2, []journal.LoggedBlock{{A, fill(6)}}, pos, when.Add(2*time.Second))
			if err != nil {
				t.Fatal(err)
			}
			add(w3)
			for _, w := range all {
				writeAt(t, base, int64(im.jmap[w.JBlock])*int64(bs), w.Data)
			}
			sbb, _ := j.SuperblockBytes(j.First, seq)
			writeAt(t, base, int64(j.SuperblockFSBlock())*int64(bs), sbb)
			setNeedsRecovery(t, base)

			want := map[uint64][]byte{A: fill(6), B: fill(2), C: fill(3), D: im.block(t, D)}
			ov, err := openImage(t, base).load(t).Recover()
			if err != nil {
				t.Fatal(err)
			}
			if ov.Log.Revokes != 2 || len(ov.Log.Replayed()) != 3 {
				t.Fatalf("%d revokes, %d transactions", ov.Log.Revokes, len(ov.Log.Replayed()))
			}
			for b, w := range want {
				d, ok, err := ov.ReadBlock(b)
				if err != nil {
					t.Fatal(err)
				}
				if !ok {
					d = im.block(t, b)
				}
				if !bytes.Equal(d, w) {
					t.Errorf("overlay: block %d holds %#x..., want %#x...", b, d[0], w[0])
				}
			}
			check := func(tool, p string) {
				t.Helper()
				for b, w := range want {
					if got := testfs.Block(t, p, im.sb, b); !bytes.Equal(got, w) {
						t.Errorf("%s: block %d holds %#x..., want %#x...", tool, b, got[0], w[0])
					}
				}
				testfs.E2fsckClean(t, p)
			}
			a := copyImage(t, base)
			jr(t, a)
			check("debugfs jr", a)
			e := copyImage(t, base)
			exec.Command("e2fsck", "-fy", e).Run()
			check("e2fsck -fy", e)
			k := copyImage(t, base)
			kernelReplay(t, k)
			check("kernel", k)
		})
	}
}
