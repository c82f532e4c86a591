package ext4fs

import (
	"github.com/ext4relink/ext4relink/internal/devio"
	"github.com/ext4relink/ext4relink/super"
)

// ReadBlocks fills p (a whole number of blocks) with the len(p)/blocksize
// blocks from start on, as the view shows them: one device read for the
// whole run (past the device cache), then every block a higher layer
// (journal replay, fast-commit replay) holds copied over it. It is
// ReadBlock for large contiguous runs (a file copy). It allocates nothing
// and copies each byte once, except the blocks a higher layer holds (read
// by that layer, then copied over).
func (fs *FS) ReadBlocks(p []byte, start uint64) error {
	bs := uint64(fs.bs)
	n := uint64(len(p)) / bs
	if uint64(len(p))%bs != 0 {
		return super.Errorf(devio.ErrInternal, "block read", start, -1, "buffer of %d bytes is not a whole number of %d-byte blocks", len(p), bs)
	}
	if end := fs.SB.BlocksCount(); start >= end || n > end-start {
		return super.Errorf(super.ErrCorrupt, "block reference", start, -1,
			"blocks %d..%d run beyond the end of the filesystem (%d blocks)", start, start+n-1, end)
	}
	if _, err := fs.dev.dev.ReadAt(p, int64(start*bs)); err != nil {
		return err
	}
	// The layers above the device, looked up once per call (not per
	// block); a view without any needs no per-block work at all.
	var upper [numLayers]Source
	k := 0
	for l := fs.top; l > LayerDevice; l-- {
		if src := fs.source(l); src != nil {
			upper[k] = src
			k++
		}
	}
	for i := range n {
		for _, src := range upper[:k] {
			b, ok, err := src.ReadBlock(start + i)
			if err != nil {
				return err
			}
			if ok {
				copy(p[i*bs:(i+1)*bs], b)
				break
			}
		}
	}
	return nil
}
