package extract

import (
	"errors"
	"fmt"
	"hash/crc32"
	"os"
	"unsafe"

	"golang.org/x/sys/unix"
)

// directAlign is the alignment of the read-back's O_DIRECT reads (buffer
// address, file offset, length): enough for disks of 512- and 4096-byte
// sectors.
const directAlign = 4096

// directReader reads the output back with O_DIRECT: from the disk whatever
// the page cache holds (FADV_DONTNEED is only a hint), and into the
// buffer by DMA, without a copy through the page cache.
type directReader struct {
	f   *os.File
	buf []byte // directAlign-aligned
}

// openDirect reopens the output (the same inode, through /proc/self/fd)
// with O_DIRECT; nil when that is not possible (no /proc, a filesystem
// without direct I/O): the read-back then goes through the page cache.
func openDirect(out *os.File, size int) *directReader {
	size = (size + directAlign - 1) / directAlign * directAlign
	f, err := os.OpenFile(fmt.Sprintf("/proc/self/fd/%d", out.Fd()), os.O_RDONLY|unix.O_DIRECT, 0)
	if err != nil {
		return nil
	}
	raw := make([]byte, size+directAlign)
	k := (directAlign - int(uintptr(unsafe.Pointer(&raw[0]))%directAlign)) % directAlign
	return &directReader{f: f, buf: raw[k : k+size]}
}

func (d *directReader) close() {
	if d != nil {
		d.f.Close()
	}
}

// crc reads piece p (at an aligned offset) back with O_DIRECT and returns
// its CRC32C. ok is false when the kernel refuses (EINVAL) or reads short:
// the caller reads it through the page cache instead.
func (d *directReader) crc(p piece) (crc uint32, ok bool, err error) {
	if p.off%directAlign != 0 {
		return 0, false, nil
	}
	fd := int(d.f.Fd())
	for done := 0; done < p.n; {
		want := min(len(d.buf), p.n-done)
		n, err := preadRetry(fd, d.buf[:(want+directAlign-1)/directAlign*directAlign], int64(p.off)+int64(done))
		switch {
		case errors.Is(err, unix.EINVAL), err == nil && n < want:
			return 0, false, nil
		case err != nil:
			return 0, true, fmt.Errorf("%w: re-reading %s: %v", ErrVerify, d.f.Name(), err)
		}
		crc = crc32.Update(crc, castagnoli, d.buf[:want])
		done += want
	}
	return crc, true, nil
}

func preadRetry(fd int, b []byte, off int64) (int, error) {
	for {
		n, err := unix.Pread(fd, b, off)
		if !errors.Is(err, unix.EINTR) {
			return n, err
		}
	}
}
