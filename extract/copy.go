// Package extract copies files out of an ext4 filesystem without writing
// to it: a file's data, read through a block map and a block reader (the
// replayed journal's view), goes to a new file on another filesystem with
// its holes kept as holes. The copier (CopyData) knows nothing about where
// the map came from, so orphans (engine.FS.BlockMap), salvaged maps of
// damaged trees and inode copies found in the journal all go through it.
package extract

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"sync"
	"sync/atomic"

	"github.com/ext4relink/ext4relink/inode"
	"github.com/ext4relink/ext4relink/internal/devio"
	"golang.org/x/sync/errgroup"
)

// BlockReader reads whole filesystem blocks: len(p)/blocksize contiguous
// blocks from physical block start on. engine.FS implements it (through
// the replayed journal).
type BlockReader interface {
	ReadBlocks(p []byte, start uint64) error
}

// ChunkSize is the largest single read: contiguous physical runs are read
// in pieces of this size (and never smaller, unless the run is).
const ChunkSize = 4 << 20

// chunkBuffers bounds the memory in flight between reader, writer and
// hasher.
const chunkBuffers = 6

// Options tune a copy.
type Options struct {
	BlockSize uint32
	// IgnoreErrors: a block that cannot be read becomes a hole and is
	// listed in Result.Missing, instead of failing the copy.
	IgnoreErrors bool
	// Done, when set, is advanced to the logical offset copied so far (for
	// progress reports): written, and with ReadBack read back too.
	Done *atomic.Int64
	// ReadBack checks the output during the copy: each written piece is
	// flushed to the output disk (sync_file_range), dropped from the page
	// cache and read back, while later pieces are read and written. Pieces
	// the output filesystem cannot flush that way are left to Verify.
	ReadBack bool
}

// Missing is a byte range of the file that could not be read and was left
// as a hole.
type Missing struct {
	Start  uint64
	End    uint64 // exclusive
	Reason string
}

// Result says what a copy did.
type Result struct {
	Size      uint64
	SHA256    string // of the whole content, holes read as zeros
	DataBytes uint64 // bytes written (the rest are holes)
	Missing   []Missing
	pieces    []piece // what was written, for Verify
	checked   int     // pieces[:checked] were read back during the copy (Options.ReadBack)
}

// piece is one written range and the CRC32C of its bytes.
type piece struct {
	off uint64
	n   int
	crc uint32
}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// ErrOutput wraps failures to write the output (a full disk, an I/O
// error): the copy was abandoned.
var ErrOutput = errors.New("cannot write the output")

// chunk is one read: data for logical bytes [off, off+len(buf)), with
// bad sub-ranges (unreadable blocks, zeroed in buf) not to be written.
type chunk struct {
	off uint64
	buf []byte
	bad []Missing // relative to the file, sorted
	mem []byte    // the pool buffer buf lives in
	crc uint32    // CRC32C of buf, when bad is empty (computed by the reader, while buf is in the cache)
	// refs counts the stages (writer, hasher) still using mem.
	refs *atomic.Int32
}

// CopyData writes the first size bytes of the file m maps into out,
// reading data blocks through r: written runs are read in large pieces and
// written at their offsets, holes and unwritten extents are never written
// (out is truncated to size, so they stay holes), blocks mapped past size
// are not read. out must be empty.
//
// Four goroutines overlap: the reader (large reads, CRC32C of each piece
// while it is in the cache), the hasher (sha256 of the bytes as read, in
// logical order; holes from a shared zero buffer), the writer, and, with
// o.ReadBack, the checker, which flushes each written piece, drops it from
// the page cache and reads it back (see readBack).
func CopyData(out *os.File, m *inode.BlockMap, r BlockReader, size uint64, o Options) (*Result, error) {
	bs := uint64(o.BlockSize)
	if bs == 0 || bs&(bs-1) != 0 || ChunkSize%bs != 0 {
		return nil, fmt.Errorf("extract: invalid block size %d", bs)
	}
	for k := 1; k < len(m.Runs); k++ {
		if uint64(m.Runs[k].Logical) < m.Runs[k-1].End() {
			return nil, fmt.Errorf("%w: extract: block map runs out of order or overlapping at logical block %d", devio.ErrInternal, m.Runs[k].Logical)
		}
	}
	if err := out.Truncate(int64(size)); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrOutput, err)
	}
	res := &Result{Size: size}
	p := newPipeline(size, bs)
	var g errgroup.Group
	g.Go(func() error {
		defer p.closeReader()
		err := readRuns(m, r, size, bs, p.bufSize, o.IgnoreErrors, p)
		if err != nil {
			p.abort()
		}
		return err
	})
	h := sha256.New()
	g.Go(func() error {
		var pos uint64
		for c := range p.toHash {
			hashZeros(h, c.off-pos)
			h.Write(c.buf)
			pos = c.off + uint64(len(c.buf))
			res.Missing = append(res.Missing, c.bad...)
			p.release(c)
		}
		hashZeros(h, size-min(pos, size))
		return nil
	})
	var rb *readBack
	if o.ReadBack {
		rb = newReadBack(out, p.bufSize)
		g.Go(func() error {
			err := rb.run(p.toCheck, o.Done)
			if err != nil {
				p.abort()
			}
			return err
		})
	}
	g.Go(func() error {
		defer close(p.toCheck)
		err := res.writeAll(out, p, rb, o.Done)
		if err != nil {
			p.abort()
		}
		return err
	})
	if err := g.Wait(); err != nil {
		return nil, err
	}
	if rb != nil {
		res.checked = rb.checked
	}
	res.SHA256 = fmt.Sprintf("%x", h.Sum(nil))
	return res, nil
}

// writeAll writes the chunks the reader sends, in order, and passes each
// written piece on to the checker (with rb) as soon as its writeback has
// been started. After an abort it only drains.
func (res *Result) writeAll(out *os.File, p *pipeline, rb *readBack, done *atomic.Int64) error {
	for c := range p.toWrite {
		if p.stopped.Load() {
			p.release(c)
			continue
		}
		first := len(res.pieces)
		err := res.write(out, c)
		p.release(c)
		if err != nil {
			return err
		}
		if rb == nil || rb.off.Load() {
			// Nothing reads back during the copy (any more): progress is
			// what was written.
			if done != nil {
				done.Store(int64(c.off) + int64(len(c.buf)))
			}
			continue
		}
		for _, pc := range res.pieces[first:] {
			if err := rb.startWriteback(pc); err != nil {
				return err
			}
			select {
			case p.toCheck <- pc:
			case <-p.stop:
				return nil
			}
		}
	}
	return nil
}

// pipeline is what the copy's goroutines share: the buffers and the
// channels between the stages.
type pipeline struct {
	bufSize uint64
	pool    chan []byte
	toWrite chan chunk
	toHash  chan chunk
	toCheck chan piece
	stop    chan struct{}
	stopped atomic.Bool
}

// checkAhead bounds how many written pieces may wait for the read-back
// check (the writer blocks beyond it): 16 pieces, at most 64 MiB of dirty
// pages in flight to the output disk.
const checkAhead = 16

func newPipeline(size, bs uint64) *pipeline {
	// Buffers sized to the file: a copy of thousands of small files must
	// not allocate 24 MiB for each.
	bufSize := min(uint64(ChunkSize), (size+bs-1)/bs*bs)
	nbuf := 1
	if bufSize > 0 {
		nbuf = int(min(uint64(chunkBuffers), max(1, (size+bufSize-1)/bufSize)))
	}
	p := &pipeline{bufSize: bufSize, pool: make(chan []byte, nbuf),
		toWrite: make(chan chunk, chunkBuffers), toHash: make(chan chunk, chunkBuffers),
		toCheck: make(chan piece, checkAhead), stop: make(chan struct{})}
	for range nbuf {
		p.pool <- make([]byte, bufSize)
	}
	return p
}

func (p *pipeline) abort() {
	if p.stopped.CompareAndSwap(false, true) {
		close(p.stop)
	}
}

// send hands c to the writer and the hasher; false when the copy was
// abandoned.
func (p *pipeline) send(c chunk) bool {
	c.refs = new(atomic.Int32)
	c.refs.Store(2)
	for _, to := range []chan chunk{p.toHash, p.toWrite} {
		select {
		case to <- c:
		case <-p.stop:
			return false
		}
	}
	return true
}

// release returns c's buffer to the pool once both the writer and the
// hasher are done with it.
func (p *pipeline) release(c chunk) {
	if c.refs.Add(-1) == 0 {
		p.pool <- c.mem
	}
}

func (p *pipeline) closeReader() {
	close(p.toWrite)
	close(p.toHash)
}

// zeros is made on first use: a package-level 1 MiB slice counted
// towards the first garbage collection of every command, list included.
var zeros = sync.OnceValue(func() []byte { return make([]byte, 1<<20) })

func hashZeros(w io.Writer, n uint64) {
	z := zeros()
	for n > 0 {
		k := min(n, uint64(len(z)))
		w.Write(z[:k])
		n -= k
	}
}

// write writes the readable parts of c at their offsets.
func (res *Result) write(out *os.File, c chunk) error {
	if len(c.bad) == 0 {
		if _, err := out.WriteAt(c.buf, int64(c.off)); err != nil {
			return fmt.Errorf("%w: writing %d bytes at offset %d of %s: %w", ErrOutput, len(c.buf), c.off, out.Name(), err)
		}
		res.DataBytes += uint64(len(c.buf))
		res.pieces = append(res.pieces, piece{off: c.off, n: len(c.buf), crc: c.crc})
		return nil
	}
	start := c.off
	end := c.off + uint64(len(c.buf))
	for _, b := range append(c.bad, Missing{Start: end, End: end}) {
		if b.Start > start {
			p := c.buf[start-c.off : b.Start-c.off]
			if _, err := out.WriteAt(p, int64(start)); err != nil {
				return fmt.Errorf("%w: writing %d bytes at offset %d of %s: %w", ErrOutput, len(p), start, out.Name(), err)
			}
			res.DataBytes += uint64(len(p))
			res.pieces = append(res.pieces, piece{off: start, n: len(p), crc: crc32.Checksum(p, castagnoli)})
		}
		start = max(start, b.End)
	}
	return nil
}

// readRuns reads every written run below size in chunks, in logical order,
// and sends them to the writer and the hasher. Buffers come from p.pool.
func readRuns(m *inode.BlockMap, r BlockReader, size, bs, chunkSize uint64, ignore bool, p *pipeline) error {
	for _, run := range coalesce(m.Runs) {
		lo := uint64(run.Logical) * bs
		if lo >= size {
			break
		}
		hi := min(run.End()*bs, (size+bs-1)/bs*bs)
		for off := lo; off < hi; off += chunkSize {
			n := min(chunkSize, hi-off)
			var mem []byte
			select {
			case mem = <-p.pool:
			case <-p.stop:
				return nil
			}
			c := chunk{off: off, buf: mem[:n], mem: mem}
			if err := readChunk(r, &c, run.Physical+(off-lo)/bs, size, bs, ignore); err != nil {
				return err
			}
			if !p.send(c) {
				return nil
			}
		}
	}
	return nil
}

// readStep is the size of one read within a chunk: the CRC32C of each step
// is computed right after its read, while the bytes are still in the CPU
// cache (over a whole 4 MiB chunk it costs twice as much).
const readStep = 512 << 10

// readChunk fills c.buf from physical block phys on, in readStep reads,
// and computes its CRC32C. With ignore, a failed read is retried block by
// block and the unreadable blocks are zeroed and listed in c.bad. The
// last block's tail past size is cut off c.buf.
func readChunk(r BlockReader, c *chunk, phys, size, bs uint64, ignore bool) error {
	n := uint64(len(c.buf))
	keep := min(n, size-c.off)
	var crc uint32
	for s := uint64(0); s < n; s += readStep {
		e := min(s+readStep, n)
		part := c.buf[s:e]
		if err := r.ReadBlocks(part, phys+s/bs); err != nil {
			if !ignore {
				return fmt.Errorf("reading file bytes %d..%d (blocks %d..%d): %w", c.off+s, c.off+e-1, phys+s/bs, phys+e/bs-1, err)
			}
			for _, b := range readEach(r, part, phys+s/bs, c.off+s, bs) {
				if k := len(c.bad); k > 0 && c.bad[k-1].End == b.Start {
					c.bad[k-1].End = b.End
					continue
				}
				c.bad = append(c.bad, b)
			}
		}
		if s < keep {
			crc = crc32.Update(crc, castagnoli, part[:min(e, keep)-s])
		}
	}
	c.buf = c.buf[:keep]
	clipBad(c)
	c.crc = crc // used only when c.bad is empty
	return nil
}

// span is a run of written blocks, logically and physically contiguous.
type span struct {
	Logical, Len, Physical uint64
}

func (s span) End() uint64 { return s.Logical + s.Len }

// coalesce drops unwritten runs and joins written ones that continue each
// other both logically and physically (an extent map keeps one run per
// on-disk extent, at most 128 MiB, and the kernel often lays them end to
// end), so that reads are as large as the layout allows.
func coalesce(runs []inode.Run) []span {
	var out []span
	for _, r := range runs {
		if r.Unwritten {
			continue
		}
		if n := len(out); n > 0 && out[n-1].End() == uint64(r.Logical) && out[n-1].Physical+out[n-1].Len == r.Physical {
			out[n-1].Len += uint64(r.Len)
			continue
		}
		out = append(out, span{Logical: uint64(r.Logical), Len: uint64(r.Len), Physical: r.Physical})
	}
	return out
}

// readEach reads buf block by block after a failed large read, zeroing
// the blocks that fail, and returns them as merged file ranges.
func readEach(r BlockReader, buf []byte, phys, off, bs uint64) []Missing {
	var bad []Missing
	for i := uint64(0); i*bs < uint64(len(buf)); i++ {
		b := buf[i*bs : (i+1)*bs]
		err := r.ReadBlocks(b, phys+i)
		if err == nil {
			continue
		}
		clear(b)
		s, e := off+i*bs, off+(i+1)*bs
		if n := len(bad); n > 0 && bad[n-1].End == s {
			bad[n-1].End = e
			continue
		}
		bad = append(bad, Missing{Start: s, End: e, Reason: fmt.Sprintf("block %d: %v", phys+i, err)})
	}
	return bad
}

// clipBad cuts bad ranges to the chunk's (possibly shortened) end.
func clipBad(c *chunk) {
	end := c.off + uint64(len(c.buf))
	kept := c.bad[:0]
	for _, b := range c.bad {
		if b.Start < end {
			b.End = min(b.End, end)
			kept = append(kept, b)
		}
	}
	c.bad = kept
}

// ErrVerify: what was read back from the output is not what was written.
var ErrVerify = errors.New("the output does not read back as written")
