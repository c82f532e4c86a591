package extract

import (
	"errors"
	"fmt"
	"hash/crc32"
	"os"
	"sync/atomic"

	"golang.org/x/sys/unix"
)

// readBackSize is the read-back check's read size: large enough that
// system calls cost nothing, small enough that the bytes read are still in
// the CPU cache when the CRC32C runs over them.
const readBackSize = 1 << 20

// readBack is the check that runs during the copy: for each piece the
// writer has written (and started writing back), it waits for the piece
// to reach the output disk, drops it from the page cache and reads it
// back, comparing CRC32Cs. Flushing and reading back one piece while the
// next ones are read and written keeps both disks busy, and the bytes read
// back from a cache-only filesystem (tmpfs) are still in the CPU cache.
type readBack struct {
	f      *os.File
	fd     int
	buf    []byte
	direct *directReader // nil: read back through the page cache
	// off: the output filesystem cannot flush a range (sync_file_range
	// unsupported); the remaining pieces are left to Verify after fsync.
	off     atomic.Bool
	checked int // pieces checked, in order
}

func newReadBack(f *os.File, bufSize uint64) *readBack {
	n := min(bufSize, readBackSize)
	return &readBack{f: f, fd: int(f.Fd()), buf: make([]byte, n), direct: openDirect(f, int(n))}
}

// unsupported reports whether a sync_file_range error means the output
// file cannot be flushed by range (rather than that writing it failed).
func unsupported(err error) bool {
	return errors.Is(err, unix.EINVAL) || errors.Is(err, unix.ESPIPE) || errors.Is(err, unix.ENOSYS) || errors.Is(err, unix.EOPNOTSUPP)
}

// startWriteback asks the kernel to start writing p to the output disk
// (without waiting), so that the disk has work queued while the checker
// waits for an earlier piece.
func (rb *readBack) startWriteback(p piece) error {
	if rb.off.Load() {
		return nil
	}
	err := unix.SyncFileRange(rb.fd, int64(p.off), int64(p.n), unix.SYNC_FILE_RANGE_WRITE)
	switch {
	case err == nil:
		return nil
	case unsupported(err):
		rb.off.Store(true)
		return nil
	}
	return fmt.Errorf("%w: writing %d bytes at offset %d of %s to its disk: %w", ErrOutput, p.n, p.off, rb.f.Name(), err)
}

// run checks the pieces from in, in order, until in is closed. After its
// first failure it only drains in.
func (rb *readBack) run(in <-chan piece, done *atomic.Int64) error {
	defer rb.direct.close()
	var err error
	for p := range in {
		if err != nil || rb.off.Load() {
			continue
		}
		var ok bool
		if ok, err = rb.check(p); err == nil && ok {
			rb.checked++
			if done != nil {
				done.Store(int64(p.off) + int64(p.n))
			}
		}
	}
	return err
}

// check flushes piece p to the output disk, drops its pages and compares
// what reads back with what was written. ok is false (and err nil) when
// the output filesystem cannot flush by range.
func (rb *readBack) check(p piece) (ok bool, err error) {
	err = unix.SyncFileRange(rb.fd, int64(p.off), int64(p.n),
		unix.SYNC_FILE_RANGE_WAIT_BEFORE|unix.SYNC_FILE_RANGE_WRITE|unix.SYNC_FILE_RANGE_WAIT_AFTER)
	switch {
	case unsupported(err):
		rb.off.Store(true)
		return false, nil
	case err != nil:
		// sync_file_range consumed the writeback error: a later fsync
		// would not report it again, so it ends the copy here.
		return false, fmt.Errorf("%w: flushing %d bytes at offset %d of %s: %w", ErrOutput, p.n, p.off, rb.f.Name(), err)
	}
	// Frees the page cache; for the buffered read-back also what makes it
	// come from the disk (best effort: on filesystems that keep the pages,
	// tmpfs, it comes from memory).
	unix.Fadvise(rb.fd, int64(p.off), int64(p.n), unix.FADV_DONTNEED)
	if rb.direct != nil && p.off%directAlign == 0 { // else this piece through the page cache
		crc, ok, err := rb.direct.crc(p)
		switch {
		case err != nil:
			return false, err
		case ok && crc != p.crc:
			return false, mismatch(rb.f, p)
		case ok:
			return true, nil
		}
		// EINVAL or a short read: the page cache from now on.
		rb.direct.close()
		rb.direct = nil
	}
	return true, checkPiece(rb.f, p, rb.buf)
}

func mismatch(f *os.File, p piece) error {
	return fmt.Errorf("%w: %s bytes %d..%d read back differ from what was written", ErrVerify, f.Name(), p.off, p.off+uint64(p.n)-1)
}

// checkPiece reads piece p back from f into buf (in len(buf) reads) and
// compares its CRC32C with the one computed when it was written.
func checkPiece(f *os.File, p piece, buf []byte) error {
	var crc uint32
	for done := 0; done < p.n; {
		n := min(len(buf), p.n-done)
		if _, err := f.ReadAt(buf[:n], int64(p.off)+int64(done)); err != nil {
			return fmt.Errorf("%w: re-reading %s: %v", ErrVerify, f.Name(), err)
		}
		crc = crc32.Update(crc, castagnoli, buf[:n])
		done += n
	}
	if crc != p.crc {
		return mismatch(f, p)
	}
	return nil
}

// Verify reads back every range the copy wrote from f and compares it
// with what was written (CRC32C of each piece), and checks the size. The
// caller flushes and drops the file's cached pages first, so that the
// bytes come from the output disk.
func (res *Result) Verify(f *os.File) error { return res.verifyFrom(f, 0) }

// verifyFrom is Verify of pieces[k:] (the earlier ones were checked
// during the copy), and of the size.
func (res *Result) verifyFrom(f *os.File, k int) error {
	st, err := f.Stat()
	if err != nil {
		return fmt.Errorf("%w: %v", ErrOutput, err)
	}
	if uint64(st.Size()) != res.Size {
		return fmt.Errorf("%w: %s is %d bytes after writing, not %d", ErrVerify, f.Name(), st.Size(), res.Size)
	}
	bufLen := 0
	for _, p := range res.pieces[k:] {
		bufLen = max(bufLen, min(p.n, readBackSize))
	}
	buf := make([]byte, bufLen)
	for _, p := range res.pieces[k:] {
		if err := checkPiece(f, p, buf); err != nil {
			return err
		}
	}
	return nil
}
