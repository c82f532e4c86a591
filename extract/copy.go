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
	// progress reports).
	Done *atomic.Int64
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
	crc uint32    // CRC32C of buf, when bad is empty (computed by the reader, which has time to spare)
}

// CopyData writes the first size bytes of the file m maps into out,
// reading data blocks through r: written runs are read in large pieces and
// written at their offsets, holes and unwritten extents are never written
// (out is truncated to size, so they stay holes), blocks mapped past size
// are not read. Reading, writing and hashing overlap. out must be empty.
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
	// Buffers sized to the file: a copy of thousands of small files must
	// not allocate 24 MiB for each.
	bufSize := min(uint64(ChunkSize), (size+bs-1)/bs*bs)
	nbuf := 1
	if bufSize > 0 {
		nbuf = int(min(uint64(chunkBuffers), max(1, (size+bufSize-1)/bufSize)))
	}
	pool := make(chan []byte, nbuf)
	for range nbuf {
		pool <- make([]byte, bufSize)
	}
	toWrite := make(chan chunk, chunkBuffers)
	toHash := make(chan chunk, chunkBuffers)
	h := sha256.New()
	var g errgroup.Group
	stop := make(chan struct{})
	var stopped atomic.Bool
	abort := func() {
		if stopped.CompareAndSwap(false, true) {
			close(stop)
		}
	}
	g.Go(func() error {
		defer close(toWrite)
		err := readRuns(m, r, size, bs, bufSize, o.IgnoreErrors, pool, toWrite, stop)
		if err != nil {
			abort()
		}
		return err
	})
	g.Go(func() error {
		defer close(toHash)
		for c := range toWrite {
			if stopped.Load() {
				continue
			}
			if err := res.write(out, c); err != nil {
				abort()
				return err
			}
			if o.Done != nil {
				o.Done.Store(int64(c.off) + int64(len(c.buf)))
			}
			toHash <- c
		}
		return nil
	})
	g.Go(func() error {
		var pos uint64
		for c := range toHash {
			hashZeros(h, c.off-pos)
			h.Write(c.buf)
			pos = c.off + uint64(len(c.buf))
			res.Missing = append(res.Missing, c.bad...)
			pool <- c.mem
		}
		hashZeros(h, size-min(pos, size))
		return nil
	})
	if err := g.Wait(); err != nil {
		return nil, err
	}
	res.SHA256 = fmt.Sprintf("%x", h.Sum(nil))
	return res, nil
}

var zeros = make([]byte, 1<<20)

func hashZeros(w io.Writer, n uint64) {
	for n > 0 {
		k := min(n, uint64(len(zeros)))
		w.Write(zeros[:k])
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
// and sends them to out. Buffers come from pool.
func readRuns(m *inode.BlockMap, r BlockReader, size, bs, chunkSize uint64, ignore bool, pool chan []byte, out chan<- chunk, stop <-chan struct{}) error {
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
			case mem = <-pool:
			case <-stop:
				return nil
			}
			phys := run.Physical + (off-lo)/bs
			c := chunk{off: off, buf: mem[:n], mem: mem}
			if err := r.ReadBlocks(c.buf, phys); err != nil {
				if !ignore {
					pool <- mem
					return fmt.Errorf("reading file bytes %d..%d (blocks %d..%d): %w", off, off+n-1, phys, phys+n/bs-1, err)
				}
				c.bad = readEach(r, c.buf, phys, off, bs)
			}
			c.buf = c.buf[:min(n, size-off)] // the last block's tail past size
			clipBad(&c)
			if len(c.bad) == 0 {
				c.crc = crc32.Checksum(c.buf, castagnoli)
			}
			select {
			case out <- c:
			case <-stop:
				return nil
			}
		}
	}
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

// Verify reads back every range the copy wrote from path and compares it
// with what was written (CRC32C of each piece), and checks the size. The
// caller flushes and drops the file's cached pages first, so that the
// bytes come from the output disk.
func (res *Result) Verify(f *os.File) error {
	st, err := f.Stat()
	if err != nil {
		return fmt.Errorf("%w: %v", ErrOutput, err)
	}
	if uint64(st.Size()) != res.Size {
		return fmt.Errorf("%w: %s is %d bytes after writing, not %d", ErrVerify, f.Name(), st.Size(), res.Size)
	}
	// Two readers: on a warm cache the check is CPU-bound (CRC32C), on a
	// disk two requests in flight help too.
	bufLen := 0
	for _, p := range res.pieces {
		bufLen = max(bufLen, min(p.n, ChunkSize))
	}
	var g errgroup.Group
	for w := range 2 {
		g.Go(func() error {
			buf := make([]byte, bufLen)
			for k := w; k < len(res.pieces); k += 2 {
				p := res.pieces[k]
				crc, err := crcAt(f, p, buf)
				if err != nil {
					return fmt.Errorf("%w: re-reading %s: %v", ErrVerify, f.Name(), err)
				}
				if crc != p.crc {
					return fmt.Errorf("%w: %s bytes %d..%d read back differ from what was written", ErrVerify, f.Name(), p.off, p.off+uint64(p.n)-1)
				}
			}
			return nil
		})
	}
	return g.Wait()
}

func crcAt(f *os.File, p piece, buf []byte) (uint32, error) {
	var crc uint32
	for done := 0; done < p.n; {
		n := min(len(buf), p.n-done)
		if _, err := f.ReadAt(buf[:n], int64(p.off)+int64(done)); err != nil {
			return 0, err
		}
		crc = crc32.Update(crc, castagnoli, buf[:n])
		done += n
	}
	return crc, nil
}

// ErrVerify: what was read back from the output is not what was written.
var ErrVerify = errors.New("the output does not read back as written")
