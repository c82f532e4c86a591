package journal

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/ext4relink/ext4relink/fixtures"
	"github.com/ext4relink/ext4relink/internal/testfs"
	"github.com/ext4relink/ext4relink/super"
)

// The reference recovery: a frozen copy of the straightforward scan and
// overlay (one decoded descriptor per block, one Copy per tag in a map of
// slices) that the optimised Scan and Recover replaced. Tests compare the
// two on every fixture and on every FuzzRecover input: the optimisation
// must not change one field, one byte or one error message.

type refTag struct {
	pos  uint64
	tag  Tag
	wrap bool
}

type refTx struct {
	t       *Transaction
	tags    []refTag
	revokes []revokeBlock
}

// refScan is PASS_SCAN, PASS_REVOKE and the wrap check as Scan did them.
func refScan(j *Journal) (*Log, []*refTx, error) {
	sb := j.SB
	l := &Log{Start: uint64(sb.Start), FirstSequence: sb.Sequence}
	if sb.Start == 0 {
		l.Empty, l.End = true, sb.Sequence
		return l, nil, nil
	}
	txs, err := refScanPass(j, l)
	if err == nil {
		err = refRevokePass(j, l, txs)
	}
	if err == nil {
		err = refCheckWrap(j, txs)
	}
	return l, txs, err
}

func refRead(j *Journal, jblk uint64) ([]byte, error) {
	if jblk >= j.TotalLen {
		return nil, super.Errorf(super.ErrCorrupt, "journal", super.NoBlock, -1,
			"log block %d is past the end of the journal (%d blocks): corrupted journal superblock", jblk, j.TotalLen)
	}
	fsblk, err := j.Map(jblk)
	if err != nil {
		return nil, err
	}
	b, err := refReadFS(j, fsblk)
	if err != nil {
		return nil, fmt.Errorf("journal block %d: %w", jblk, err)
	}
	return b, nil
}

func refReadFS(j *Journal, fsblk uint64) ([]byte, error) {
	b := make([]byte, j.Format.BlockSize)
	if err := j.readFSInto(b, fsblk); err != nil {
		return nil, err
	}
	return b, nil
}

func refScanPass(j *Journal, l *Log) ([]*refTx, error) {
	fm, seed := j.Format, j.seed
	next := l.FirstSequence
	blk := l.Start
	headBlock := blk
	var endTx uint32
	needCheck := false
	var lastTime uint64
	crc := ^uint32(0)
	var txs []*refTx
	var tx *refTx
	txFor := func(at uint64) *refTx {
		if tx == nil || tx.t.Sequence != next {
			tx = &refTx{t: &Transaction{Sequence: next, Start: at}}
			txs = append(txs, tx)
			l.Transactions = append(l.Transactions, tx.t)
		}
		return tx
	}
	limit := 2 * (j.TotalLen + 1)
	var read uint64
	stop := func(r StopReason, at uint64, detail string) {
		l.Stop = Stop{Reason: r, Block: at, Sequence: next, Detail: detail}
	}
loop:
	for {
		if read++; read > limit {
			return txs, scanErr(super.ErrCorrupt, j, blk, "the log runs on for more than %d blocks: longer than the journal", limit)
		}
		b, err := refRead(j, blk)
		if err != nil {
			return txs, err
		}
		cur := blk
		blk = j.wrap(blk + 1)
		h, _ := DecodeHeader(b)
		if !h.Valid() {
			stop(StopNoMagic, cur, "")
			break
		}
		if h.Sequence != next {
			stop(StopSequence, cur, fmt.Sprintf("found sequence %d", h.Sequence))
			break
		}
		switch h.BlockType {
		case BlockDescriptor, BlockCommit, BlockRevoke:
			l.Metadata = append(l.Metadata, MetaBlock{JBlock: cur, Type: h.BlockType, Sequence: h.Sequence})
		}
		switch h.BlockType {
		case BlockDescriptor:
			d, err := DecodeDescriptor(b, fm)
			if err != nil {
				return txs, err
			}
			rt := txFor(cur)
			t := rt.t
			t.Descriptors = append(t.Descriptors, cur)
			if !d.VerifyChecksum(seed) {
				needCheck = true
				t.MetaChecksum = CsumInvalid
			} else if fm.CsumV2or3() && t.MetaChecksum == CsumNone {
				t.MetaChecksum = CsumValid
			}
			tags := refTags(b, fm)
			n := uint64(len(tags))
			t.DataBlocks += len(tags)
			pos := blk
			bulk := j.wrap(blk + n)
			for _, tg := range tags {
				rt.tags = append(rt.tags, refTag{pos: pos, tag: tg})
				pos = j.wrap(pos + 1)
			}
			if fm.CsumV1() && !needCheck && endTx == 0 {
				crc = Crc32BE(crc, b)
				for range n {
					io := blk
					blk = j.wrap(blk + 1)
					data, err := refRead(j, io)
					if err != nil {
						stop(StopReadError, io, err.Error())
						break loop
					}
					crc = Crc32BE(crc, data)
				}
				continue
			}
			if n > 0 && pos != bulk {
				rt.tags[len(rt.tags)-1].wrap = true
			}
			blk = bulk
		case BlockCommit:
			c, err := DecodeCommit(b, fm)
			if err != nil {
				return txs, err
			}
			t := txFor(cur).t
			t.Committed, t.CommitBlock, t.CommitTime = true, cur, c.Time()
			ct := c.CommitSec
			if needCheck {
				if ct >= lastTime {
					t.Checksum = csumStateOf(fm, c, seed, crc)
					return txs, scanErr(super.ErrChecksum, j, cur,
						"transaction %d has a descriptor or revoke block with a bad checksum", next)
				}
				stop(StopStale, cur, "a block failed its checksum and this commit is older than the previous one")
				break loop
			}
			bad := false
			if fm.CsumV1() {
				if endTx != 0 {
					l.FailedCommit, l.HasFailedCommit = endTx, true
					stop(StopFailedAsync, cur, fmt.Sprintf("transaction %d failed its commit checksum", endTx))
					break loop
				}
				if !c.VerifyV1(crc) {
					bad = true
					t.Checksum = CsumInvalid
				} else {
					if c.ChksumType != 0 {
						t.Checksum = CsumValid
					}
					crc = ^uint32(0)
				}
			}
			if !bad && fm.CsumV2or3() {
				if c.VerifyChecksum(seed) {
					t.Checksum = CsumValid
				} else {
					bad, t.Checksum = true, CsumInvalid
				}
			}
			if bad {
				if ct < lastTime {
					stop(StopStale, cur, "commit checksum mismatch in a commit older than the previous one")
					break loop
				}
				endTx = next
				l.HeadBlock = headBlock
				if !fm.AsyncCommit() {
					l.FailedCommit, l.HasFailedCommit = next, true
					stop(StopCommitChecksum, cur, "")
					break loop
				}
			}
			lastTime = ct
			headBlock = blk
			next++
		case BlockRevoke:
			rt := txFor(cur)
			t := rt.t
			t.RevokeBlocks = append(t.RevokeBlocks, cur)
			rv, rerr := DecodeRevoke(b, fm)
			if fm.CsumV2or3() && tailChecksum(seed, b) != be32(b, len(b)-TailSize) {
				needCheck = true
				t.MetaChecksum = CsumInvalid
			} else if fm.CsumV2or3() && t.MetaChecksum == CsumNone {
				t.MetaChecksum = CsumValid
			}
			rt.revokes = append(rt.revokes, revokeBlock{pos: cur, rv: rv, err: rerr})
			if rerr == nil {
				t.Revokes += len(rv.Records)
			}
		default:
			stop(StopBlockType, cur, BlockTypeName(h.BlockType))
			break loop
		}
	}
	if endTx == 0 {
		endTx = next
	}
	if l.HeadBlock == 0 {
		l.HeadBlock = headBlock
	}
	l.End = endTx
	for _, t := range l.Transactions {
		t.Replay = tidGT(endTx, t.Sequence) && tidGEQ(t.Sequence, l.FirstSequence)
	}
	if j.Format.FastCommit() {
		return txs, j.scanFastCommit(l)
	}
	return txs, nil
}

// refTags is DecodeDescriptor's walk over the tags as it was.
func refTags(b []byte, fm Format) []Tag {
	var tags []Tag
	tb := fm.TagBytes()
	size := len(b) - fm.tailSize()
	for off := HeaderSize; off+tb <= size; {
		t := Tag{Off: off}
		t.decode(b, fm)
		tags = append(tags, t)
		off += tb
		if t.FlagBits()&FlagSameUUID == 0 {
			off += 16
		}
		if t.FlagBits()&FlagLastTag != 0 {
			break
		}
	}
	return tags
}

func refRevokePass(j *Journal, l *Log, txs []*refTx) error {
	for _, rt := range txs {
		if !rt.t.Replay {
			continue
		}
		for _, r := range rt.revokes {
			if r.err != nil {
				var fe *super.FormatError
				if errors.As(r.err, &fe) {
					fe.Struct = fmt.Sprintf("journal revoke block %d", r.pos)
					if fsblk, err := j.bmap(r.pos); err == nil {
						fe.Block = fsblk
					}
				}
				return r.err
			}
			l.Revokes += len(r.rv.Records)
		}
	}
	return nil
}

func refCheckWrap(j *Journal, txs []*refTx) error {
	for _, rt := range txs {
		if !rt.t.Replay {
			continue
		}
		for _, tg := range rt.tags {
			if tg.wrap {
				return scanErr(super.ErrCorrupt, j, tg.pos,
					"transaction %d describes more data blocks than the log holds", rt.t.Sequence)
			}
		}
	}
	return nil
}

// refOverlay is the overlay as a map of copies.
type refOverlay struct {
	j      *Journal
	copies map[uint64][]Copy
	blocks []uint64
	bad    map[uint64]bool
}

func refRecover(j *Journal) (*refOverlay, error) {
	l, txs, err := refScan(j)
	if err != nil {
		return nil, err
	}
	o := &refOverlay{j: j, copies: map[uint64][]Copy{}, bad: map[uint64]bool{}}
	revoked := map[uint64]uint32{}
	for _, rt := range txs {
		if !rt.t.Replay {
			continue
		}
		for _, r := range rt.revokes {
			for _, b := range r.rv.Records {
				if s, ok := revoked[b]; !ok || tidGT(rt.t.Sequence, s) {
					revoked[b] = rt.t.Sequence
				}
			}
		}
	}
	_ = l
	for _, rt := range txs {
		if !rt.t.Replay {
			continue
		}
		for _, lt := range rt.tags {
			home := lt.tag.Block(j.Format)
			fsblk, err := j.Map(lt.pos)
			if err != nil {
				return nil, err
			}
			c := Copy{JBlock: lt.pos, FSBlock: fsblk, Sequence: rt.t.Sequence,
				Flags: lt.tag.FlagBits(), Checksum: lt.tag.Checksum}
			if s, ok := revoked[home]; ok && !tidGT(rt.t.Sequence, s) {
				c.Revoked = true
			}
			o.copies[home] = append(o.copies[home], c)
		}
	}
	for b, cs := range o.copies {
		if slices.ContainsFunc(cs, func(c Copy) bool { return !c.Revoked }) {
			o.blocks = append(o.blocks, b)
		}
	}
	slices.Sort(o.blocks)
	return o, nil
}

func (o *refOverlay) readBlock(fsblk uint64) ([]byte, bool, error) {
	cs := o.copies[fsblk]
	for i := len(cs) - 1; i >= 0; i-- {
		c := cs[i]
		if c.Revoked || o.bad[c.JBlock] {
			continue
		}
		b, err := refReadFS(o.j, c.FSBlock)
		if err != nil {
			return nil, false, fmt.Errorf("journal block %d (copy of block %d, transaction %d): %w", c.JBlock, fsblk, c.Sequence, err)
		}
		t := Tag{Checksum: c.Checksum}
		if !t.VerifyData(o.j.Format, o.j.seed, c.Sequence, b) {
			o.bad[c.JBlock] = true
			continue
		}
		Unescape(b, c.Flags)
		return b, true, nil
	}
	return nil, false, nil
}

func (o *refOverlay) verify() error {
	var first *Copy
	var home uint64
	n := 0
	for _, b := range o.blocks {
		for _, c := range o.copies[b] {
			if c.Revoked {
				continue
			}
			d, err := refReadFS(o.j, c.FSBlock)
			if err != nil {
				return fmt.Errorf("journal block %d: %w", c.JBlock, err)
			}
			t := Tag{Checksum: c.Checksum}
			if !t.VerifyData(o.j.Format, o.j.seed, c.Sequence, d) {
				o.bad[c.JBlock] = true
				if first == nil {
					cc := c
					first, home = &cc, b
				}
				n++
			}
		}
	}
	if first == nil {
		return nil
	}
	return super.Errorf(super.ErrChecksum, fmt.Sprintf("journal block %d", first.JBlock), first.FSBlock, -1,
		"logged copy of block %d in transaction %d fails its tag checksum (%d bad copies in all); the kernel replays the rest and refuses to mount",
		home, first.Sequence, n)
}

func (o *refOverlay) checkRange(blocksCount uint64) error {
	if n := len(o.blocks); n > 0 && o.blocks[n-1] >= blocksCount {
		b := o.blocks[n-1]
		c := o.copies[b][len(o.copies[b])-1]
		return super.Errorf(super.ErrCorrupt, fmt.Sprintf("journal block %d", c.JBlock), c.FSBlock, -1,
			"transaction %d logs block %d, past the end of the filesystem (%d blocks)", c.Sequence, b, blocksCount)
	}
	return nil
}

// publicLog is l with the unexported fields of it and its transactions
// cleared, for comparing what callers can see.
func publicLog(l *Log) *Log {
	if l == nil {
		return nil
	}
	p := &Log{Empty: l.Empty, Start: l.Start, FirstSequence: l.FirstSequence, End: l.End, Stop: l.Stop,
		FailedCommit: l.FailedCommit, HasFailedCommit: l.HasFailedCommit, HeadBlock: l.HeadBlock,
		Revokes: l.Revokes, Metadata: l.Metadata, FastCommit: l.FastCommit}
	for _, t := range l.Transactions {
		p.Transactions = append(p.Transactions, &Transaction{Sequence: t.Sequence, Start: t.Start,
			Descriptors: t.Descriptors, DataBlocks: t.DataBlocks, RevokeBlocks: t.RevokeBlocks,
			Revokes: t.Revokes, Committed: t.Committed, CommitBlock: t.CommitBlock, CommitTime: t.CommitTime,
			Checksum: t.Checksum, MetaChecksum: t.MetaChecksum, Replay: t.Replay})
	}
	return p
}

func sameErr(a, b error) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	return a.Error() == b.Error() &&
		errors.Is(a, super.ErrCorrupt) == errors.Is(b, super.ErrCorrupt) &&
		errors.Is(a, super.ErrChecksum) == errors.Is(b, super.ErrChecksum) &&
		errors.Is(a, super.ErrUnsupported) == errors.Is(b, super.ErrUnsupported)
}

// checkReference runs Scan, Recover and every overlay method on j and
// fails t unless the reference gives the same results. With readAll false
// it reads only the first and last few replayed blocks (for big journals).
func checkReference(t testing.TB, j *Journal, readAll bool) {
	t.Helper()
	s0 := j.Stats()
	l, err := j.Scan()
	s1 := j.Stats()
	rl, _, rerr := refScan(j)
	if s2 := j.Stats(); s1.Reads-s0.Reads != s2.Reads-s1.Reads || s1.Bytes-s0.Bytes != s2.Bytes-s1.Bytes {
		t.Fatalf("Scan read %d blocks (%d bytes), reference %d (%d bytes)",
			s1.Reads-s0.Reads, s1.Bytes-s0.Bytes, s2.Reads-s1.Reads, s2.Bytes-s1.Bytes)
	}
	if !sameErr(err, rerr) {
		t.Fatalf("Scan error %v, reference %v", err, rerr)
	}
	if !reflect.DeepEqual(publicLog(l), publicLog(rl)) {
		t.Fatalf("Scan log differs from the reference:\n%+v\n%+v", publicLog(l), publicLog(rl))
	}
	ov, err := j.Recover()
	ro, rerr := refRecover(j)
	if !sameErr(err, rerr) {
		t.Fatalf("Recover error %v, reference %v", err, rerr)
	}
	if err != nil {
		return
	}
	blocks := ov.Blocks()
	if !slices.Equal(blocks, ro.blocks) || ov.NumBlocks() != len(ro.blocks) {
		t.Fatalf("Blocks: %d blocks (NumBlocks %d), reference %d", len(blocks), ov.NumBlocks(), len(ro.blocks))
	}
	for home, cs := range ro.copies {
		if got := ov.Copies(home); !slices.Equal(got, cs) {
			t.Fatalf("Copies(%d) = %+v, reference %+v", home, got, cs)
		}
	}
	for _, home := range []uint64{0, 1, 1 << 40, ^uint64(0)} {
		if _, ok := ro.copies[home]; !ok && ov.Copies(home) != nil {
			t.Fatalf("Copies(%d) of a block never logged = %v", home, ov.Copies(home))
		}
	}
	read := blocks
	if !readAll && len(read) > 64 {
		read = append(slices.Clone(read[:32]), read[len(read)-32:]...)
	}
	read = append(read, 0, 1, ^uint64(0))
	for _, b := range read {
		d, ok, err := ov.ReadBlock(b)
		rd, rok, rerr := ro.readBlock(b)
		if !bytes.Equal(d, rd) || ok != rok || !sameErr(err, rerr) {
			t.Fatalf("ReadBlock(%d) = %d bytes, %v, %v; reference %d bytes, %v, %v", b, len(d), ok, err, len(rd), rok, rerr)
		}
	}
	if readAll {
		if err, rerr := ov.Verify(), ro.verify(); !sameErr(err, rerr) {
			t.Fatalf("Verify: %v, reference %v", err, rerr)
		}
		var rbad []uint64
		for b := range ro.bad {
			rbad = append(rbad, b)
		}
		slices.Sort(rbad)
		if got := ov.BadCopies(); !slices.Equal(got, rbad) {
			t.Fatalf("BadCopies %v, reference %v", got, rbad)
		}
	}
	for _, n := range []uint64{0, 1, 1 << 20, 1 << 32, ^uint64(0)} {
		if err, rerr := ov.CheckRange(n), ro.checkRange(n); !sameErr(err, rerr) {
			t.Fatalf("CheckRange(%d): %v, reference %v", n, err, rerr)
		}
	}
	if len(ro.blocks) > 0 {
		n := ro.blocks[len(ro.blocks)-1]
		if err, rerr := ov.CheckRange(n), ro.checkRange(n); !sameErr(err, rerr) {
			t.Fatalf("CheckRange(%d): %v, reference %v", n, err, rerr)
		}
	}
}

// TestRecoverMatchesReference: on every fixture, Scan, Recover and the
// overlay give exactly what the reference gives, reading the same blocks.
func TestRecoverMatchesReference(t *testing.T) {
	for _, n := range fixtures.Names() {
		t.Run(n, func(t *testing.T) {
			img := fixtures.Get(t, n)
			f, err := os.Open(img.Path)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			sb := testfs.Superblock(t, img.Path)
			if !sb.HasCompat(super.CompatHasJournal) || sb.JournalInum != 8 {
				t.Skip("no internal journal")
			}
			phys := journalMap(t, img.Path)
			size := testfs.StatField(t, testfs.Stat(t, img.Path, 8), "Size")
			bmap := func(jblk uint64) (uint64, error) {
				if jblk >= uint64(len(phys)) {
					return 0, fmt.Errorf("journal block %d is not mapped", jblk)
				}
				return phys[jblk], nil
			}
			j, err := Load(f, sb.BlockSize(), bmap, size/uint64(sb.BlockSize()))
			if err != nil {
				t.Fatal(err)
			}
			j.InodeSize = uint32(sb.InodeSizeBytes())
			checkReference(t, j, true)
		})
	}
}

// TestOverlayIndex: both ways of sorting the runs (packed keys, and the
// comparison function for homes too large to pack) give the stable order by
// first block of the replayed transactions' runs, and eachBlock and runsOf
// agree with a map built tag by tag.
func TestOverlayIndex(t *testing.T) {
	for _, top := range []uint64{1 << 20, 1 << 40, ^uint64(0)} {
		l := &Log{}
		r := uint64(12345)
		var want []int
		copies := map[uint64][]int{}
		for i := range 3*chunkLen + 17 {
			if i%1000 == 0 {
				l.Transactions = append(l.Transactions, &Transaction{Sequence: uint32(i), runLo: i, Replay: i%3000 != 0})
			}
			tx := l.Transactions[len(l.Transactions)-1]
			tx.runHi = i + 1
			r = r*6364136223846793005 + 1442695040888963407
			home := (r >> 11) % 5000
			if i%7 == 0 {
				home = top - home - 40
			}
			n := 1 + (r>>40)%30
			*l.runs.add() = tagRun{home: home, n: uint16(n)}
			if tx.Replay {
				want = append(want, i)
				for k := range n {
					copies[home+k] = append(copies[home+k], i)
				}
			}
		}
		maxIndex := uint64(want[len(want)-1])
		slices.SortStableFunc(want, func(a, b int) int { return cmp.Compare(l.runs.at(a).home, l.runs.at(b).home) })
		o := &Overlay{Log: l, maxRun: 30}
		o.index(len(want), top-40, maxIndex)
		if o.packed != (top != ^uint64(0)) {
			t.Fatalf("top %#x: packed %v", top, o.packed)
		}
		var got []int
		for k := range o.keys {
			got = append(got, o.runIndex(k))
		}
		if !slices.Equal(got, want) {
			t.Fatalf("top %#x: order differs", top)
		}
		var blocks []uint64
		o.eachBlock(func(b uint64) { blocks = append(blocks, b) })
		if !slices.Equal(blocks, slices.Sorted(maps.Keys(copies))) {
			t.Fatalf("top %#x: eachBlock gives %d blocks, want %d", top, len(blocks), len(copies))
		}
		o.count()
		if o.nblocks != len(blocks) || o.last != blocks[len(blocks)-1] {
			t.Fatalf("top %#x: count gives %d blocks up to %d, want %d up to %d", top, o.nblocks, o.last, len(blocks), blocks[len(blocks)-1])
		}
		for _, b := range blocks {
			if rs := o.runsOf(b, nil); !slices.Equal(rs, copies[b]) {
				t.Fatalf("top %#x: runsOf(%d) = %v, want %v", top, b, rs, copies[b])
			}
		}
	}
}

// TestRunEdges: runs of tags across the end of the log, around the largest
// block number, broken by an escaped block, and blocks logged by several
// transactions, one of them revoked, all give what the reference gives.
func TestRunEdges(t *testing.T) {
	const bs = 1024
	for _, incompat := range []uint32{IncompatCsumV3 | Incompat64Bit, Incompat64Bit | IncompatRevoke, IncompatCsumV2 | Incompat64Bit} {
		sb := &Superblock{Header: Header{Magic: Magic, BlockType: BlockSuperblockV2}, BlockSize: bs,
			MaxLen: 1024, First: 1, Sequence: 7, Start: 990, FeatureIncompat: incompat, ChecksumType: ChecksumCRC32C}
		if incompat&(IncompatCsumV2|IncompatCsumV3) == 0 {
			sb.ChecksumType = 0
		}
		sb.SetChecksum()
		dev := &memDev{bs: bs, blocks: map[uint64][]byte{}}
		put := func(jb uint64, b []byte) { dev.blocks[jb+100] = append([]byte(nil), b...) }
		put(0, sb.Encode())
		bmap := func(jb uint64) (uint64, error) {
			if jb >= 1024 {
				return 0, io.EOF
			}
			return jb + 100, nil
		}
		j, err := Load(dev, bs, bmap, 1024)
		if err != nil {
			t.Fatal(err)
		}
		data := func(home uint64, v byte) []byte {
			b := bytes.Repeat([]byte{v}, bs)
			binary.BigEndian.PutUint64(b[8:], home)
			if v == 0xEE {
				binary.BigEndian.PutUint32(b, Magic) // escaped in the log
			}
			return b
		}
		var tx1, tx2 []LoggedBlock
		for _, h := range []uint64{1<<64 - 3, 1<<64 - 2, 1<<64 - 1, 0, 1, 2} {
			tx1 = append(tx1, LoggedBlock{FSBlock: h, Data: data(h, 1)})
		}
		for h := uint64(100); h < 160; h++ {
			v := byte(1)
			if h == 130 {
				v = 0xEE
			}
			tx1 = append(tx1, LoggedBlock{FSBlock: h, Data: data(h, v)})
		}
		for h := uint64(120); h < 125; h++ {
			tx2 = append(tx2, LoggedBlock{FSBlock: h, Data: data(h, 2)})
		}
		tx2 = append(tx2, LoggedBlock{FSBlock: 1<<64 - 1, Data: data(1<<64-1, 2)})
		pos := uint64(990)
		for i, tx := range [][]LoggedBlock{tx1, tx2} {
			ws, err := j.EncodeTransaction(7+uint32(i), tx, pos, time.Unix(int64(100+i), 0))
			if err != nil {
				t.Fatal(err)
			}
			for _, w := range ws {
				put(w.JBlock, w.Data)
				pos = j.wrap(w.JBlock + 1)
			}
		}
		// A third transaction revokes block 121 (written by hand: the
		// writer logs no revoke blocks).
		fm := j.Format
		rv, err := NewRevoke(fm, 9, []uint64{121, 1<<64 - 2})
		if err != nil {
			t.Fatal(err)
		}
		rv.SetChecksum(j.Seed())
		put(pos, rv.Encode())
		ws, err := j.EncodeTransaction(9, []LoggedBlock{{FSBlock: 5, Data: data(5, 3)}}, j.wrap(pos+1), time.Unix(102, 0))
		if err != nil {
			t.Fatal(err)
		}
		for _, w := range ws {
			put(w.JBlock, w.Data)
		}
		checkReference(t, j, true)
		ov, err := j.Recover()
		if err != nil {
			t.Fatal(err)
		}
		if n := len(ov.Log.Replayed()); n != 3 {
			t.Fatalf("%#x: %d transactions replayed", incompat, n)
		}
		if cs := ov.Copies(121); len(cs) != 2 || !cs[0].Revoked || !cs[1].Revoked {
			t.Fatalf("%#x: copies of 121: %+v", incompat, cs)
		}
		if cs := ov.Copies(1<<64 - 1); len(cs) != 2 || cs[0].Sequence != 7 || cs[1].Sequence != 8 || cs[0].Revoked {
			t.Fatalf("%#x: copies of the last block: %+v", incompat, cs)
		}
		if b, ok, err := ov.ReadBlock(130); err != nil || !ok || !bytes.Equal(b, data(130, 0xEE)) {
			t.Fatalf("%#x: escaped block: %v %v", incompat, ok, err)
		}
		if len(ov.Log.runs.chunks) == 0 || ov.Log.runs.len() < 6 {
			t.Fatalf("%#x: %d runs", incompat, ov.Log.runs.len())
		}
	}
}
