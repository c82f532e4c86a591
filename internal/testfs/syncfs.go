package testfs

import (
	"os"
	"testing"

	"golang.org/x/sys/unix"
)

// Syncfs commits the filesystem mounted at dir only: a global sync(2)
// would also write home the metadata of crash images other tests are
// building at the same time, spoiling their journal-only captures.
func Syncfs(t testing.TB, dir string) {
	t.Helper()
	f, err := os.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := unix.Syncfs(int(f.Fd())); err != nil {
		t.Fatal(err)
	}
}
