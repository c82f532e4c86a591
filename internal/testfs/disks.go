package testfs

import (
	"compress/gzip"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"testing"
)

// SfdiskImage writes one of parttable's committed sfdisk-made 4 MiB disks
// (parttable/testdata/NAME.img.gz, no filesystem in them) to a temporary
// file and returns its path.
func SfdiskImage(t testing.TB, name string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name+".img")
	if err := os.WriteFile(p, SfdiskBytes(t, name), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// SfdiskBytes returns the bytes of one of parttable's committed disks.
func SfdiskBytes(t testing.TB, name string) []byte {
	t.Helper()
	_, self, _, _ := runtime.Caller(0)
	f, err := os.Open(filepath.Join(filepath.Dir(self), "..", "..", "parttable", "testdata", name+".img.gz"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	z, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(z)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
