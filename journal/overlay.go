package journal

import (
	"cmp"
	"fmt"
	"math/bits"
	"slices"
	"sort"
	"sync"

	"github.com/ext4relink/ext4relink/super"
)

// Copy is one logged copy of a filesystem block.
type Copy struct {
	JBlock   uint64 // journal block holding the copy
	FSBlock  uint64 // filesystem block that journal block lives in
	Sequence uint32 // transaction that logged it
	Flags    uint16 // tag flags (FlagEscape matters)
	Checksum uint32 // tag checksum (v2: low 16 bits; v3: 32 bits)
	Revoked  bool   // a revoke record of this or a later replayed transaction covers it
}

// Overlay is the replayed journal held in memory: for every filesystem
// block the replay would write, the ordered list of its logged copies.
// Nothing is read until ReadBlock asks for a block. It is safe for
// concurrent use.
type Overlay struct {
	Log *Log

	j *Journal
	// keys lists the tag runs (Log.runs) of the replayed transactions
	// sorted by their first block, then in log order. A key is
	// home<<shift | i, where i is the run's index; when some home is too
	// large for that (crafted logs only), packed is false and a key is i.
	keys    []uint64
	shift   uint
	packed  bool
	maxRun  uint64            // the longest run
	revoked map[uint64]uint32 // block -> highest revoking replayed sequence
	nblocks int               // blocks with a copy that is not revoked
	last    uint64            // the highest such block (when nblocks > 0)

	mu  sync.Mutex
	bad map[uint64]bool // journal blocks whose tag checksum failed
}

// Recover runs Scan and builds the overlay of the transactions the kernel
// would replay. It fails, replaying nothing, exactly when the kernel's
// recovery would fail before PASS_REPLAY.
//
// Fast commits are not replayed: check Log.FastCommit.Pending() (or
// Overlay.Pending) and refuse to go on when it reports ErrFastCommitPending.
func (j *Journal) Recover() (*Overlay, error) {
	l, err := j.Scan()
	if err != nil {
		return nil, err
	}
	o := &Overlay{Log: l, j: j, revoked: revokedBlocks(l), bad: map[uint64]bool{}}
	// PASS_REPLAY, without the I/O: every tag of every replayed
	// transaction. Each copy must be readable (the kernel's jread would
	// fail); ReadBlock maps it again when it reads it.
	n := 0
	var maxHome, maxIndex uint64
	for _, t := range l.Transactions {
		if !t.Replay {
			continue
		}
		for i := t.runLo; i < t.runHi; i++ {
			r := l.runs.at(i)
			for k := range uint64(r.n) {
				if _, err := j.Map(r.pos + k); err != nil {
					return nil, err
				}
			}
			maxHome, maxIndex = max(maxHome, r.home), uint64(i)
			o.maxRun = max(o.maxRun, uint64(r.n))
			n++
		}
	}
	o.index(n, maxHome, maxIndex)
	o.count()
	return o, nil
}

// count sets nblocks and last. Without revocations every block of a run
// is written, and the union of the runs is counted run by run.
func (o *Overlay) count() {
	if len(o.revoked) > 0 {
		o.eachBlock(func(b uint64) {
			o.nblocks++
			o.last = b
		})
		return
	}
	for k := range o.keys {
		r := o.run(k)
		lo, hi := r.home, r.last()
		if o.nblocks > 0 && o.last >= hi {
			continue
		}
		if o.nblocks > 0 && o.last >= lo {
			lo = o.last + 1
		}
		o.nblocks += int(hi - lo + 1)
		o.last = hi
	}
}

// index fills keys with the n runs of the replayed transactions, whose
// homes are at most maxHome and indices at most maxIndex, and sorts them.
// Packing home and index into one uint64 sorts a few times faster than a
// comparison function, which is left for homes too large to leave room for
// the index.
func (o *Overlay) index(n int, maxHome, maxIndex uint64) {
	l := o.Log
	o.keys = make([]uint64, 0, n)
	nb := uint(bits.Len64(maxIndex))
	o.shift, o.packed = nb, maxHome>>(64-nb) == 0
	for _, t := range l.Transactions {
		if !t.Replay {
			continue
		}
		for i := t.runLo; i < t.runHi; i++ {
			if o.packed {
				o.keys = append(o.keys, l.runs.at(i).home<<nb|uint64(i))
			} else {
				o.keys = append(o.keys, uint64(i))
			}
		}
	}
	if o.packed {
		slices.Sort(o.keys)
		return
	}
	slices.SortFunc(o.keys, func(a, b uint64) int {
		return cmp.Or(cmp.Compare(l.runs.at(int(a)).home, l.runs.at(int(b)).home), cmp.Compare(a, b))
	})
}

// revokedBlocks is PASS_REVOKE: a block revoked in transaction R is not
// replayed from any transaction up to R (jbd2_journal_set_revoke keeps the
// newest). It maps each revoked block to its highest revoking sequence.
func revokedBlocks(l *Log) map[uint64]uint32 {
	revoked := make(map[uint64]uint32, l.Revokes)
	for _, t := range l.Transactions {
		if !t.Replay {
			continue
		}
		for _, r := range t.revokes {
			for _, b := range r.rv.Records {
				if s, ok := revoked[b]; !ok || tidGT(t.Sequence, s) {
					revoked[b] = t.Sequence
				}
			}
		}
	}
	return revoked
}

// runIndex is the index in Log.runs of the run at index k of keys.
func (o *Overlay) runIndex(k int) int {
	if o.packed {
		return int(o.keys[k] & (1<<o.shift - 1))
	}
	return int(o.keys[k])
}

// run is the run at index k of keys.
func (o *Overlay) run(k int) *tagRun { return o.Log.runs.at(o.runIndex(k)) }

// eachBlock calls fn, in ascending order, with every block that has a
// copy that is not revoked: the union of the runs' blocks, swept in the
// order of their first blocks.
func (o *Overlay) eachBlock(fn func(b uint64)) {
	var done uint64 // every block up to done has been seen (when any)
	any := false
	for k := range o.keys {
		r := o.run(k)
		lo, hi := r.home, r.last()
		if any && done >= hi {
			continue
		}
		if any && done >= lo {
			lo = done + 1
		}
		for b := lo; ; b++ {
			if o.live(b) {
				fn(b)
			}
			if b == hi {
				break
			}
		}
		done, any = hi, true
	}
}

// runsOf appends to dst the indices (in Log.runs) of the replayed runs
// holding a copy of block b, in log order.
func (o *Overlay) runsOf(b uint64, dst []int) []int {
	start := len(dst)
	k := sort.Search(len(o.keys), func(k int) bool { return o.run(k).home > b })
	for k--; k >= 0; k-- {
		r := o.run(k)
		if b-r.home >= o.maxRun {
			break
		}
		if b <= r.last() {
			dst = append(dst, o.runIndex(k))
		}
	}
	slices.Sort(dst[start:])
	return dst
}

// isRevoked reports whether a replayed revoke record covers the copy of b
// logged in transaction seq.
func (o *Overlay) isRevoked(b uint64, seq uint32) bool {
	s, ok := o.revoked[b]
	return ok && !tidGT(seq, s)
}

// live reports whether block b, which some replayed run logs, has a copy
// that is not revoked.
func (o *Overlay) live(b uint64) bool {
	if _, ok := o.revoked[b]; !ok {
		return true
	}
	for _, c := range o.copies(b) {
		if !c.Revoked {
			return true
		}
	}
	return false
}

// copies returns the copies of block b, oldest first. Recover mapped
// every journal block of them; should a BlockMap fail later, FSBlock is
// super.NoBlock and reading the copy reports the error.
func (o *Overlay) copies(b uint64) []Copy {
	var buf [4]int
	runs := o.runsOf(b, buf[:0])
	if len(runs) == 0 {
		return nil
	}
	out := make([]Copy, 0, len(runs))
	for _, ri := range runs {
		out = append(out, o.copyIn(ri, b))
	}
	return out
}

// copyIn is the copy of block b in run ri (which holds one).
func (o *Overlay) copyIn(ri int, b uint64) Copy {
	r := o.Log.runs.at(ri)
	k := b - r.home
	seq := o.Log.seqOf(int(r.first))
	c := Copy{JBlock: r.pos + k, FSBlock: super.NoBlock, Sequence: seq, Flags: r.flags,
		Checksum: o.Log.csums.at(int(r.first) + int(k)), Revoked: o.isRevoked(b, seq)}
	if fsblk, err := o.j.Map(c.JBlock); err == nil {
		c.FSBlock = fsblk
	}
	return c
}

// Pending is Log.FastCommit.Pending(): an error wrapping
// ErrFastCommitPending when valid fast commits wait to be replayed.
func (o *Overlay) Pending() error { return o.Log.FastCommit.Pending() }

// Blocks lists, sorted, the filesystem blocks the replay writes: those with
// at least one copy that is not revoked. A block whose every such copy
// fails its tag checksum is listed but ReadBlock reports it absent (the
// kernel skips those copies and then fails the mount; see Verify).
func (o *Overlay) Blocks() []uint64 {
	if o.nblocks == 0 {
		return nil
	}
	out := make([]uint64, 0, o.nblocks)
	o.eachBlock(func(b uint64) { out = append(out, b) })
	return out
}

// NumBlocks is len(Blocks()), without building the list.
func (o *Overlay) NumBlocks() int { return o.nblocks }

// Copies returns the logged copies of a filesystem block, oldest first.
func (o *Overlay) Copies(fsblk uint64) []Copy { return o.copies(fsblk) }

// ReadBlock returns the content the replay leaves in filesystem block
// fsblk: the newest copy that is not revoked and whose tag checksum
// verifies, un-escaped. ok is false when the journal holds no such copy and
// the block must be read from the device.
func (o *Overlay) ReadBlock(fsblk uint64) (data []byte, ok bool, err error) {
	var buf [4]int
	runs := o.runsOf(fsblk, buf[:0])
	for i := len(runs) - 1; i >= 0; i-- {
		c := o.copyIn(runs[i], fsblk)
		if c.Revoked {
			continue
		}
		o.mu.Lock()
		known := o.bad[c.JBlock]
		o.mu.Unlock()
		if known {
			continue
		}
		b, err := o.read(c)
		if err != nil {
			return nil, false, fmt.Errorf("journal block %d (copy of block %d, transaction %d): %w", c.JBlock, fsblk, c.Sequence, err)
		}
		t := Tag{Checksum: c.Checksum}
		if !t.VerifyData(o.j.Format, o.j.seed, c.Sequence, b) {
			o.mu.Lock()
			o.bad[c.JBlock] = true
			o.mu.Unlock()
			continue
		}
		Unescape(b, c.Flags)
		return b, true, nil
	}
	return nil, false, nil
}

// read reads a copy into a new slice.
func (o *Overlay) read(c Copy) ([]byte, error) {
	fsblk, err := o.j.Map(c.JBlock)
	if err != nil {
		return nil, err
	}
	return o.j.readFS(fsblk)
}

// BadCopies lists the journal blocks found so far whose data failed their
// tag checksum (sorted).
func (o *Overlay) BadCopies() []uint64 {
	o.mu.Lock()
	defer o.mu.Unlock()
	var out []uint64
	for b := range o.bad {
		out = append(out, b)
	}
	slices.Sort(out)
	return out
}

// Verify reads every copy the replay would write (not only the newest) and
// checks its tag checksum, as PASS_REPLAY does. The kernel skips a copy
// that fails, replays the rest, and then fails the mount with EIO; Verify
// returns an error wrapping super.ErrChecksum in that case.
func (o *Overlay) Verify() error {
	var first Copy
	var home uint64
	n := 0
	var err error
	d := make([]byte, o.j.Format.BlockSize)
	var runs []int
	o.eachBlock(func(b uint64) {
		runs = o.runsOf(b, runs[:0])
		for _, ri := range runs {
			c := o.copyIn(ri, b)
			if err != nil || c.Revoked {
				continue
			}
			var fsblk uint64
			if fsblk, err = o.j.Map(c.JBlock); err == nil {
				err = o.j.readFSInto(d, fsblk)
			}
			if err != nil {
				err = fmt.Errorf("journal block %d: %w", c.JBlock, err)
				continue
			}
			t := Tag{Checksum: c.Checksum}
			if !t.VerifyData(o.j.Format, o.j.seed, c.Sequence, d) {
				o.mu.Lock()
				o.bad[c.JBlock] = true
				o.mu.Unlock()
				if n == 0 {
					first, home = c, b
				}
				n++
			}
		}
	})
	if err != nil {
		return err
	}
	if n == 0 {
		return nil
	}
	return super.Errorf(super.ErrChecksum, fmt.Sprintf("journal block %d", first.JBlock), first.FSBlock, -1,
		"logged copy of block %d in transaction %d fails its tag checksum (%d bad copies in all); the kernel replays the rest and refuses to mount",
		home, first.Sequence, n)
}

// CheckRange refuses a replay that would write past the end of a
// filesystem of blocksCount blocks (the kernel's write would fail).
func (o *Overlay) CheckRange(blocksCount uint64) error {
	if o.nblocks > 0 && o.last >= blocksCount {
		cs := o.copies(o.last)
		c := cs[len(cs)-1]
		return super.Errorf(super.ErrCorrupt, fmt.Sprintf("journal block %d", c.JBlock), c.FSBlock, -1,
			"transaction %d logs block %d, past the end of the filesystem (%d blocks)", c.Sequence, o.last, blocksCount)
	}
	return nil
}
