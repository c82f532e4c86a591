package journal

import (
	"cmp"
	"fmt"
	"math"
	"slices"
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
	txs     []HistTx          // newest first
	runs    []hrun            // by home block, then newest first
	maxRun  uint64            // the longest run
	n       int               // logged copies kept
	csums   sparseU32         // t_checksum of each tag read, by its index in the scan
	live    *Log              // the live log whose tags' checksums imported runs use (importLive)
	revoked map[uint64]uint32 // home block -> newest sequence of a kept transaction revoking it
	ref     uint32            // the newest sequence kept: the reference of the wrap-aware order

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

// hrun is the stored form of Logged copies: a run of tags of one
// descriptor block, kept, that log consecutive filesystem blocks into
// consecutive journal blocks. Its k-th copy (k < n) is of block home+k, in
// journal block jblk+k, described by tag tag+k of the scan. A log of
// large sequential writes (data=journal) is then a few runs per
// descriptor block, not one entry per block.
type hrun struct {
	home, jblk uint64
	tag        uint32
	n          uint32
	tx         int32 // index in History.txs
	esc        bool  // logged with FlagEscape
	fromLog    bool  // tag numbers the live Log's tags (History.live), not the scan's
}

// histMeta is one journal metadata block found in the log area.
type histMeta struct {
	pos      uint64
	typ      uint32
	seq      uint32
	ok       bool // its tail (or commit) checksum verifies
	tagLo    int  // descriptor: its tags are numbered [tagLo, tagHi) in the scan
	tagHi    int
	runLo    int // and held in histScan.druns[runLo:runHi]
	runHi    int
	revokes  []uint64 // revoke records
	time     time.Time
	v1       *Commit // commit with hasV1Sum: the v1 checksum fields (a pointer: most journals have none, and metas are many)
	hasV1Sum bool
	known    bool // taken from the live log's scan (importLive), not read here
}

// drun is a run of tags of one descriptor block: its k-th tag (k < n),
// numbered tag+k in the scan, logs filesystem block home+k.
type drun struct {
	home uint64
	tag  uint32
	n    uint32
	esc  bool // FlagEscape
	// fromLog: taken from the live log (importLive); tag numbers the
	// Log's tags, whose checksums History.live holds.
	fromLog bool
}

// histScan is the state of Journal.History.
type histScan struct {
	j     *Journal
	metas []histMeta
	at    map[uint64]int // journal block -> index in metas
	ntags int            // tags found so far
	druns []drun         // every descriptor's tags, as runs
	// claims lists, once sorted (settleClaims), every span of journal
	// blocks some transaction wrote, with its sequence; maxClaim is the
	// longest.
	claims   []claim
	maxClaim uint64
	h        *History
	scratch  []histMeta // liveMetas' result, reused from one transaction to the next
}

// History reads the whole log area and returns the transactions found in
// it. An error means the journal inode's block map failed; a block that
// cannot be read is skipped and counted (Unreadable), and transactions
// failing a check are skipped and counted, never returned.
func (j *Journal) History() (*History, error) { return j.HistoryWith(nil) }

// HistoryWith is History given live, the log Scan returns for the journal
// as it is now (an Overlay's Log, from Recover): the transactions it
// replays are marked Live without scanning the log a second time. A nil
// live scans it.
func (j *Journal) HistoryWith(live *Log) (*History, error) {
	s := &histScan{j: j, h: &History{j: j, revoked: map[uint64]uint32{}}}
	s.presize(live)
	s.importLive(live)
	if err := s.readArea(); err != nil {
		return nil, err
	}
	chains := s.chains()
	s.claims = make([]claim, 0, 2*len(s.metas))
	for i := range chains {
		s.claim(&chains[i])
	}
	for _, m := range s.metas {
		s.claimPos(m.pos, m.seq)
	}
	s.settleClaims()
	s.keep(chains)
	s.markLive(live)
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
	buf := make([]byte, bs) // grown to span blocks once a run is read
	var at, n uint64        // buf holds journal blocks [at, at+n)
	single := true          // until a block is not a metadata block
	for p := j.First; p < j.Last; {
		if k, ok := s.at[p]; ok && s.metas[k].known {
			p, single = s.hop(&s.metas[k]), true
			continue
		}
		if p < at || p >= at+n {
			if k := s.hole(p, single); k > 0 {
				p += k // zeros: no metadata block there
				continue
			}
			if !single && len(buf) < span*int(bs) {
				buf = make([]byte, span*bs)
			}
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

// dataFinder is a device that knows where an image file holds data
// (devio.Device: SEEK_DATA): DataFrom(off) is the first offset at or after
// off that may hold data; the bytes before it are a hole, read as zeros.
type dataFinder interface {
	DataFrom(off int64) int64
}

// hole returns how many journal blocks from p on lie, contiguous, in a
// hole of a sparse image file: zeros, so no metadata block is there and
// they need not be read (the never-written tail of a young journal). It
// returns 0 when single (a metadata block is expected at p), on a device
// that does not tell, or when p holds data.
func (s *histScan) hole(p uint64, single bool) uint64 {
	df, ok := s.j.dev.(dataFinder)
	if single || !ok {
		return 0
	}
	bs := uint64(s.j.Format.BlockSize)
	first, err := s.j.Map(p)
	if err != nil || first > (1<<63-1)/bs {
		return 0
	}
	off := int64(first * bs)
	d := df.DataFrom(off)
	if d <= off {
		return 0
	}
	max := uint64(d-off) / bs
	n := uint64(0)
	for n < max && p+n < s.j.Last {
		f, err := s.j.Map(p + n)
		if err != nil || f != first+n {
			break
		}
		n++
	}
	return n
}

// hop is where readArea looks after metadata block m, as block does: past
// the data blocks a descriptor describes, unless they wrap.
func (s *histScan) hop(m *histMeta) uint64 {
	if m.typ == BlockDescriptor {
		if end := m.pos + 1 + uint64(m.tagHi-m.tagLo); end <= s.j.Last {
			return end
		}
	}
	return m.pos + 1
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
			m.tagLo, m.runLo = s.ntags, len(s.druns)
			tw := newTagWalk(b, fm)
			for off := tw.first(); off >= 0; off = tw.next(off) {
				home, flags, csum := tw.decode(off)
				s.addTag(m.runLo, home, csum, flags)
			}
			m.tagHi, m.runHi = s.ntags, len(s.druns)
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
		m.hasV1Sum = fm.CsumV1() && !(c.ChksumType == 0 && c.ChksumSize == 0 && c.Chksum[0] == 0)
		if m.hasV1Sum {
			m.v1 = &Commit{ChksumType: c.ChksumType, ChksumSize: c.ChksumSize, Chksum: c.Chksum}
		}
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

// addTag records the next tag of the descriptor whose runs start at
// druns[lo].
func (s *histScan) addTag(lo int, home uint64, csum uint32, flags uint16) {
	t := uint32(s.ntags)
	s.ntags++
	s.h.csums.set(int(t), csum)
	esc := flags&FlagEscape != 0
	if k := len(s.druns) - 1; k >= lo {
		r := &s.druns[k]
		if n := uint64(r.n); !r.fromLog && home > r.home && r.home+n == home && r.tag+r.n == t && r.esc == esc {
			r.n++
			return
		}
	}
	s.druns = append(s.druns, drun{home: home, tag: t, n: 1, esc: esc})
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
		m := &s.metas[k]
		s.claimSpan(m.pos, 1+uint64(m.tagHi-m.tagLo), c.seq)
	}
	if c.commit >= 0 {
		s.claimPos(s.metas[c.commit].pos, c.seq)
	}
}

// claim is a span of journal blocks [pos, end) written by transaction seq.
type claim struct {
	pos, end uint64
	seq      uint32
}

func (s *histScan) claimPos(p uint64, seq uint32) { s.claimSpan(p, 1, seq) }

// claimSpan records that transaction seq wrote n journal blocks from p on,
// wrapping at the end of the log as PASS_REPLAY does.
func (s *histScan) claimSpan(p, n uint64, seq uint32) {
	s.spans(p, n, func(a, b uint64) {
		s.claims = append(s.claims, claim{a, b, seq})
		s.maxClaim = max(s.maxClaim, b-a)
	})
}

// spans calls fn with the journal blocks [a, b) that n blocks from p on
// cover, in pieces that do not wrap.
func (s *histScan) spans(p, n uint64, fn func(a, b uint64)) {
	j := s.j
	if j.Last <= j.First || p < j.First || p >= j.Last {
		return
	}
	for n > 0 {
		k := min(n, j.Last-p)
		fn(p, p+k)
		n -= k
		p = j.First
	}
}

// settleClaims sorts the claims by their first block.
func (s *histScan) settleClaims() {
	slices.SortFunc(s.claims, func(a, b claim) int { return cmp.Compare(a.pos, b.pos) })
}

// newer appends to out the claims of a sequence newer than seq that
// overlap the n journal blocks from p on.
func (s *histScan) newer(out []claim, p, n uint64, seq uint32) []claim {
	s.spans(p, n, func(a, b uint64) {
		lo := uint64(0)
		if a > s.maxClaim {
			lo = a - s.maxClaim
		}
		i, _ := slices.BinarySearchFunc(s.claims, lo, func(c claim, v uint64) int { return cmp.Compare(c.pos, v) })
		for ; i < len(s.claims) && s.claims[i].pos < b; i++ {
			if c := s.claims[i]; c.end > a && c.seq != seq && tidGT(c.seq, seq) {
				out = append(out, c)
			}
		}
	})
	return out
}

// covered says whether journal block p is in one of the claims.
func covered(cs []claim, p uint64) bool {
	for _, c := range cs {
		if c.pos <= p && p < c.end {
			return true
		}
	}
	return false
}

// keep checks each committed chain and stores the logged blocks of those
// that pass.
func (s *histScan) keep(chains []histChain) {
	h := s.h
	for i := range chains {
		c := &chains[i]
		if c.commit < 0 {
			continue
		}
		if !c.committed {
			h.Skipped++
			continue
		}
		before, beforeN := len(h.runs), h.n
		dropped, ok := s.check(c, int32(len(h.txs)))
		if !ok {
			h.runs, h.n = h.runs[:before], beforeN
			h.Skipped++
			continue
		}
		h.Overwritten += dropped
		cm := &s.metas[c.commit]
		tx := HistTx{Sequence: c.seq, Start: c.start, CommitBlock: cm.pos, CommitTime: cm.time, Blocks: h.n - beforeN}
		for _, k := range c.metas {
			for _, b := range s.metas[k].revokes {
				tx.Revokes++
				if r, ok := h.revoked[b]; !ok || tidGT(c.seq, r) {
					h.revoked[b] = c.seq
				}
			}
		}
		h.txs = append(h.txs, tx)
	}
}

// check verifies chain c and appends to History.runs its logged blocks
// that no newer transaction overwrote; it returns how many were dropped
// and whether it passes (the caller removes what it appended if not).
// With checksum v2/v3 each copy's tag checksum is checked when it is read
// (Read), and a dropped copy leaves the rest; without, a transaction a
// newer one overwrote in part is dropped whole, and a v1 commit checksum
// is checked over the descriptor and data blocks.
func (s *histScan) check(c *histChain, tx int32) (int, bool) {
	h := s.h
	dropped := 0
	var over []claim
	for _, k := range c.metas {
		m := &s.metas[k]
		if m.typ != BlockDescriptor {
			continue
		}
		over = s.newer(over[:0], s.j.wrap(m.pos+1), uint64(m.tagHi-m.tagLo), c.seq)
		p := s.j.wrap(m.pos + 1)
		for _, r := range s.druns[m.runLo:m.runHi] {
			if len(over) == 0 && p+uint64(r.n) <= s.j.Last {
				h.addRun(r, p, tx) // nothing overwrote it, and it does not wrap
				p = s.j.wrap(p + uint64(r.n))
				continue
			}
			for k := range r.n {
				if len(over) > 0 && covered(over, p) {
					dropped++
				} else {
					h.add(r.home+uint64(k), p, r.tag+k, tx, r.esc, r.fromLog)
				}
				p = s.j.wrap(p + 1)
			}
		}
	}
	if s.j.Format.CsumV2or3() {
		return dropped, true
	}
	if dropped > 0 {
		return 0, false
	}
	if cm := &s.metas[c.commit]; cm.hasV1Sum && !s.v1OK(c, cm.v1) {
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
// commit block in Journal.Scan's log, l when given). A log that fails to
// scan marks none.
func (s *histScan) markLive(l *Log) {
	if l == nil {
		var err error
		if l, err = s.j.Scan(); err != nil {
			return
		}
	}
	if l.Empty {
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
	for i := range h.runs {
		r := &h.runs[i]
		r.tx = newIdx[r.tx]
		h.maxRun = max(h.maxRun, uint64(r.n))
	}
	slices.SortStableFunc(h.runs, func(a, b hrun) int {
		return cmp.Or(cmp.Compare(a.home, b.home), cmp.Compare(a.tx, b.tx))
	})
}

// add appends the copy of home in journal block jblk, described by tag,
// to the runs of transaction tx: to the last run when it continues it.
func (h *History) add(home, jblk uint64, tag uint32, tx int32, esc, fromLog bool) {
	h.n++
	if k := len(h.runs) - 1; k >= 0 {
		r := &h.runs[k]
		n := uint64(r.n)
		if r.tx == tx && r.esc == esc && r.fromLog == fromLog && home > r.home && r.home+n == home && r.jblk+n == jblk && r.tag+r.n == tag && r.n < math.MaxUint32 {
			r.n++
			return
		}
	}
	h.runs = append(h.runs, hrun{home: home, jblk: jblk, tag: tag, n: 1, tx: tx, esc: esc, fromLog: fromLog})
}

// addRun adds the copies of descriptor run d, from journal block jblk on,
// as add would one by one.
func (h *History) addRun(d drun, jblk uint64, tx int32) {
	home, tag, n, esc := d.home, d.tag, d.n, d.esc
	if n == 0 {
		return
	}
	h.add(home, jblk, tag, tx, esc, d.fromLog)
	r := &h.runs[len(h.runs)-1]
	if rest := n - 1; rest > 0 && r.home+uint64(r.n)+uint64(rest) > r.home && r.n <= math.MaxUint32-rest {
		r.n += rest // the run home, jblk, tag all continue
		h.n += int(rest)
		return
	}
	for k := uint32(1); k < n; k++ {
		h.add(home+uint64(k), jblk+uint64(k), tag+k, tx, esc, d.fromLog)
	}
}

// age is how many sequences seq lies before the newest one kept.
func (h *History) age(seq uint32) uint32 { return h.ref - seq }

// Transactions returns the transactions kept, newest first.
func (h *History) Transactions() []HistTx { return slices.Clone(h.txs) }

// Len is the number of logged copies kept.
func (h *History) Len() int { return h.n }

// logged is the public form of copy k of run r.
func (h *History) logged(r *hrun, k uint64) Logged {
	t := &h.txs[r.tx]
	home := r.home + k
	rv, ok := h.revoked[home]
	return Logged{FSBlock: home, JBlock: r.jblk + k, Sequence: t.Sequence, CommitTime: t.CommitTime,
		Escaped: r.esc, Revoked: ok && tidGEQ(rv, t.Sequence), Live: t.Live, checksum: h.csum(r, k)}
}

// csum is the tag checksum of copy k of run r.
func (h *History) csum(r *hrun, k uint64) uint32 {
	if r.fromLog {
		return h.live.csums.at(int(r.tag) + int(k))
	}
	return h.csums.at(int(r.tag) + int(k))
}

// runsFrom is the index of the first run that may hold block b or a
// later one: runs are sorted by their first block and none is longer
// than maxRun.
func (h *History) runsFrom(b uint64) int {
	lo := uint64(0)
	if b >= h.maxRun {
		lo = b - h.maxRun + 1
	}
	i, _ := slices.BinarySearchFunc(h.runs, lo, func(r hrun, v uint64) int { return cmp.Compare(r.home, v) })
	return i
}

// Versions returns the logged copies of filesystem block fsblk, newest
// first (by sequence, wrap-aware; jbd2 logs a block at most once per
// transaction).
func (h *History) Versions(fsblk uint64) []Logged {
	var at []*hrun
	for i := h.runsFrom(fsblk); i < len(h.runs) && h.runs[i].home <= fsblk; i++ {
		if r := &h.runs[i]; fsblk-r.home < uint64(r.n) {
			at = append(at, r)
		}
	}
	slices.SortStableFunc(at, func(a, b *hrun) int { return cmp.Compare(a.tx, b.tx) })
	out := make([]Logged, 0, len(at))
	for _, r := range at {
		out = append(out, h.logged(r, fsblk-r.home))
	}
	return out
}

// Each calls fn with every logged copy, by filesystem block and then
// newest first, until fn returns false.
func (h *History) Each(fn func(Logged) bool) { h.each(h.blocksIn(0, math.MaxUint64), fn) }

// EachIn calls fn with every logged copy of a filesystem block in
// [lo, hi), by block and then newest first, until fn returns false. Its
// cost follows the runs of copies in the range, not the whole log.
func (h *History) EachIn(lo, hi uint64, fn func(Logged) bool) {
	if hi > lo {
		h.each(h.blocksIn(lo, hi-1), fn)
	}
}

func (h *History) each(blocks []uint64, fn func(Logged) bool) {
	for _, b := range blocks {
		for _, l := range h.Versions(b) {
			if !fn(l) {
				return
			}
		}
	}
}

// Blocks returns the filesystem blocks with at least one logged copy,
// sorted.
func (h *History) Blocks() []uint64 { return h.blocksIn(0, math.MaxUint64) }

// blocksIn returns the blocks in [lo, last] with at least one logged
// copy, sorted.
func (h *History) blocksIn(lo, last uint64) []uint64 {
	var out []uint64
	next := lo // blocks below next are listed already
	for i := h.runsFrom(lo); i < len(h.runs) && h.runs[i].home <= last; i++ {
		r := &h.runs[i]
		k := uint64(0)
		if next > r.home {
			k = next - r.home
		}
		for ; k < uint64(r.n); k++ {
			b := r.home + k // runs never wrap past 2^64 (add)
			if b > last {
				break
			}
			out = append(out, b)
			if b == math.MaxUint64 {
				return out
			}
			next = b + 1
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
