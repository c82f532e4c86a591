package testfs

import (
	"os"
	"testing"

	"golang.org/x/sys/unix"
)

// Range is a byte range [Start, End).
type Range struct{ Start, End int64 }

// DataRanges lists the parts of the file at path that hold data, as the
// filesystem reports them (SEEK_DATA/SEEK_HOLE): holes are left out.
func DataRanges(t testing.TB, path string) []Range {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	var out []Range
	fd := int(f.Fd())
	for off := int64(0); off < st.Size(); {
		data, err := unix.Seek(fd, off, unix.SEEK_DATA)
		if err != nil {
			break // ENXIO: no data past off
		}
		hole, err := unix.Seek(fd, data, unix.SEEK_HOLE)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, Range{data, hole})
		off = hole
	}
	return out
}

// AllocatedBytes is the space the file at path occupies (st_blocks * 512).
func AllocatedBytes(t testing.TB, path string) int64 {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Lstat(path, &st); err != nil {
		t.Fatal(err)
	}
	return st.Blocks * 512
}
