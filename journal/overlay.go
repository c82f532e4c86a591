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
	// keys lists the copies of the replayed transactions sorted by the
	// block they are copies of, then in log order: the copies of one
	// block are a run, oldest first. A key is home<<shift | i, where i is
	// the copy's index in Log.tags; when some home is too large for that
	// (crafted logs only), packed is false and a key is just i.
	keys    []uint64
	shift   uint
	packed  bool
	revoked bool // some copy is revoked
	nblocks int  // blocks with a copy that is not revoked
	last    int  // index in keys of the newest copy of the highest such block; -1 without one

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
	o := &Overlay{Log: l, j: j, last: -1, bad: map[uint64]bool{}}
	revoked := revokedBlocks(l)
	// PASS_REPLAY, without the I/O: every tag of every replayed
	// transaction. Each copy must be readable (the kernel's jread would
	// fail); ReadBlock maps it again when it reads it.
	n := 0
	var maxHome, maxIndex uint64
	for _, t := range l.Transactions {
		if !t.Replay {
			continue
		}
		for i := t.tagLo; i < t.tagHi; i++ {
			tg := l.tags.at(i)
			if _, err := j.Map(tg.pos); err != nil {
				return nil, err
			}
			if s, ok := revoked[tg.home]; ok && !tidGT(t.Sequence, s) {
				tg.revoked, o.revoked = true, true
			}
			maxHome, maxIndex = max(maxHome, tg.home), uint64(i)
			n++
		}
	}
	o.index(n, maxHome, maxIndex)
	for k := 0; k < len(o.keys); {
		e := o.runEnd(k)
		if o.live(k, e) {
			o.nblocks++
			o.last = e - 1
		}
		k = e
	}
	return o, nil
}

// index fills keys with the n copies of the replayed transactions, whose
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
		for i := t.tagLo; i < t.tagHi; i++ {
			if o.packed {
				o.keys = append(o.keys, l.tags.at(i).home<<nb|uint64(i))
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
		return cmp.Or(cmp.Compare(l.tags.at(int(a)).home, l.tags.at(int(b)).home), cmp.Compare(a, b))
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

// tagIndex is the index in Log.tags of the copy at index k of keys.
func (o *Overlay) tagIndex(k int) int {
	if o.packed {
		return int(o.keys[k] & (1<<o.shift - 1))
	}
	return int(o.keys[k])
}

// home is the block the copy at index k of keys is a copy of.
func (o *Overlay) home(k int) uint64 {
	if o.packed {
		return o.keys[k] >> o.shift
	}
	return o.Log.tags.at(int(o.keys[k])).home
}

// runEnd is the end of the run of copies of one block starting at k.
func (o *Overlay) runEnd(k int) int {
	h := o.home(k)
	e := k + 1
	for e < len(o.keys) && o.home(e) == h {
		e++
	}
	return e
}

// live reports whether a copy in keys[k:e] is not revoked.
func (o *Overlay) live(k, e int) bool {
	if !o.revoked {
		return k < e
	}
	for ; k < e; k++ {
		if !o.Log.tags.at(o.tagIndex(k)).revoked {
			return true
		}
	}
	return false
}

// find returns the run keys[lo:hi] of the copies of block home.
func (o *Overlay) find(home uint64) (lo, hi int) {
	lo = sort.Search(len(o.keys), func(k int) bool { return o.home(k) >= home })
	if lo == len(o.keys) || o.home(lo) != home {
		return lo, lo
	}
	return lo, o.runEnd(lo)
}

// copyAt is the copy at index k of keys; err is set when its journal
// block no longer maps (a BlockMap that changed since Recover).
func (o *Overlay) copyAt(k int) (Copy, error) {
	i := o.tagIndex(k)
	t := o.Log.tags.at(i)
	fsblk, err := o.j.Map(t.pos)
	if err != nil {
		fsblk = super.NoBlock
	}
	return Copy{JBlock: t.pos, FSBlock: fsblk, Sequence: o.Log.seqOf(i), Flags: t.flags, Checksum: t.csum, Revoked: t.revoked}, err
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
	for k := 0; k < len(o.keys); {
		e := o.runEnd(k)
		if o.live(k, e) {
			out = append(out, o.home(k))
		}
		k = e
	}
	return out
}

// Copies returns the logged copies of a filesystem block, oldest first.
func (o *Overlay) Copies(fsblk uint64) []Copy {
	lo, hi := o.find(fsblk)
	if lo == hi {
		return nil
	}
	out := make([]Copy, 0, hi-lo)
	for k := lo; k < hi; k++ {
		c, _ := o.copyAt(k)
		out = append(out, c)
	}
	return out
}

// ReadBlock returns the content the replay leaves in filesystem block
// fsblk: the newest copy that is not revoked and whose tag checksum
// verifies, un-escaped. ok is false when the journal holds no such copy and
// the block must be read from the device.
func (o *Overlay) ReadBlock(fsblk uint64) (data []byte, ok bool, err error) {
	lo, hi := o.find(fsblk)
	for k := hi - 1; k >= lo; k-- {
		c, err := o.copyAt(k)
		if c.Revoked {
			continue
		}
		o.mu.Lock()
		known := o.bad[c.JBlock]
		o.mu.Unlock()
		if known {
			continue
		}
		var b []byte
		if err == nil {
			b, err = o.j.readFS(c.FSBlock)
		}
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
	d := make([]byte, o.j.Format.BlockSize)
	for k := range o.keys {
		c, err := o.copyAt(k)
		if c.Revoked {
			continue
		}
		if err == nil {
			err = o.j.readFSInto(d, c.FSBlock)
		}
		if err != nil {
			return fmt.Errorf("journal block %d: %w", c.JBlock, err)
		}
		t := Tag{Checksum: c.Checksum}
		if !t.VerifyData(o.j.Format, o.j.seed, c.Sequence, d) {
			o.mu.Lock()
			o.bad[c.JBlock] = true
			o.mu.Unlock()
			if n == 0 {
				first, home = c, o.home(k)
			}
			n++
		}
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
	if o.last < 0 {
		return nil
	}
	if b := o.home(o.last); b >= blocksCount {
		c, _ := o.copyAt(o.last)
		return super.Errorf(super.ErrCorrupt, fmt.Sprintf("journal block %d", c.JBlock), c.FSBlock, -1,
			"transaction %d logs block %d, past the end of the filesystem (%d blocks)", c.Sequence, b, blocksCount)
	}
	return nil
}
