package journal

import (
	"fmt"
	"math"

	"github.com/ext4relink/ext4relink/super"
)

// PASS_SCAN reads only the journal's metadata blocks, each into one reused
// buffer, and keeps of the descriptor tags only what the replay needs, run
// length encoded: consecutive tags of a descriptor block that log
// consecutive filesystem blocks into consecutive journal blocks with the
// same flags form one tagRun, and only their checksums are kept one by one
// (and not at all while they are zero). A log of 150,000 data blocks
// written by large sequential writes is then a few thousand runs; a log of
// scattered metadata blocks costs about 36 bytes per block. The logged
// copies themselves are read only when the Overlay is asked for them.

// tagRun is a run of tags of one descriptor block: its k-th tag (k < n)
// logs filesystem block home+k in journal block pos+k, with the given
// flags, and is tag first+k of the log. Its transaction is the one whose
// [tagLo, tagHi) range holds first (Log.seqOf).
type tagRun struct {
	home  uint64 // the filesystem block its first tag logs (read_tag_block)
	pos   uint64 // journal block of its first copy, as PASS_REPLAY computes it
	first uint32 // index in the log of its first tag
	n     uint16 // its tags (a descriptor block holds fewer than 8192)
	flags uint16 // t_flags as recovery reads them (FlagBits), the same for all
}

// last is the filesystem block its last tag logs.
func (r *tagRun) last() uint64 { return r.home + uint64(r.n) - 1 }

// chunkLen is how many elements a chunk of a chunkList holds.
const chunkLen = 1 << 12

// chunkList is a list grown in fixed-size chunks: appending never moves
// the elements already stored.
type chunkList[T any] struct {
	chunks [][]T
	n      int
}

func (l *chunkList[T]) len() int { return l.n }

// add appends a zero element and returns it.
func (l *chunkList[T]) add() *T {
	if l.n%chunkLen == 0 {
		l.chunks = append(l.chunks, make([]T, chunkLen))
	}
	e := &l.chunks[l.n/chunkLen][l.n%chunkLen]
	l.n++
	return e
}

// at returns element i (0 <= i < len()).
func (l *chunkList[T]) at(i int) *T { return &l.chunks[i/chunkLen][i%chunkLen] }

// sparseU32 is a list of uint32 indexed from 0 whose chunks exist only
// once a non-zero value is stored in them: the tag checksums of a journal
// without checksums take no memory.
type sparseU32 struct{ chunks [][]uint32 }

func (s *sparseU32) set(i int, v uint32) {
	k := int(uint(i) / chunkLen) // i >= 0: a shift
	if k >= len(s.chunks) || s.chunks[k] == nil {
		if v == 0 {
			return
		}
		for len(s.chunks) <= k {
			s.chunks = append(s.chunks, nil)
		}
		s.chunks[k] = make([]uint32, chunkLen)
	}
	s.chunks[k][uint(i)%chunkLen] = v
}

func (s *sparseU32) at(i int) uint32 {
	k := i / chunkLen
	if k >= len(s.chunks) || s.chunks[k] == nil {
		return 0
	}
	return s.chunks[k][i%chunkLen]
}

// firstTag and nextTag walk the tags of descriptor block b in the order the
// kernel's count_tags and PASS_REPLAY do: from offset 12 while a whole tag
// fits before the tail, skipping the 16 UUID bytes after a tag without
// FlagSameUUID, ending after the tag with FlagLastTag. They return a tag's
// offset, or -1 when there is none. Both tag layouts keep the flags
// recovery reads as the be16 at offset 6.
func firstTag(b []byte, fm Format) int {
	if HeaderSize+fm.TagBytes() > len(b)-fm.tailSize() {
		return -1
	}
	return HeaderSize
}

func nextTag(b []byte, fm Format, off int) int {
	fl := be16(b, off+6)
	if fl&FlagLastTag != 0 {
		return -1
	}
	off += fm.TagBytes()
	if fl&FlagSameUUID == 0 {
		off += 16
	}
	if off+fm.TagBytes() > len(b)-fm.tailSize() {
		return -1
	}
	return off
}

// decodeTag reads the tag at off of descriptor block b as Tag.decode does,
// without the UUID and without allocating: the block it describes
// (Tag.Block), its flags (Tag.FlagBits) and its checksum (Tag.Checksum).
func decodeTag(b []byte, off int, fm Format) (home uint64, flags uint16, csum uint32) {
	var high uint32
	if fm.CsumV3() {
		home, flags, high, csum = uint64(be32(b, off)), uint16(be32(b, off+4)), be32(b, off+8), be32(b, off+12)
	} else {
		home, csum, flags = uint64(be32(b, off)), uint32(be16(b, off+4)), be16(b, off+6)
		if fm.Is64Bit() {
			high = be32(b, off+8)
		}
	}
	if fm.Is64Bit() {
		home |= uint64(high) << 32
	}
	return home, flags, csum
}

// descriptorChecksumOK is Descriptor.VerifyChecksum on the block as read:
// Encode(DecodeDescriptor(b)) == b, so the tail checksum is computed over
// b itself.
func descriptorChecksumOK(b []byte, fm Format, seed uint32) bool {
	return !fm.CsumV2or3() || tailChecksum(seed, b) == be32(b, len(b)-TailSize)
}

// scanner is the state of PASS_SCAN: the locals of the kernel's
// do_one_pass.
type scanner struct {
	j    *Journal
	l    *Log
	fm   Format
	seed uint32

	next      uint32 // the sequence expected next
	blk       uint64 // the next log block to read
	headBlock uint64 // where the last good commit ended (info->head_block)
	endTx     uint32 // info->end_transaction; 0 means unset, as in the kernel
	needCheck bool   // a descriptor or revoke block failed its checksum
	lastTime  uint64 // commit time of the previous commit block
	crc       uint32 // checksum v1: crc32_be chained over the transaction
	tx        *Transaction

	buf  []byte // the metadata block being looked at
	data []byte // a data block read for checksum v1
}

// scan is PASS_SCAN.
func (j *Journal) scan(l *Log) error {
	s := &scanner{j: j, l: l, fm: j.Format, seed: j.seed, next: l.FirstSequence, blk: l.Start,
		headBlock: l.Start, crc: ^uint32(0), buf: make([]byte, j.Format.BlockSize)}
	if err := s.run(); err != nil {
		return err
	}
	s.finish()
	if j.Format.FastCommit() {
		return j.scanFastCommit(l)
	}
	return nil
}

// run reads the log block by block until a block ends it; an error is a
// recovery failure.
func (s *scanner) run() error {
	// A log can never be longer than the journal; the kernel would walk a
	// crafted one much further, but nothing legitimate lies there.
	limit := 2 * (s.j.TotalLen + 1)
	for read := uint64(1); ; read++ {
		if read > limit {
			return scanErr(super.ErrCorrupt, s.j, s.blk, "the log runs on for more than %d blocks: longer than the journal", limit)
		}
		b := s.buf
		if err := s.j.readLogInto(b, s.blk); err != nil {
			return err
		}
		cur := s.blk
		s.blk = s.j.wrap(s.blk + 1)
		h, _ := DecodeHeader(b)
		if !h.Valid() {
			s.stop(StopNoMagic, cur, "")
			return nil
		}
		if h.Sequence != s.next {
			s.stop(StopSequence, cur, fmt.Sprintf("found sequence %d", h.Sequence))
			return nil
		}
		switch h.BlockType {
		case BlockDescriptor, BlockCommit, BlockRevoke:
			s.l.Metadata = append(s.l.Metadata, MetaBlock{JBlock: cur, Type: h.BlockType, Sequence: h.Sequence})
		default:
			s.stop(StopBlockType, cur, BlockTypeName(h.BlockType))
			return nil
		}
		var end bool
		var err error
		switch h.BlockType {
		case BlockDescriptor:
			end, err = s.descriptor(cur, b)
		case BlockCommit:
			end, err = s.commit(cur, b)
		case BlockRevoke:
			s.revoke(cur, b)
		}
		if end || err != nil {
			return err
		}
	}
}

func (s *scanner) stop(r StopReason, at uint64, detail string) {
	s.l.Stop = Stop{Reason: r, Block: at, Sequence: s.next, Detail: detail}
}

// txFor returns the transaction being scanned, starting it at journal
// block at if this is its first block.
func (s *scanner) txFor(at uint64) *Transaction {
	if s.tx == nil || s.tx.Sequence != s.next {
		n, r := s.l.ntags, s.l.runs.len()
		s.tx = &Transaction{Sequence: s.next, Start: at, tagLo: n, tagHi: n, runLo: r, runHi: r}
		s.l.Transactions = append(s.l.Transactions, s.tx)
	}
	return s.tx
}

// descriptor records the tags of descriptor block b (at journal block cur)
// and moves past its data blocks; with checksum v1 it reads them to chain
// the transaction's crc32. It reports whether the log ends here; an error
// fails the recovery.
func (s *scanner) descriptor(cur uint64, b []byte) (end bool, err error) {
	j, fm, l := s.j, s.fm, s.l
	t := s.txFor(cur)
	t.Descriptors = append(t.Descriptors, cur)
	if !descriptorChecksumOK(b, fm, s.seed) {
		// PASS_SCAN may meet stale blocks of a lazily initialised
		// journal: decide at the commit block.
		s.needCheck = true
		t.MetaChecksum = CsumInvalid
	} else if fm.CsumV2or3() && t.MetaChecksum == CsumNone {
		t.MetaChecksum = CsumValid
	}
	// Positions as PASS_REPLAY computes them, one wrap per tag.
	pos, lastPos, n := s.blk, s.blk, 0
	var r *tagRun // the run the next tag may extend
	tw := newTagWalk(b, fm)
	for off := tw.first(); off >= 0; off = tw.next(off) {
		if l.ntags >= math.MaxUint32 {
			return true, scanErr(super.ErrUnsupported, j, cur, "the log describes more than %d data blocks", uint32(math.MaxUint32))
		}
		home, flags, csum := tw.decode(off)
		l.csums.set(l.ntags, csum)
		if r != nil && r.n < math.MaxUint16 && flags == r.flags && r.pos+uint64(r.n) == pos &&
			r.last() < math.MaxUint64 && r.last()+1 == home {
			r.n++
		} else {
			r = l.runs.add()
			*r = tagRun{home: home, pos: pos, first: uint32(l.ntags), n: 1, flags: flags}
		}
		l.ntags++
		lastPos, pos = pos, j.wrap(pos+1)
		n++
	}
	t.tagHi, t.runHi = l.ntags, l.runs.len()
	t.DataBlocks += n
	bulk := j.wrap(s.blk + uint64(n))
	if fm.CsumV1() && !s.needCheck && s.endTx == 0 {
		return s.chainV1(b, n), nil
	}
	// count_tags: one addition and one wrap, which only differs from
	// PASS_REPLAY's per-tag wrap when the descriptor describes more blocks
	// than the log holds.
	if n > 0 && pos != bulk && !t.wrapped {
		t.wrapped, t.wrapPos = true, lastPos
	}
	s.blk = bulk
	return false, nil
}

// chainV1 is calc_chksums: crc32_be over descriptor block b and the n data
// blocks after it, which it reads. A read error ends the log.
func (s *scanner) chainV1(b []byte, n int) (end bool) {
	s.crc = Crc32BE(s.crc, b)
	if s.data == nil {
		s.data = make([]byte, s.fm.BlockSize)
	}
	for range n {
		at := s.blk
		s.blk = s.j.wrap(s.blk + 1)
		if err := s.j.readLogInto(s.data, at); err != nil {
			s.stop(StopReadError, at, err.Error())
			return true
		}
		s.crc = Crc32BE(s.crc, s.data)
	}
	return false
}

// commit checks commit block b (at journal block cur) and closes its
// transaction. It reports whether the log ends here; an error fails the
// recovery.
func (s *scanner) commit(cur uint64, b []byte) (end bool, err error) {
	fm, seed, l := s.fm, s.seed, s.l
	c, err := DecodeCommit(b, fm)
	if err != nil {
		return true, err
	}
	t := s.txFor(cur)
	t.Committed, t.CommitBlock, t.CommitTime = true, cur, c.Time()
	ct := c.CommitSec
	if s.needCheck {
		if ct >= s.lastTime {
			t.Checksum = csumStateOf(fm, c, seed, s.crc)
			return true, scanErr(super.ErrChecksum, s.j, cur,
				"transaction %d has a descriptor or revoke block with a bad checksum", s.next)
		}
		s.stop(StopStale, cur, "a block failed its checksum and this commit is older than the previous one")
		return true, nil
	}
	bad := false
	if fm.CsumV1() {
		if s.endTx != 0 {
			l.FailedCommit, l.HasFailedCommit = s.endTx, true
			s.stop(StopFailedAsync, cur, fmt.Sprintf("transaction %d failed its commit checksum", s.endTx))
			return true, nil
		}
		if !c.VerifyV1(s.crc) {
			bad = true
			t.Checksum = CsumInvalid
		} else {
			if c.ChksumType != 0 {
				t.Checksum = CsumValid
			}
			s.crc = ^uint32(0)
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
		if ct < s.lastTime {
			s.stop(StopStale, cur, "commit checksum mismatch in a commit older than the previous one")
			return true, nil
		}
		s.endTx = s.next
		l.HeadBlock = s.headBlock
		if !fm.AsyncCommit() {
			l.FailedCommit, l.HasFailedCommit = s.next, true
			s.stop(StopCommitChecksum, cur, "")
			return true, nil
		}
	}
	s.lastTime = ct
	s.headBlock = s.blk
	s.next++
	return false, nil
}

// revoke records revoke block b (at journal block cur); PASS_REVOKE
// applies it.
func (s *scanner) revoke(cur uint64, b []byte) {
	fm := s.fm
	t := s.txFor(cur)
	t.RevokeBlocks = append(t.RevokeBlocks, cur)
	rv, rerr := DecodeRevoke(b, fm) // keeps its own copy of b
	if fm.CsumV2or3() && tailChecksum(s.seed, b) != be32(b, len(b)-TailSize) {
		s.needCheck = true
		t.MetaChecksum = CsumInvalid
	} else if fm.CsumV2or3() && t.MetaChecksum == CsumNone {
		t.MetaChecksum = CsumValid
	}
	t.revokes = append(t.revokes, revokeBlock{pos: cur, rv: rv, err: rerr})
	if rerr == nil {
		t.Revokes += len(rv.Records)
	}
}

// finish settles where the log ends and which transactions are replayed.
func (s *scanner) finish() {
	l := s.l
	if s.endTx == 0 {
		s.endTx = s.next
	}
	if l.HeadBlock == 0 {
		l.HeadBlock = s.headBlock
	}
	l.End = s.endTx
	for _, t := range l.Transactions {
		t.Replay = tidGT(s.endTx, t.Sequence) && tidGEQ(t.Sequence, l.FirstSequence)
	}
}

// readLogInto is jread into b: the offset must lie inside the journal.
func (j *Journal) readLogInto(b []byte, jblk uint64) error {
	if jblk >= j.TotalLen {
		return super.Errorf(super.ErrCorrupt, "journal", super.NoBlock, -1,
			"log block %d is past the end of the journal (%d blocks): corrupted journal superblock", jblk, j.TotalLen)
	}
	fsblk, err := j.Map(jblk)
	if err != nil {
		return err
	}
	if err := j.readFSInto(b, fsblk); err != nil {
		return fmt.Errorf("journal block %d: %w", jblk, err)
	}
	return nil
}

// readLog is jread into a new slice.
func (j *Journal) readLog(jblk uint64) ([]byte, error) {
	b := make([]byte, j.Format.BlockSize)
	if err := j.readLogInto(b, jblk); err != nil {
		return nil, err
	}
	return b, nil
}
