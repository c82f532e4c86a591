package devio

import (
	"errors"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/ext4relink/ext4relink/fixtures"
)

func sh(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %v: %v\n%s", name, args, err, out)
	}
	return strings.TrimSpace(string(out))
}

func TestParseMountinfo(t *testing.T) {
	m, ok := ParseMountinfoLine(`36 35 7:3 / /mnt/with\040space rw,relatime shared:1 - ext4 /dev/loop3 ro,seclabel`)
	if !ok || m.MountPoint != "/mnt/with space" || !m.SuperReadOnly || m.ReadOnly || m.Source != "/dev/loop3" || m.Dev != 7<<8|3 || m.FSType != "ext4" {
		t.Fatalf("%+v %v", m, ok)
	}
	for _, bad := range []string{"", "1 2 3", "1 2 x:y / /m rw - ext4 s rw", "1 2 7:3 / /m rw"} {
		if _, ok := ParseMountinfoLine(bad); ok {
			t.Errorf("accepted %q", bad)
		}
	}
}

func TestOpenRefusesBadPaths(t *testing.T) {
	for _, p := range []string{"/nonexistent/dev", t.TempDir(), "/dev/null"} {
		_, _, err := Open(p, Options{Mode: ReadOnly})
		if !errors.Is(err, ErrDevice) {
			t.Errorf("%s: %v", p, err)
		}
	}
}

// TestMountDetection loop-mounts a real image read-only and read-write and
// checks that writers are refused with the mount point named, through both
// the image file and the loop block device.
func TestMountDetection(t *testing.T) {
	img := fixtures.Get(t, "ext4-4k-freeze").Copy(t)
	loop := sh(t, "losetup", "-f", "--show", img)
	defer sh(t, "losetup", "-d", loop)

	// Attached but not mounted: an image writer is refused, the block device opens exclusively.
	if _, _, err := Open(img, Options{Mode: ReadWrite}); !errors.Is(err, ErrBusy) || !strings.Contains(err.Error(), loop) {
		t.Fatalf("attached loop not reported: %v", err)
	}
	d, _, err := Open(loop, Options{Mode: ReadWrite})
	if err != nil {
		t.Fatalf("unmounted loop device: %v", err)
	}
	d.Close()

	mnt := t.TempDir()
	sh(t, "mount", "-o", "ro,noload", loop, mnt)
	for _, p := range []string{img, loop} {
		_, _, err := Open(p, Options{Mode: ReadWrite})
		if !errors.Is(err, ErrBusy) || !strings.Contains(err.Error(), mnt) || !strings.Contains(err.Error(), "read-only") {
			t.Fatalf("%s ro-mounted: %v", p, err)
		}
		d, use, err := Open(p, Options{Mode: ReadWrite, AllowReadOnlyMount: true})
		if p == img {
			// An image file's mount can always be undone: --allow-ro-mount
			// is only for block devices.
			if !errors.Is(err, ErrBusy) || !strings.Contains(err.Error(), "only for a block device") {
				t.Fatalf("%s ro-mounted with --allow-ro-mount: %v", p, err)
			}
		} else {
			if err != nil || len(use.Mounts) != 1 {
				t.Fatalf("%s ro-mounted with --allow-ro-mount: %v %+v", p, err, use)
			}
			d.Close()
		}
		d, _, err = Open(p, Options{Mode: ReadOnly})
		if err != nil {
			t.Fatalf("read-only open of a mounted device: %v", err)
		}
		d.Close()
	}
	sh(t, "umount", mnt)

	sh(t, "mount", loop, mnt)
	defer exec.Command("umount", mnt).Run()
	for _, p := range []string{img, loop} {
		_, _, err := Open(p, Options{Mode: ReadWrite, AllowReadOnlyMount: true})
		if !errors.Is(err, ErrBusy) || !strings.Contains(err.Error(), "read-write at "+mnt) {
			t.Fatalf("%s rw-mounted: %v", p, err)
		}
	}
}

func TestImageLock(t *testing.T) {
	img := fixtures.Get(t, "ext4-4k-freeze").Copy(t)
	d, _, err := Open(img, Options{Mode: ReadWrite})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if _, _, err := Open(img, Options{Mode: ReadWrite}); !errors.Is(err, ErrBusy) {
		t.Fatalf("second writer not refused: %v", err)
	}
	if _, _, err := Open(img, Options{Mode: ReadOnly}); !errors.Is(err, ErrBusy) {
		t.Fatalf("reader during a write not refused: %v", err)
	}
	if fi, _ := os.Stat(img); d.Size() != fi.Size() {
		t.Fatal("size")
	}
}
