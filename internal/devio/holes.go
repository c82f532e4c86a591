package devio

import (
	"errors"

	"golang.org/x/sys/unix"
)

// DataFrom returns the first offset at or after off (relative to the
// section) where the image file may hold data: the bytes [off, result) are
// a hole and read as zeros (SEEK_DATA). Readers that look for something
// non-zero, such as the journal's history looking for block headers, skip
// them unread: the never-written tail of a sparse image's journal costs
// nothing. A block device, an offset outside the device, or a filesystem
// that does not say, gives off itself (nothing is known to be a hole).
func (d *Device) DataFrom(off int64) int64 {
	if d.isBlock || off < 0 || off >= d.size {
		return off
	}
	end := d.base + d.size
	pos := off
	rc, err := d.f.SyscallConn()
	if err != nil {
		return off
	}
	cerr := rc.Control(func(fd uintptr) {
		p, err := unix.Seek(int(fd), d.base+off, unix.SEEK_DATA)
		switch {
		case errors.Is(err, unix.ENXIO):
			// No data from there to the end of the file: a hole up to
			// its end as it is now (past it, reads fail as before).
			var st unix.Stat_t
			if unix.Fstat(int(fd), &st) == nil {
				pos = max(off, min(end, st.Size)-d.base)
			}
		case err == nil:
			pos = min(p, end) - d.base
		}
	})
	if cerr != nil || pos < off {
		return off
	}
	return pos
}
