package engine

import (
	"fmt"
	"slices"

	"github.com/ext4relink/ext4relink/bitmap"
	"github.com/ext4relink/ext4relink/journal"
	"github.com/ext4relink/ext4relink/super"
)

// bitHistory answers whether a block was taken since a transaction: set
// in the current block bitmap (through the replayed journal), or set in a
// logged copy of its bitmap newer than a copy in which it was clear.
type bitHistory struct {
	fs     *FS
	h      *journal.History
	groups map[uint64]*groupBits
}

// groupBits is one group's block bitmap now and its logged copies.
type groupBits struct {
	now    []byte // nil: BLOCK_UNINIT (only the group's own metadata in use)
	copies []bitCopy
}

// bitCopy is one logged copy of a block bitmap, read on first use.
type bitCopy struct {
	l    journal.Logged
	data []byte
	err  error
	read bool
}

func newBitHistory(fs *FS, h *journal.History) *bitHistory {
	return &bitHistory{fs: fs, h: h, groups: map[uint64]*groupBits{}}
}

func (bh *bitHistory) group(g uint64) (*groupBits, error) {
	if gb, ok := bh.groups[g]; ok {
		return gb, nil
	}
	fs := bh.fs
	gd, err := fs.GroupDesc(g)
	if err != nil {
		return nil, err
	}
	gb := &groupBits{}
	if !fs.SB.BlockUninit(gd) {
		b, err := fs.ReadBlock(gd.BlockBitmap())
		if err != nil {
			return nil, err
		}
		if !bitmap.VerifyBlockBitmap(fs.SB, gd, b) {
			return nil, super.Errorf(super.ErrChecksum, fmt.Sprintf("block bitmap of group %d", g), gd.BlockBitmap(), -1,
				"checksum does not match the group descriptor's")
		}
		gb.now = b
	}
	vs := bh.fs.versions(bh.h, gd.BlockBitmap())
	slices.Reverse(vs) // oldest first
	for _, l := range vs {
		gb.copies = append(gb.copies, bitCopy{l: l})
	}
	bh.groups[g] = gb
	return gb, nil
}

// takenSince reports whether block b is in use now, or was taken (set
// after being seen clear) in a transaction newer than seq.
func (bh *bitHistory) takenSince(b uint64, seq uint32) (bool, error) {
	sb := bh.fs.SB
	if b < uint64(sb.FirstDataBlock) || b >= sb.BlocksCount() {
		return true, nil
	}
	g, idx := sb.GroupOfBlock(b)
	gb, err := bh.group(g)
	if err != nil {
		return false, err
	}
	if gb.now != nil && bitmap.Test(gb.now, idx) {
		return true, nil
	}
	seenClear := false
	for i := range gb.copies {
		c := &gb.copies[i]
		if int32(c.l.Sequence-seq) <= 0 {
			continue
		}
		if !c.read {
			c.data, c.err, c.read = readCopy(bh.h, c.l)
		}
		if c.err != nil {
			return true, nil // unreadable now: it may have been taken
		}
		set := bitmap.Test(c.data, idx)
		if !set {
			seenClear = true
		} else if seenClear {
			return true, nil
		}
	}
	return false, nil
}

func readCopy(h *journal.History, l journal.Logged) ([]byte, error, bool) {
	b, err := h.Read(l)
	return b, err, true
}
