package journal

import (
	"cmp"
	"fmt"
	"slices"
	"sort"
	"time"

	"github.com/ext4relink/ext4relink/super"
)

// History is every transaction still physically in the journal's log
// area: the live log recovery replays and the older, checkpointed
// transactions before it that the log has not overwritten yet. Old copies
// of metadata blocks (a directory block before an unlink, an inode before
// its deletion) are evidence of what the filesystem held earlier.
//
// Journal.History reads the log area [s_first, j_last) once and keeps, per
// logged block, only where its copy lies (see Logged); contents are read
// on demand with Read. Memory is proportional to the number of descriptor
// tags found, not to the journal size.
//
// A transaction is kept only when it is whole and every check it carries
// passes:
//   - its blocks form a chain of descriptor and revoke blocks of its
//     sequence, each followed by the data blocks it describes, ending in a
//     commit block of the same sequence;
//   - checksum v2/v3: every descriptor and revoke block tail, the commit
//     block and the tag checksum of every data block kept verify (the tag
//     checksum is seeded with the sequence, so a data block a later log
//     overwrote fails it); checksum v1: the commit's crc32 over the
//     descriptor and data blocks, when the commit carries one.
//
// A logged block whose journal block a newer transaction (committed or
// not) claims was overwritten and is dropped (History.Overwritten); with
// checksum v1 or none, the transaction is then dropped whole, as nothing
// would tell a torn copy. Without journal checksums nothing else can be
// checked: the chain and the newer claims are all there is.
type History struct {
	j       *Journal
	txs     []HistTx // newest first
	entries []hentry // by home block, then newest first
	ref     uint32   // the newest sequence kept: the reference of the wrap-aware order

	// Skipped counts transactions dropped because a check failed: a bad
	// descriptor, revoke or commit checksum, a data block failing its tag
	// checksum, or a read error.
	Skipped int
	// Incomplete counts chains of descriptor and revoke blocks that reach
	// no commit block of their sequence (a transaction being written at
	// the crash, or one whose commit block was overwritten).
	Incomplete int
	// BadMeta counts descriptor and revoke blocks failing their tail
	// checksum (v2/v3); they are not followed.
	BadMeta int
	// Overwritten counts logged blocks dropped because a newer
	// transaction claims their journal block.
	Overwritten int
}

// HistTx is one transaction of the History.
type HistTx struct {
	Sequence    uint32
	Start       uint64    // journal block of its first block
	CommitBlock uint64    // journal block of its commit block
	CommitTime  time.Time // h_commit_sec, h_commit_nsec
	Blocks      int       // logged blocks kept
	Revokes     int       // revoke records
	Live        bool      // part of the log recovery replays (Log.Replayed)
}

// Logged is one logged copy of a filesystem block in the History.
type Logged struct {
	FSBlock    uint64    // the filesystem block it is a copy of
	JBlock     uint64    // the journal block holding it
	Sequence   uint32    // the transaction that logged it
	CommitTime time.Time // that transaction's commit time
	Escaped    bool      // logged with FlagEscape: Read restores the magic
	Revoked    bool      // a revoke record of this or a newer kept transaction covers it
	Live       bool      // its transaction is part of the log recovery replays
	checksum   uint32
}

// hentry is the stored form of a Logged.
type hentry struct {
	home, jblk uint64
	seq        uint32
	csum       uint32
	tx         int32 // index in History.txs
	flags      uint16
	revoked    bool
}

// histMeta is one journal metadata block found in the log area.
type histMeta struct {
	pos      uint64
	typ      uint32
	seq      uint32
	ok       bool // its tail (or commit) checksum verifies
	tagLo    int  // descriptor: its tags are histScan.tags[tagLo:tagHi]
	tagHi    int
	revokes  []uint64 // revoke records
	time     time.Time
	v1       Commit // commit: the v1 checksum fields
	hasV1Sum bool
}

type histTag struct {
	home    uint64
	csum    uint32
	seq     uint32 // its descriptor's sequence, which seeds the checksum
	flags   uint16
	checked bool // its data block's checksum was checked while the area was read
	ok      bool // and matched
}

// histScan is the state of Journal.History.
type histScan struct {
	j      *Journal
	metas  []histMeta
	at     map[uint64]int // journal block -> index in metas
	tags   []histTag
	claims map[uint64]uint32
	h      *History
	// pending lists, by journal block not yet read, the tags whose data
	// block it is (checksum v2/v3): their checksums are checked as the
	// area is read, so data blocks are read once.
	pending map[uint64][]int
}

// History reads the whole log area and returns the transactions found in
// it. An error is a read failure of the log area; transactions failing a
// check are skipped and counted, never returned.
func (j *Journal) History() (*History, error) {
	s := &histScan{j: j, at: map[uint64]int{}, claims: map[uint64]uint32{}, h: &History{j: j},
		pending: map[uint64][]int{}}
	if err := s.readArea(); err != nil {
		return nil, err
	}
	chains := s.chains()
	for i := range chains {
		s.claim(&chains[i])
	}
	for _, m := range s.metas {
		s.claimPos(m.pos, m.seq)
	}
	s.keep(chains)
	s.markLive()
	s.h.sort()
	return s.h, nil
}

// readArea reads every block of [First, Last) and records the metadata
// blocks, reading contiguous journal blocks with one ReadAt each.
func (s *histScan) readArea() error {
	j := s.j
	bs := uint64(j.Format.BlockSize)
	const span = 256
	buf := make([]byte, span*bs)
	for p := j.First; p < j.Last; {
		first, err := j.Map(p)
		if err != nil {
			return err
		}
		n := uint64(1)
		for n < span && p+n < j.Last {
			f, err := j.Map(p + n)
			if err != nil || f != first+n {
				break
			}
			n++
		}
		if err := s.readRun(buf[:n*bs], first, p); err != nil {
			return err
		}
		for k := range n {
			s.block(p+k, buf[k*bs:(k+1)*bs])
		}
		p += n
	}
	return nil
}

// readRun reads len(b) bytes from filesystem block fsblk with one ReadAt.
func (s *histScan) readRun(b []byte, fsblk, jblk uint64) error {
	j := s.j
	bs := uint64(j.Format.BlockSize)
	if fsblk > (1<<63-1)/bs-uint64(len(b)) {
		return super.Errorf(super.ErrCorrupt, "journal", fsblk, -1, "block number %d is too large", fsblk)
	}
	n, err := j.dev.ReadAt(b, int64(fsblk*bs))
	j.reads.Add(1)
	j.nbytes.Add(uint64(n))
	if n == len(b) {
		return nil
	}
	if err == nil {
		err = fmt.Errorf("short read")
	}
	return fmt.Errorf("journal block %d (filesystem block %d): %w", jblk, fsblk, err)
}

// block records journal block pos if it is a metadata block: a valid
// header of type descriptor, revoke or commit, checked with the same
// validators recovery uses.
func (s *histScan) block(pos uint64, b []byte) {
	if ts, ok := s.pending[pos]; ok {
		for _, i := range ts {
			t := &s.tags[i]
			tag := Tag{Checksum: t.csum}
			t.checked, t.ok = true, tag.VerifyData(s.j.Format, s.j.seed, t.seq, b)
		}
		delete(s.pending, pos)
	}
	h, _ := DecodeHeader(b)
	if !h.Valid() {
		return
	}
	fm := s.j.Format
	m := histMeta{pos: pos, typ: h.BlockType, seq: h.Sequence}
	switch h.BlockType {
	case BlockDescriptor:
		m.ok = descriptorChecksumOK(b, fm, s.j.seed)
		if m.ok {
			m.tagLo = len(s.tags)
			q := pos
			for off := firstTag(b, fm); off >= 0; off = nextTag(b, fm, off) {
				home, flags, csum := decodeTag(b, off, fm)
				q = s.j.wrap(q + 1)
				if fm.CsumV2or3() && q > pos {
					s.pending[q] = append(s.pending[q], len(s.tags))
				}
				s.tags = append(s.tags, histTag{home: home, csum: csum, seq: h.Sequence, flags: flags})
			}
			m.tagHi = len(s.tags)
		}
	case BlockRevoke:
		rv, err := DecodeRevoke(b, fm)
		m.ok = err == nil && rv.VerifyChecksum(s.j.seed)
		if m.ok {
			m.revokes = rv.Records
		}
	case BlockCommit:
		c, err := DecodeCommit(b, fm)
		if err != nil {
			return
		}
		m.ok = c.VerifyChecksum(s.j.seed)
		m.time = c.Time()
		m.v1 = Commit{ChksumType: c.ChksumType, ChksumSize: c.ChksumSize, Chksum: c.Chksum}
		m.hasV1Sum = fm.CsumV1() && !(c.ChksumType == 0 && c.ChksumSize == 0 && c.Chksum[0] == 0)
	default:
		return
	}
	if !m.ok && h.BlockType != BlockCommit {
		s.h.BadMeta++
	}
	s.at[pos] = len(s.metas)
	s.metas = append(s.metas, m)
}

// histChain is one transaction's chain of blocks as found.
type histChain struct {
	seq       uint32
	start     uint64
	metas     []int    // descriptor and revoke blocks, in log order
	data      []uint64 // journal block of each tag of its descriptors, in order
	tagIdx    []int    // the tag of each data block
	commit    int      // index of the commit block in metas, -1 if none
	committed bool
}

// next is the journal block after metadata block m and its data blocks,
// appending those data blocks' positions and tag indices to c.
func (s *histScan) next(m *histMeta, c *histChain) uint64 {
	p := s.j.wrap(m.pos + 1)
	if m.typ != BlockDescriptor {
		return p
	}
	for t := m.tagLo; t < m.tagHi; t++ {
		if c != nil {
			c.data, c.tagIdx = append(c.data, p), append(c.tagIdx, t)
		}
		p = s.j.wrap(p + 1)
	}
	return p
}

// chains follows every chain from its first block: a valid descriptor or
// revoke block that no valid block of its sequence leads to.
func (s *histScan) chains() []histChain {
	pointed := make(map[int]bool)
	for i := range s.metas {
		m := &s.metas[i]
		if !m.ok || m.typ == BlockCommit {
			continue
		}
		if k, ok := s.at[s.next(m, nil)]; ok && s.metas[k].seq == m.seq {
			pointed[k] = true
		}
	}
	var out []histChain
	for i := range s.metas {
		m := &s.metas[i]
		if !m.ok || m.typ == BlockCommit || pointed[i] {
			continue
		}
		out = append(out, s.follow(i))
	}
	return out
}

// follow walks the chain starting at metas[i] to its commit block.
func (s *histScan) follow(i int) histChain {
	m := &s.metas[i]
	c := histChain{seq: m.seq, start: m.pos, commit: -1}
	p := m.pos
	for steps := uint64(0); steps <= s.j.Last-s.j.First; steps++ {
		k, ok := s.at[p]
		if !ok || s.metas[k].seq != c.seq || !s.metas[k].ok && s.metas[k].typ != BlockCommit {
			break
		}
		if s.metas[k].typ == BlockCommit {
			c.commit, c.committed = k, s.metas[k].ok
			break
		}
		c.metas = append(c.metas, k)
		p = s.next(&s.metas[k], &c)
	}
	if c.commit < 0 {
		s.h.Incomplete++
	}
	return c
}

// claim records that chain c wrote its blocks.
func (s *histScan) claim(c *histChain) {
	for _, k := range c.metas {
		s.claimPos(s.metas[k].pos, c.seq)
	}
	for _, p := range c.data {
		s.claimPos(p, c.seq)
	}
	if c.commit >= 0 {
		s.claimPos(s.metas[c.commit].pos, c.seq)
	}
}

func (s *histScan) claimPos(p uint64, seq uint32) {
	if old, ok := s.claims[p]; !ok || tidGT(seq, old) {
		s.claims[p] = seq
	}
}

// keep checks each committed chain and stores the logged blocks of those
// that pass.
func (s *histScan) keep(chains []histChain) {
	h := s.h
	revoked := map[uint64]uint32{}
	first := len(h.entries)
	for i := range chains {
		c := &chains[i]
		if c.commit < 0 {
			continue
		}
		if !c.committed {
			h.Skipped++
			continue
		}
		es, dropped, ok := s.check(c, int32(len(h.txs)))
		if !ok {
			h.Skipped++
			continue
		}
		h.Overwritten += dropped
		cm := &s.metas[c.commit]
		tx := HistTx{Sequence: c.seq, Start: c.start, CommitBlock: cm.pos, CommitTime: cm.time, Blocks: len(es)}
		for _, k := range c.metas {
			for _, b := range s.metas[k].revokes {
				tx.Revokes++
				if r, ok := revoked[b]; !ok || tidGT(c.seq, r) {
					revoked[b] = c.seq
				}
			}
		}
		h.txs = append(h.txs, tx)
		h.entries = append(h.entries, es...)
	}
	for i := first; i < len(h.entries); i++ {
		e := &h.entries[i]
		if r, ok := revoked[e.home]; ok && tidGEQ(r, e.seq) {
			e.revoked = true
		}
	}
}

// check verifies chain c and returns its logged blocks that no newer
// transaction overwrote, how many were dropped, and whether it passes.
func (s *histScan) check(c *histChain, tx int32) ([]hentry, int, bool) {
	j, fm := s.j, s.j.Format
	var es []hentry
	dropped := 0
	var buf []byte
	for n, p := range c.data {
		if seq := s.claims[p]; seq != c.seq && tidGT(seq, c.seq) {
			dropped++
			continue
		}
		t := s.tags[c.tagIdx[n]]
		if t.checked && !t.ok {
			return nil, 0, false
		}
		if fm.CsumV2or3() && !t.checked {
			if buf == nil {
				buf = make([]byte, fm.BlockSize)
			}
			if err := j.readLogInto(buf, p); err != nil {
				return nil, 0, false
			}
			tag := Tag{Checksum: t.csum}
			if !tag.VerifyData(fm, j.seed, c.seq, buf) {
				return nil, 0, false
			}
		}
		es = append(es, hentry{home: t.home, jblk: p, seq: c.seq, csum: t.csum, tx: tx, flags: t.flags})
	}
	if fm.CsumV2or3() {
		return es, dropped, true
	}
	if dropped > 0 {
		return nil, 0, false
	}
	if cm := &s.metas[c.commit]; cm.hasV1Sum && !s.v1OK(c, &cm.v1) {
		return nil, 0, false
	}
	return es, 0, true
}

// v1OK chains crc32_be over the chain's descriptor blocks and their data
// blocks (calc_chksums) and checks it against the commit block.
func (s *histScan) v1OK(c *histChain, cm *Commit) bool {
	j := s.j
	crc := ^uint32(0)
	b := make([]byte, j.Format.BlockSize)
	n := 0
	for _, k := range c.metas {
		m := &s.metas[k]
		if m.typ != BlockDescriptor {
			continue
		}
		if j.readLogInto(b, m.pos) != nil {
			return false
		}
		crc = Crc32BE(crc, b)
		for range m.tagHi - m.tagLo {
			if j.readLogInto(b, c.data[n]) != nil {
				return false
			}
			crc = Crc32BE(crc, b)
			n++
		}
	}
	return cm.VerifyV1(crc)
}

// markLive marks the transactions recovery replays (same sequence and
// commit block in Journal.Scan's log). A log that fails to scan marks none.
func (s *histScan) markLive() {
	l, err := s.j.Scan()
	if err != nil || l.Empty {
		return
	}
	live := map[uint32]uint64{}
	for _, t := range l.Transactions {
		if t.Replay && t.Committed {
			live[t.Sequence] = t.CommitBlock
		}
	}
	for i := range s.h.txs {
		t := &s.h.txs[i]
		if cb, ok := live[t.Sequence]; ok && cb == t.CommitBlock {
			t.Live = true
		}
	}
}

// sort orders transactions newest first and entries by home block, then
// newest first, by sequence relative to the newest kept (wrap-aware).
func (h *History) sort() {
	if len(h.txs) == 0 {
		return
	}
	h.ref = h.txs[0].Sequence
	for _, t := range h.txs {
		if tidGT(t.Sequence, h.ref) {
			h.ref = t.Sequence
		}
	}
	order := make([]int32, len(h.txs))
	for i := range order {
		order[i] = int32(i)
	}
	slices.SortStableFunc(order, func(a, b int32) int {
		return cmp.Compare(h.age(h.txs[a].Sequence), h.age(h.txs[b].Sequence))
	})
	newIdx := make([]int32, len(h.txs))
	txs := make([]HistTx, len(h.txs))
	for n, i := range order {
		txs[n], newIdx[i] = h.txs[i], int32(n)
	}
	h.txs = txs
	for i := range h.entries {
		h.entries[i].tx = newIdx[h.entries[i].tx]
	}
	slices.SortStableFunc(h.entries, func(a, b hentry) int {
		return cmp.Or(cmp.Compare(a.home, b.home), cmp.Compare(a.tx, b.tx))
	})
}

// age is how many sequences seq lies before the newest one kept.
func (h *History) age(seq uint32) uint32 { return h.ref - seq }

// Transactions returns the transactions kept, newest first.
func (h *History) Transactions() []HistTx { return slices.Clone(h.txs) }

// Len is the number of logged copies kept.
func (h *History) Len() int { return len(h.entries) }

// logged is the public form of entry e.
func (h *History) logged(e *hentry) Logged {
	t := &h.txs[e.tx]
	return Logged{FSBlock: e.home, JBlock: e.jblk, Sequence: e.seq, CommitTime: t.CommitTime,
		Escaped: e.flags&FlagEscape != 0, Revoked: e.revoked, Live: t.Live, checksum: e.csum}
}

// Versions returns the logged copies of filesystem block fsblk, newest
// first (by sequence, wrap-aware; jbd2 logs a block at most once per
// transaction).
func (h *History) Versions(fsblk uint64) []Logged {
	i := sort.Search(len(h.entries), func(i int) bool { return h.entries[i].home >= fsblk })
	var out []Logged
	for ; i < len(h.entries) && h.entries[i].home == fsblk; i++ {
		out = append(out, h.logged(&h.entries[i]))
	}
	return out
}

// Each calls fn with every logged copy, by filesystem block and then
// newest first, until fn returns false.
func (h *History) Each(fn func(Logged) bool) {
	for i := range h.entries {
		if !fn(h.logged(&h.entries[i])) {
			return
		}
	}
}

// Blocks returns the filesystem blocks with at least one logged copy,
// sorted.
func (h *History) Blocks() []uint64 {
	var out []uint64
	for i := range h.entries {
		if n := len(out); n == 0 || out[n-1] != h.entries[i].home {
			out = append(out, h.entries[i].home)
		}
	}
	return out
}

// Read returns the content of a logged copy, un-escaped. It checks the tag
// checksum again (v2/v3): a journal changed since History was built gives
// an error wrapping super.ErrChecksum, never other data.
func (h *History) Read(l Logged) ([]byte, error) {
	b, err := h.j.readLog(l.JBlock)
	if err != nil {
		return nil, err
	}
	t := Tag{Checksum: l.checksum}
	if !t.VerifyData(h.j.Format, h.j.seed, l.Sequence, b) {
		return nil, super.Errorf(super.ErrChecksum, fmt.Sprintf("journal block %d", l.JBlock), super.NoBlock, -1,
			"logged copy of block %d in transaction %d no longer matches its tag checksum", l.FSBlock, l.Sequence)
	}
	if l.Escaped {
		Unescape(b, FlagEscape)
	}
	return b, nil
}
