package testfs

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/ext4relink/ext4relink/internal/loopmnt"
)

// MountRead mounts the image read-only and returns sha256 of each path
// (file content, or symlink target).
func MountRead(t testing.TB, img string, paths []string) map[string]string {
	t.Helper()
	m := loopmnt.Must(t, img, "ro")
	defer m.Unmount()
	mnt := m.Dir
	got := map[string]string{}
	for _, p := range paths {
		full := filepath.Join(mnt, p)
		fi, err := os.Lstat(full)
		if err != nil {
			t.Errorf("%s: %v", p, err)
			continue
		}
		var data []byte
		if fi.Mode()&os.ModeSymlink != 0 {
			s, err := os.Readlink(full)
			if err != nil {
				t.Fatal(err)
			}
			data = []byte(s)
		} else if data, err = os.ReadFile(full); err != nil {
			t.Errorf("%s: %v", p, err)
			continue
		}
		got[p] = SHA256(data)
	}
	return got
}
