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
// Journal.History walks the log area [s_first, j_last) like PASS_SCAN
// does the live log: it reads the metadata blocks and hops over the data
// blocks each descriptor describes (only where no descriptor is known is
// every block read), and keeps, per logged block, only where its copy
// lies (see Logged). Contents are read on demand with Read. Memory is
// proportional to the number of descriptor tags found, not to the journal
// size.
//
// A transaction is kept only when its commit block is there and every
// check of its metadata passes:
//   - its blocks form a chain of descriptor and revoke blocks of its
//     sequence, each followed by the data blocks it describes, ending in a
//     commit block of the same sequence (when a newer log overwrote the
//     start of a transaction, its chain counts from the first descriptor
//     that survives: HistTx.Start is that block);
//   - checksum v2/v3: every descriptor and revoke block tail and the commit
//     block verify; checksum v1: the commit's crc32 over the descriptor
//     and data blocks, when the commit carries one.
//
// A logged block whose journal block a newer transaction (committed or
// not) claims was overwritten and is dropped (History.Overwritten);
// without checksum v2/v3 the transaction is then dropped whole, as
// nothing would tell a torn copy. With checksum v2/v3 each copy is checked
// against its tag checksum when it is read, as PASS_REPLAY does: Read
// refuses a copy that fails (overwritten by a later log, torn) with an
// error wrapping super.ErrChecksum, never returning its bytes. Without
// journal checksums nothing else can be checked: the chain and the newer
// claims are all there is.
//
// A History is read-only once built: Versions, Each, Blocks,
// Transactions and Read are safe for concurrent use.
type History struct {
	j       *Journal
	txs     []HistTx // newest first
	entries []hentry // by home block, then newest first
	ref     uint32   // the newest sequence kept: the reference of the wrap-aware order

	// Skipped counts transactions dropped because a check failed: a bad
	// commit checksum, a v1 crc32 mismatch, or (without checksum v2/v3) a
	// copy a newer transaction overwrote.
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
	// Unreadable counts journal blocks that could not be read (a bad
	// sector): they are skipped, as if they held no metadata block.
	Unreadable int
}

// HistTx is one transaction of the History.
type HistTx struct {
	Sequence    uint32
	Start       uint64    // journal block of its first block found
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
	home  uint64
	csum  uint32
	flags uint16
}

// histScan is the state of Journal.History.
type histScan struct {
	j     *Journal
	metas []histMeta
	at    map[uint64]int // journal block -> index in metas
	tags  []histTag
	// claims lists, once sorted (settleClaims), every journal block some
	// transaction wrote, with the newest sequence that wrote it.
	claims []claim
	h      *History
}

// History reads the whole log area and returns the transactions found in
// it. An error means the journal inode's block map failed; a block that
// cannot be read is skipped and counted (Unreadable), and transactions
// failing a check are skipped and counted, never returned.
func (j *Journal) History() (*History, error) {
	s := &histScan{j: j, at: map[uint64]int{}, h: &History{j: j}}
	if err := s.readArea(); err != nil {
		return nil, err
	}
	chains := s.chains()
	s.claims = make([]claim, 0, len(s.tags)+len(s.metas))
	for i := range chains {
		s.claim(&chains[i])
	}
	for _, m := range s.metas {
		s.claimPos(m.pos, m.seq)
	}
	s.settleClaims()
	s.keep(chains)
	s.markLive()
	s.h.sort()
	return s.h, nil
}

// readArea reads the log area [First, Last) and records its metadata
// blocks. Like PASS_SCAN it hops over the data blocks a valid descriptor
// describes: the log is written in order, so a newer block inside them
// would have overwritten the descriptor first (a transaction that wraps
// is read through). Where blocks are not known metadata it reads
// contiguous runs with one ReadAt each; after a metadata block, only the
// block where the next is expected.
func (s *histScan) readArea() error {
	j := s.j
	bs := uint64(j.Format.BlockSize)
	const span = 256
	buf := make([]byte, span*bs)
	var at, n uint64 // buf holds journal blocks [at, at+n)
	single := true   // until a block is not a metadata block
	for p := j.First; p < j.Last; {
		if p < at || p >= at+n {
			var err error
			at, n, err = s.readChunk(buf, p, span, single)
			if err != nil && !single {
				// A bad sector inside the run: read block by block.
				at, n, err = s.readChunk(buf, p, span, true)
			}
			if err != nil {
				if _, merr := j.Map(p); merr != nil {
					return merr // the journal's own map is broken
				}
				s.h.Unreadable++
				at, n, single = 0, 0, true
				p++
				continue
			}
		}
		k := p - at
		next, meta := s.block(p, buf[k*bs:(k+1)*bs])
		single = meta
		p = next
	}
	return nil
}

// readChunk reads journal blocks from p on into buf: one block when single,
// else up to max blocks contiguous on the device.
func (s *histScan) readChunk(buf []byte, p, max uint64, single bool) (at, n uint64, err error) {
	j := s.j
	bs := uint64(j.Format.BlockSize)
	first, err := j.Map(p)
	if err != nil {
		return 0, 0, err
	}
	n = 1
	for !single && n < max && p+n < j.Last {
		f, err := j.Map(p + n)
		if err != nil || f != first+n {
			break
		}
		n++
	}
	return p, n, s.readRun(buf[:n*bs], first, p)
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
// validators recovery uses. It returns the block to look at next and
// whether this one was a metadata block.
func (s *histScan) block(pos uint64, b []byte) (next uint64, meta bool) {
	next = pos + 1
	if len(b) < HeaderSize || be32(b, 0) != Magic {
		return next, false // most blocks: no header to decode
	}
	h, _ := DecodeHeader(b)
	fm := s.j.Format
	m := histMeta{pos: pos, typ: h.BlockType, seq: h.Sequence}
	switch h.BlockType {
	case BlockDescriptor:
		m.ok = descriptorChecksumOK(b, fm, s.j.seed)
		if m.ok {
			m.tagLo = len(s.tags)
			for off := firstTag(b, fm); off >= 0; off = nextTag(b, fm, off) {
				home, flags, csum := decodeTag(b, off, fm)
				s.tags = append(s.tags, histTag{home: home, csum: csum, flags: flags})
			}
			m.tagHi = len(s.tags)
			if end := pos + 1 + uint64(m.tagHi-m.tagLo); end <= s.j.Last {
				next = end
			}
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
			return next, false
		}
		m.ok = c.VerifyChecksum(s.j.seed)
		m.time = c.Time()
		m.v1 = Commit{ChksumType: c.ChksumType, ChksumSize: c.ChksumSize, Chksum: c.Chksum}
		m.hasV1Sum = fm.CsumV1() && !(c.ChksumType == 0 && c.ChksumSize == 0 && c.Chksum[0] == 0)
	default:
		return next, false
	}
	if !m.ok && h.BlockType != BlockCommit {
		s.h.BadMeta++
	}
	s.at[pos] = len(s.metas)
	s.metas = append(s.metas, m)
	return next, true
}

// histChain is one transaction's chain of blocks as found.
type histChain struct {
	seq       uint32
	start     uint64
	metas     []int // descriptor and revoke blocks, in log order
	ntags     int   // data blocks their descriptors describe
	commit    int   // index of the commit block in metas, -1 if none
	committed bool
}

// next is the journal block after metadata block m and its data blocks,
// calling fn (when not nil) with each data block's position and tag, in
// order. Positions wrap per block, as PASS_REPLAY computes them.
func (s *histScan) next(m *histMeta, fn func(pos uint64, tag int)) uint64 {
	p := s.j.wrap(m.pos + 1)
	if m.typ != BlockDescriptor {
		return p
	}
	for t := m.tagLo; t < m.tagHi; t++ {
		if fn != nil {
			fn(p, t)
		}
		p = s.j.wrap(p + 1)
	}
	return p
}

// eachData calls fn with every data block of chain c: its position and
// its tag, in log order.
func (s *histScan) eachData(c *histChain, fn func(pos uint64, tag int)) {
	for _, k := range c.metas {
		s.next(&s.metas[k], fn)
	}
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
		c.ntags += s.metas[k].tagHi - s.metas[k].tagLo
		p = s.next(&s.metas[k], nil)
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
	s.eachData(c, func(p uint64, _ int) { s.claimPos(p, c.seq) })
	if c.commit >= 0 {
		s.claimPos(s.metas[c.commit].pos, c.seq)
	}
}

// claim is one journal block written by transaction seq.
type claim struct {
	pos uint64
	seq uint32
}

func (s *histScan) claimPos(p uint64, seq uint32) { s.claims = append(s.claims, claim{p, seq}) }

// settleClaims sorts the claims by block and keeps the newest of each (a
// sorted slice: a map of every tag would cost several times more).
func (s *histScan) settleClaims() {
	slices.SortFunc(s.claims, func(a, b claim) int { return cmp.Compare(a.pos, b.pos) })
	out := s.claims[:0]
	for _, c := range s.claims {
		if n := len(out); n > 0 && out[n-1].pos == c.pos {
			if tidGT(c.seq, out[n-1].seq) {
				out[n-1].seq = c.seq
			}
			continue
		}
		out = append(out, c)
	}
	s.claims = slices.Clip(out)
}

// newest is the newest sequence that wrote journal block p.
func (s *histScan) newest(p uint64) (uint32, bool) {
	i, ok := slices.BinarySearchFunc(s.claims, p, func(c claim, p uint64) int { return cmp.Compare(c.pos, p) })
	if !ok {
		return 0, false
	}
	return s.claims[i].seq, true
}

// keep checks each committed chain and stores the logged blocks of those
// that pass.
func (s *histScan) keep(chains []histChain) {
	h := s.h
	revoked := map[uint64]uint32{}
	total := 0
	for i := range chains {
		if chains[i].committed {
			total += chains[i].ntags
		}
	}
	h.entries = slices.Grow(h.entries, total)
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
		before := len(h.entries)
		dropped, ok := s.check(c, int32(len(h.txs)))
		if !ok {
			h.entries = h.entries[:before]
			h.Skipped++
			continue
		}
		h.Overwritten += dropped
		cm := &s.metas[c.commit]
		tx := HistTx{Sequence: c.seq, Start: c.start, CommitBlock: cm.pos, CommitTime: cm.time, Blocks: len(h.entries) - before}
		for _, k := range c.metas {
			for _, b := range s.metas[k].revokes {
				tx.Revokes++
				if r, ok := revoked[b]; !ok || tidGT(c.seq, r) {
					revoked[b] = c.seq
				}
			}
		}
		h.txs = append(h.txs, tx)
	}
	for i := first; i < len(h.entries); i++ {
		e := &h.entries[i]
		if r, ok := revoked[e.home]; ok && tidGEQ(r, e.seq) {
			e.revoked = true
		}
	}
}

// check verifies chain c and appends to History.entries its logged blocks
// that no newer transaction overwrote; it returns how many were dropped
// and whether it passes (the caller removes what it appended if not).
// With checksum v2/v3 each copy's tag checksum is checked when it is read
// (Read), and a dropped copy leaves the rest; without, a transaction a
// newer one overwrote in part is dropped whole, and a v1 commit checksum
// is checked over the descriptor and data blocks.
func (s *histScan) check(c *histChain, tx int32) (int, bool) {
	h := s.h
	dropped := 0
	s.eachData(c, func(p uint64, i int) {
		if seq, ok := s.newest(p); ok && seq != c.seq && tidGT(seq, c.seq) {
			dropped++
			return
		}
		t := &s.tags[i]
		h.entries = append(h.entries, hentry{home: t.home, jblk: p, seq: c.seq, csum: t.csum, tx: tx, flags: t.flags})
	})
	if s.j.Format.CsumV2or3() {
		return dropped, true
	}
	if dropped > 0 {
		return 0, false
	}
	if cm := &s.metas[c.commit]; cm.hasV1Sum && !s.v1OK(c, &cm.v1) {
		return 0, false
	}
	return 0, true
}

// v1OK chains crc32_be over the chain's descriptor blocks and their data
// blocks (calc_chksums) and checks it against the commit block.
func (s *histScan) v1OK(c *histChain, cm *Commit) bool {
	j := s.j
	crc := ^uint32(0)
	b := make([]byte, j.Format.BlockSize)
	ok := true
	for _, k := range c.metas {
		m := &s.metas[k]
		if m.typ != BlockDescriptor {
			continue
		}
		if j.readLogInto(b, m.pos) != nil {
			return false
		}
		crc = Crc32BE(crc, b)
		s.next(m, func(p uint64, _ int) {
			if ok = ok && j.readLogInto(b, p) == nil; ok {
				crc = Crc32BE(crc, b)
			}
		})
	}
	return ok && cm.VerifyV1(crc)
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
