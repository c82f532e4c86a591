package journal

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"testing"
	"time"

	"github.com/ext4relink/ext4relink/super"
)

// histJournal is a small in-memory journal (1 KiB blocks, 1024 blocks,
// journal block k at device block k+100) for History tests.
type histJournal struct {
	t   *testing.T
	dev *memDev
	sb  *Superblock
	j   *Journal
	pos uint64
}

func newHistJournal(t *testing.T, incompat, compat uint32) *histJournal {
	t.Helper()
	sb := &Superblock{Header: Header{Magic: Magic, BlockType: BlockSuperblockV2}, BlockSize: 1024,
		MaxLen: 1024, First: 1, Sequence: 5, FeatureIncompat: incompat, FeatureCompat: compat, ChecksumType: ChecksumCRC32C}
	if incompat&(IncompatCsumV2|IncompatCsumV3) == 0 {
		sb.ChecksumType = 0
	}
	sb.SetChecksum()
	h := &histJournal{t: t, dev: &memDev{bs: 1024, blocks: map[uint64][]byte{}}, sb: sb, pos: 1}
	h.put(0, sb.Encode())
	h.load()
	return h
}

func (h *histJournal) put(jb uint64, b []byte) { h.dev.blocks[jb+100] = append([]byte(nil), b...) }

func (h *histJournal) load() {
	bmap := func(jb uint64) (uint64, error) {
		if jb >= 1024 {
			return 0, io.EOF
		}
		return jb + 100, nil
	}
	j, err := Load(h.dev, 1024, bmap, 1024)
	if err != nil {
		h.t.Fatal(err)
	}
	h.j = j
}

// setLive points s_start and s_sequence at a transaction.
func (h *histJournal) setLive(start uint64, seq uint32) {
	b, err := h.j.SuperblockBytes(start, seq)
	if err != nil {
		h.t.Fatal(err)
	}
	h.put(0, b)
	h.load()
}

// tx writes a transaction at h.pos (or at, when at > 0) and returns its
// first block and the journal block of each logged block, in order.
func (h *histJournal) tx(seq uint32, at uint64, blocks ...LoggedBlock) (uint64, []uint64) {
	h.t.Helper()
	if at > 0 {
		h.pos = at
	}
	start := h.pos
	ws, err := h.j.EncodeTransaction(seq, blocks, start, time.Unix(int64(1000+seq), 7))
	if err != nil {
		h.t.Fatal(err)
	}
	var data []uint64
	for _, w := range ws {
		h.put(w.JBlock, w.Data)
		if hd, _ := DecodeHeader(w.Data); !hd.Valid() {
			data = append(data, w.JBlock)
		}
		h.pos = h.j.wrap(w.JBlock + 1)
	}
	return start, data
}

func histData(home uint64, v byte) []byte {
	b := bytes.Repeat([]byte{v}, 1024)
	binary.BigEndian.PutUint64(b[8:], home)
	if v == 0xEE {
		binary.BigEndian.PutUint32(b, Magic)
	}
	return b
}

func lb(home uint64, v byte) LoggedBlock { return LoggedBlock{FSBlock: home, Data: histData(home, v)} }

var histFormats = []struct {
	name             string
	incompat, compat uint32
	csum             bool // data blocks carry checksums
}{
	{"csum-v3-64bit", IncompatCsumV3 | Incompat64Bit, 0, true},
	{"csum-v2", IncompatCsumV2, 0, true},
	{"none", Incompat64Bit | IncompatRevoke, 0, false},
	{"v1", IncompatRevoke, CompatChecksum, false},
}

func mustHistory(t *testing.T, j *Journal) *History {
	t.Helper()
	h, err := j.History()
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func seqs(vs []Logged) []uint32 {
	var out []uint32
	for _, v := range vs {
		out = append(out, v.Sequence)
	}
	return out
}

// TestHistoryVersions: checkpointed and live transactions, newest first,
// revocations, escaping and commit times.
func TestHistoryVersions(t *testing.T) {
	for _, f := range histFormats {
		t.Run(f.name, func(t *testing.T) {
			hj := newHistJournal(t, f.incompat, f.compat)
			hj.tx(5, 0, lb(10, 1), lb(11, 1))
			s6, _ := hj.tx(6, 0, lb(10, 2), lb(12, 0xEE))
			// Transaction 7 revokes 11 and logs 20.
			rv, err := NewRevoke(hj.j.Format, 7, []uint64{11})
			if err != nil {
				t.Fatal(err)
			}
			rv.SetChecksum(hj.j.Seed())
			hj.put(hj.pos, rv.Encode())
			hj.pos++
			hj.tx(7, 0, lb(20, 3))
			hj.setLive(s6, 6)
			h := mustHistory(t, hj.j)
			txs := h.Transactions()
			if len(txs) != 3 || txs[0].Sequence != 7 || txs[2].Sequence != 5 {
				t.Fatalf("transactions %+v", txs)
			}
			if txs[2].Live || !txs[1].Live || !txs[0].Live {
				t.Fatalf("live flags %+v", txs)
			}
			if !txs[1].CommitTime.Equal(time.Unix(1006, 7)) {
				t.Fatalf("commit time %v", txs[1].CommitTime)
			}
			v := h.Versions(10)
			if got := seqs(v); len(got) != 2 || got[0] != 6 || got[1] != 5 {
				t.Fatalf("versions of 10: %v", got)
			}
			for k, want := range []byte{2, 1} {
				b, err := h.Read(v[k])
				if err != nil || !bytes.Equal(b, histData(10, want)) {
					t.Fatalf("read %+v: %v", v[k], err)
				}
			}
			if v := h.Versions(11); len(v) != 1 || !v[0].Revoked {
				t.Fatalf("versions of 11: %+v", v)
			}
			v = h.Versions(12)
			if len(v) != 1 || !v[0].Escaped {
				t.Fatalf("versions of 12: %+v", v)
			}
			if b, err := h.Read(v[0]); err != nil || !bytes.Equal(b, histData(12, 0xEE)) {
				t.Fatalf("escaped block: %v", err)
			}
			if len(h.Versions(13)) != 0 || h.Len() != 5 || len(h.Blocks()) != 4 {
				t.Fatalf("len %d blocks %v", h.Len(), h.Blocks())
			}
			if h.Skipped+h.Incomplete+h.BadMeta+h.Overwritten != 0 {
				t.Fatalf("counts %+v", h)
			}
		})
	}
}

// TestHistoryOverwritten: a log restarted at s_first (after a recovery
// or a clean mount) overwrites the start of the area, where an older
// transaction that wrapped around the end has its last data blocks: those
// copies are dropped; without data checksums the older transaction goes
// whole.
func TestHistoryOverwritten(t *testing.T) {
	for _, f := range histFormats {
		t.Run(f.name, func(t *testing.T) {
			hj := newHistJournal(t, f.incompat, f.compat)
			var blocks []LoggedBlock
			for _, b := range []uint64{10, 12, 13, 14, 15, 16, 17, 18} {
				blocks = append(blocks, lb(b, 1))
			}
			hj.tx(5, 1018, blocks...) // data in 1019..1023 and 1..3, commit in 4
			hj.tx(9, 1, lb(30, 9))    // 1, 2 and 3
			h := mustHistory(t, hj.j)
			if v := h.Versions(30); len(v) != 1 || v[0].Sequence != 9 {
				t.Fatalf("versions of 30: %+v", v)
			}
			if f.csum {
				if len(h.Versions(16)) != 0 || len(h.Versions(17)) != 0 || len(h.Versions(18)) != 0 ||
					len(h.Versions(15)) != 1 || h.Overwritten != 3 {
					t.Fatalf("blocks %v, overwritten %d", h.Blocks(), h.Overwritten)
				}
				return
			}
			if len(h.Versions(15)) != 0 || h.Skipped != 1 {
				t.Fatalf("blocks %v, skipped %d", h.Blocks(), h.Skipped)
			}
		})
	}
}

// TestHistoryChecksums: a descriptor or commit block failing its
// checksum drops its transaction; a data block failing its tag checksum is
// refused when read (v2/v3), or drops its transaction (v1).
func TestHistoryChecksums(t *testing.T) {
	for _, f := range histFormats {
		if !f.csum && f.compat == 0 {
			continue
		}
		for _, which := range []string{"data", "descriptor", "commit"} {
			if which == "commit" && f.compat != 0 {
				continue // a v1 commit block has no checksum of its own
			}
			t.Run(f.name+"/"+which, func(t *testing.T) {
				hj := newHistJournal(t, f.incompat, f.compat)
				s5, data := hj.tx(5, 0, lb(10, 1), lb(11, 1))
				hj.tx(6, 0, lb(20, 2))
				at := map[string]uint64{"data": data[1], "descriptor": s5, "commit": data[1] + 1}[which]
				b := hj.dev.blocks[at+100]
				b[len(b)-20] ^= 1
				h := mustHistory(t, hj.j)
				if len(h.Versions(20)) != 1 {
					t.Fatalf("blocks %v", h.Blocks())
				}
				if which == "data" && f.csum {
					v := h.Versions(11)
					if len(v) != 1 {
						t.Fatalf("versions of 11: %+v", v)
					}
					if _, err := h.Read(v[0]); !errors.Is(err, super.ErrChecksum) {
						t.Fatalf("read of a bad copy: %v", err)
					}
					if b, err := h.Read(h.Versions(10)[0]); err != nil || !bytes.Equal(b, histData(10, 1)) {
						t.Fatalf("read of a good copy: %v", err)
					}
					return
				}
				if len(h.Versions(10)) != 0 {
					t.Fatalf("blocks %v", h.Blocks())
				}
				if which == "descriptor" && f.compat != 0 {
					return // v1: the descriptor has no checksum of its own, the commit's crc fails
				}
				if h.Skipped+h.BadMeta != 1 {
					t.Fatalf("skipped %d bad %d", h.Skipped, h.BadMeta)
				}
			})
		}
	}
}

// TestHistoryIncomplete: a transaction without its commit block is not
// kept, and the copies it overwrote are gone too.
func TestHistoryIncomplete(t *testing.T) {
	hj := newHistJournal(t, IncompatCsumV3, 0)
	var blocks []LoggedBlock
	for b := uint64(10); b < 18; b++ {
		blocks = append(blocks, lb(b, 1))
	}
	hj.tx(5, 1018, blocks...) // data in 1019..1023 and 1..3 (15, 16, 17), commit in 4
	old := hj.dev.blocks[3+100]
	hj.tx(6, 1, lb(20, 2))
	hj.put(3, old) // transaction 6's commit block never reached the disk
	h := mustHistory(t, hj.j)
	if h.Incomplete != 1 || len(h.Versions(20)) != 0 || len(h.Versions(15)) != 0 || len(h.Versions(16)) != 0 ||
		len(h.Versions(17)) != 1 || h.Overwritten != 2 {
		t.Fatalf("incomplete %d, blocks %v, overwritten %d", h.Incomplete, h.Blocks(), h.Overwritten)
	}
	if b, err := h.Read(h.Versions(17)[0]); err != nil || !bytes.Equal(b, histData(17, 1)) {
		t.Fatalf("read: %v", err)
	}
}

// TestHistoryWrap: a transaction wrapping from the end of the log to
// s_first is followed across the wrap.
func TestHistoryWrap(t *testing.T) {
	hj := newHistJournal(t, IncompatCsumV3|Incompat64Bit, 0)
	hj.tx(5, 1020, lb(10, 1), lb(11, 1), lb(12, 1), lb(13, 1), lb(14, 1))
	h := mustHistory(t, hj.j)
	if h.Len() != 5 || len(h.Transactions()) != 1 {
		t.Fatalf("len %d, %+v", h.Len(), h.Transactions())
	}
	v := h.Versions(14)
	if b, err := h.Read(v[0]); err != nil || !bytes.Equal(b, histData(14, 1)) {
		t.Fatalf("read across the wrap: %v", err)
	}
}

// TestHistoryHops: the data blocks a descriptor describes are not read.
func TestHistoryHops(t *testing.T) {
	hj := newHistJournal(t, IncompatCsumV3|Incompat64Bit, 0)
	var blocks []LoggedBlock
	for b := uint64(100); b < 700; b++ {
		blocks = append(blocks, lb(b, 1))
	}
	hj.tx(5, 0, blocks...)
	before := hj.j.Stats().Bytes
	h := mustHistory(t, hj.j)
	if h.Len() != 600 {
		t.Fatalf("%d copies", h.Len())
	}
	if read := (hj.j.Stats().Bytes - before) / 1024; read > 1023-600+10 {
		t.Fatalf("%d blocks read for a 1023-block area of which 600 are data", read)
	}
}

// failDev fails reads that touch one device block.
type failDev struct {
	*memDev
	bad uint64
}

func (f failDev) ReadAt(p []byte, off int64) (int, error) {
	lo, hi := uint64(off)/1024, (uint64(off)+uint64(len(p))-1)/1024
	if lo <= f.bad && f.bad <= hi {
		return 0, io.ErrUnexpectedEOF
	}
	return f.memDev.ReadAt(p, off)
}

// TestHistoryBadSector: an unreadable journal block is skipped and
// counted; the rest of the history is still read.
func TestHistoryBadSector(t *testing.T) {
	hj := newHistJournal(t, IncompatCsumV3, 0)
	hj.tx(5, 0, lb(10, 1))
	hj.tx(6, 500, lb(20, 2))
	dev := failDev{hj.dev, 100 + 300} // journal block 300: outside both
	j, err := Load(dev, 1024, func(jb uint64) (uint64, error) {
		if jb >= 1024 {
			return 0, io.EOF
		}
		return jb + 100, nil
	}, 1024)
	if err != nil {
		t.Fatal(err)
	}
	h := mustHistory(t, j)
	if h.Unreadable != 1 || len(h.Versions(10)) != 1 || len(h.Versions(20)) != 1 {
		t.Fatalf("unreadable %d, blocks %v", h.Unreadable, h.Blocks())
	}
}
