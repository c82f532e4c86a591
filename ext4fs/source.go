package ext4fs

import (
	"fmt"
	"maps"
	"slices"
)

// The block-source stack. A block is read from the highest layer that
// holds it:
//
//	pending changes  (a Tx: what a plan or the fast-commit replay writes)
//	fast commit      (LayerFastCommit: the blocks the fast-commit replay changed)
//	jbd2 journal     (LayerJournal: the replayed log, journal.Overlay)
//	device           (LayerDevice: the disk, through a bounded cache)
//
// FS reads the three lower layers; a View (FS.Below) reads only some of
// them, with its own group-descriptor cache. A Tx sits on top of a view.

// Layer names one source of the stack, lowest first.
type Layer int

// The layers an FS reads, lowest first.
const (
	LayerDevice Layer = iota
	LayerJournal
	LayerFastCommit
	numLayers
)

func (l Layer) String() string {
	switch l {
	case LayerDevice:
		return "device"
	case LayerJournal:
		return "journal"
	case LayerFastCommit:
		return "fast commit"
	}
	return fmt.Sprintf("layer %d", int(l))
}

// Source is one layer: ReadBlock returns block n when the layer holds it
// (ok false: look further down). Callers never modify what it returns.
type Source interface {
	ReadBlock(n uint64) (data []byte, ok bool, err error)
}

// cacheLimit bounds the device block cache (entries).
const cacheLimit = 1 << 14

// devSource is the bottom layer: the device, with a cache of the blocks
// already read (writes through FS.WriteBlock drop their entry). Views of
// one FS share it.
type devSource struct {
	dev   Dev
	bs    uint32
	cache map[uint64][]byte
}

func (d *devSource) ReadBlock(n uint64) ([]byte, bool, error) {
	if b, ok := d.cache[n]; ok {
		return b, true, nil
	}
	b := make([]byte, d.bs)
	if _, err := d.dev.ReadAt(b, int64(n)*int64(d.bs)); err != nil {
		return nil, false, err
	}
	if d.cache == nil || len(d.cache) >= cacheLimit {
		d.cache = map[uint64][]byte{}
	}
	d.cache[n] = b
	return b, true, nil
}

// BlockSet is a layer made of whole blocks held in memory (the fast-commit
// replay's result).
type BlockSet map[uint64][]byte

// ReadBlock implements Source.
func (s BlockSet) ReadBlock(n uint64) ([]byte, bool, error) {
	b, ok := s[n]
	return b, ok, nil
}

// Blocks lists the block numbers in the set, in order.
func (s BlockSet) Blocks() []uint64 { return slices.Sorted(maps.Keys(s)) }
