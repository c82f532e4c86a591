package devio

import (
	"os"
	"path/filepath"
	"testing"
)

// TestDataFrom: in a sparse image file, DataFrom skips holes and stops at
// data; inside a section it counts from the section's start and stops at
// its end; at data or past the end it says nothing.
func TestDataFrom(t *testing.T) {
	img := filepath.Join(t.TempDir(), "sparse.img")
	f, err := os.Create(img)
	if err != nil {
		t.Fatal(err)
	}
	const mib = 1 << 20
	data := make([]byte, 4096)
	for i := range data {
		data[i] = 0xAB
	}
	for _, off := range []int64{0, 4 * mib} { // data at 0 and at 4 MiB, 8 MiB in all
		if _, err := f.WriteAt(data, off); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.Truncate(8 * mib); err != nil {
		t.Fatal(err)
	}
	f.Close()
	d, _, err := Open(img, Options{Mode: ReadOnly})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	// Filesystems report holes at their own granularity: data is never
	// reported later than where it is, and a hole never past it.
	if got := d.DataFrom(0); got != 0 {
		t.Fatalf("DataFrom(0) = %d, want 0 (data)", got)
	}
	if got := d.DataFrom(mib); got < mib || got > 4*mib {
		t.Fatalf("DataFrom(1 MiB) = %d, want in [1 MiB, 4 MiB]", got)
	} else if got == mib {
		t.Fatalf("the filesystem of %s reports no holes (SEEK_DATA): DataFrom is not tested", img)
	}
	if got := d.DataFrom(4 * mib); got != 4*mib {
		t.Fatalf("DataFrom(4 MiB) = %d, want 4 MiB (data)", got)
	}
	if got := d.DataFrom(6 * mib); got < 6*mib || got > 8*mib {
		t.Fatalf("DataFrom(6 MiB) = %d, want in [6 MiB, 8 MiB]", got)
	}
	if got := d.DataFrom(9 * mib); got != 9*mib {
		t.Fatalf("DataFrom past the end = %d", got)
	}
	d.Close()
	s, _, err := Open(img, Options{Mode: ReadOnly, UseOffset: true, Offset: mib})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if got := s.DataFrom(0); got < 0 || got > 3*mib {
		t.Fatalf("section: DataFrom(0) = %d, want in [0, 3 MiB]", got)
	}
	if got := s.DataFrom(3 * mib); got != 3*mib {
		t.Fatalf("section: DataFrom(3 MiB) = %d, want 3 MiB (data)", got)
	}
	if got := s.DataFrom(5 * mib); got < 5*mib || got > 7*mib {
		t.Fatalf("section: DataFrom(5 MiB) = %d, want in [5 MiB, 7 MiB]", got)
	}
}
