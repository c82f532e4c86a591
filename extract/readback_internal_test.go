package extract

import (
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
)

// TestReadBackCheck: the check during the copy passes on what was
// written, through O_DIRECT and through the page cache, for aligned and
// unaligned pieces and a tail shorter than a sector, and catches one
// changed byte either way.
func TestReadBackCheck(t *testing.T) {
	f, err := os.Create(filepath.Join(t.TempDir(), "out"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	data := make([]byte, 3<<20+123)
	for i := range data {
		data[i] = byte(rand.Uint32())
	}
	if _, err := f.WriteAt(data, 0); err != nil {
		t.Fatal(err)
	}
	pieces := []piece{
		{off: 0, n: 2 << 20, crc: crcOf(data[:2<<20])},
		{off: 2 << 20, n: len(data) - 2<<20, crc: crcOf(data[2<<20:])},
		{off: 512, n: 1000, crc: crcOf(data[512:1512])}, // not aligned for O_DIRECT
	}
	rb := newReadBack(f, ChunkSize)
	if rb.direct == nil {
		t.Fatalf("cannot open %s with O_DIRECT: the test directory's filesystem must support it", f.Name())
	}
	for _, p := range pieces {
		if ok, err := rb.check(p); !ok || err != nil {
			t.Fatalf("piece %+v: ok %v, %v", p, ok, err)
		}
	}
	if rb.direct == nil {
		t.Fatal("an unaligned piece turned O_DIRECT off for the following ones")
	}
	for _, x := range []int{5, 2<<20 + 77, len(data) - 1, 1000} {
		if _, err := f.WriteAt([]byte{^data[x]}, int64(x)); err != nil {
			t.Fatal(err)
		}
		for _, direct := range []bool{true, false} {
			rb := newReadBack(f, ChunkSize)
			if !direct {
				rb.direct.close()
				rb.direct = nil
			}
			found := false
			for _, p := range pieces {
				_, err := rb.check(p)
				if errors.Is(err, ErrVerify) {
					found = true
				} else if err != nil {
					t.Fatal(err)
				}
			}
			if !found {
				t.Errorf("byte %d changed on disk: not caught (direct %v)", x, direct)
			}
			if direct && rb.direct == nil {
				t.Errorf("byte %d: the read-back fell back from O_DIRECT", x)
			}
			rb.direct.close()
		}
		if _, err := f.WriteAt(data[x:x+1], int64(x)); err != nil {
			t.Fatal(err)
		}
	}
}
