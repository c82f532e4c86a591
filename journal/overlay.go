package journal

import (
	"fmt"
	"slices"
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

	j       *Journal
	copies  map[uint64][]Copy // in log order, oldest first
	revoked map[uint64]uint32 // block -> highest revoking sequence
	blocks  []uint64

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
	o := &Overlay{Log: l, j: j, copies: map[uint64][]Copy{}, revoked: map[uint64]uint32{}, bad: map[uint64]bool{}}
	// PASS_REVOKE: a block revoked in transaction R is not replayed from
	// any transaction up to R (jbd2_journal_set_revoke keeps the newest).
	for _, t := range l.Transactions {
		if !t.Replay {
			continue
		}
		for _, r := range t.revokes {
			for _, b := range r.rv.Records {
				if s, ok := o.revoked[b]; !ok || tidGT(t.Sequence, s) {
					o.revoked[b] = t.Sequence
				}
			}
		}
	}
	// PASS_REPLAY, without the I/O: every tag of every replayed transaction.
	for _, t := range l.Transactions {
		if !t.Replay {
			continue
		}
		for _, lt := range t.tags {
			home := lt.tag.Block(j.Format)
			fsblk, err := j.Map(lt.pos)
			if err != nil {
				return nil, err
			}
			c := Copy{JBlock: lt.pos, FSBlock: fsblk, Sequence: t.Sequence,
				Flags: lt.tag.FlagBits(), Checksum: lt.tag.Checksum}
			if s, ok := o.revoked[home]; ok && !tidGT(t.Sequence, s) {
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

// Pending is Log.FastCommit.Pending(): an error wrapping
// ErrFastCommitPending when valid fast commits wait to be replayed.
func (o *Overlay) Pending() error { return o.Log.FastCommit.Pending() }

// Blocks lists, sorted, the filesystem blocks the replay writes: those with
// at least one copy that is not revoked. A block whose every such copy
// fails its tag checksum is listed but ReadBlock reports it absent (the
// kernel skips those copies and then fails the mount; see Verify).
func (o *Overlay) Blocks() []uint64 { return slices.Clone(o.blocks) }

// Copies returns the logged copies of a filesystem block, oldest first.
func (o *Overlay) Copies(fsblk uint64) []Copy { return slices.Clone(o.copies[fsblk]) }

// ReadBlock returns the content the replay leaves in filesystem block
// fsblk: the newest copy that is not revoked and whose tag checksum
// verifies, un-escaped. ok is false when the journal holds no such copy and
// the block must be read from the device.
func (o *Overlay) ReadBlock(fsblk uint64) (data []byte, ok bool, err error) {
	cs := o.copies[fsblk]
	for i := len(cs) - 1; i >= 0; i-- {
		c := cs[i]
		if c.Revoked {
			continue
		}
		o.mu.Lock()
		known := o.bad[c.JBlock]
		o.mu.Unlock()
		if known {
			continue
		}
		b, err := o.j.readFS(c.FSBlock)
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
	var first *Copy
	var home uint64
	n := 0
	for _, b := range o.blocks {
		for _, c := range o.copies[b] {
			if c.Revoked {
				continue
			}
			d, err := o.j.readFS(c.FSBlock)
			if err != nil {
				return fmt.Errorf("journal block %d: %w", c.JBlock, err)
			}
			t := Tag{Checksum: c.Checksum}
			if !t.VerifyData(o.j.Format, o.j.seed, c.Sequence, d) {
				o.mu.Lock()
				o.bad[c.JBlock] = true
				o.mu.Unlock()
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

// CheckRange refuses a replay that would write past the end of a
// filesystem of blocksCount blocks (the kernel's write would fail).
func (o *Overlay) CheckRange(blocksCount uint64) error {
	if n := len(o.blocks); n > 0 && o.blocks[n-1] >= blocksCount {
		b := o.blocks[n-1]
		c := o.copies[b][len(o.copies[b])-1]
		return super.Errorf(super.ErrCorrupt, fmt.Sprintf("journal block %d", c.JBlock), c.FSBlock, -1,
			"transaction %d logs block %d, past the end of the filesystem (%d blocks)", c.Sequence, b, blocksCount)
	}
	return nil
}
