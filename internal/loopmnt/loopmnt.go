// Package loopmnt mounts test images on loop devices the tests own.
//
// `mount -o loop IMG` lets libmount reuse a loop device that is still
// attached to the same backing file. After a read-only mount the kernel
// detaches an autoclear loop device asynchronously, so a following
// read-write `mount -o loop` of the same image can silently land on the old
// read-only device and come up read-only ("read-only file system" on the
// first write, seen in CI). Attaching a fresh device with losetup and
// detaching it ourselves removes that race.
package loopmnt

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// Mounted is one image attached to its own loop device and mounted.
type Mounted struct {
	Dir  string // mount point
	Loop string // /dev/loopN
	t    testing.TB
	done bool
}

// Try attaches img to a new loop device (read-only when opts has "ro") and
// mounts it as ext4 with opts at a fresh temporary directory. On failure
// the loop device is detached again and mount's output is returned, so
// tests that expect the kernel to refuse can inspect it. A successful mount
// is unmounted at test cleanup unless Unmount was called.
func Try(t testing.TB, img, opts string) (*Mounted, []byte, error) {
	t.Helper()
	m := &Mounted{Dir: t.TempDir(), Loop: losetup(t, img, slices.Contains(strings.Split(opts, ","), "ro")), t: t}
	margs := []string{"-t", "ext4"}
	if opts != "" {
		margs = append(margs, "-o", opts)
	}
	if out, err := exec.Command("mount", append(margs, m.Loop, m.Dir)...).CombinedOutput(); err != nil {
		exec.Command("losetup", "-d", m.Loop).Run()
		return nil, out, fmt.Errorf("mount -o %q %s (%s): %w", opts, img, m.Loop, err)
	}
	t.Cleanup(func() {
		if err := m.Unmount(); err != nil {
			t.Error(err)
		}
	})
	return m, nil, nil
}

// Attach puts img on a new loop device (read-only when ro) for the rest of
// the test, e.g. an external journal device, and returns /dev/loopN.
func Attach(t testing.TB, img string, ro bool) string {
	t.Helper()
	loop := losetup(t, img, ro)
	t.Cleanup(func() { exec.Command("losetup", "-d", loop).Run() })
	return loop
}

func losetup(t testing.TB, img string, ro bool) string {
	t.Helper()
	if os.Getenv("EXT4RELINK_SKIP_REALFS") == "1" {
		t.Skip("EXT4RELINK_SKIP_REALFS=1: loop-device test skipped on request")
	}
	args := []string{"--find", "--show"}
	if ro {
		args = append(args, "--read-only")
	}
	out, err := exec.Command("losetup", append(args, img)...).CombinedOutput()
	if err != nil {
		t.Fatalf("losetup %s: %v\n%s", img, err, out)
	}
	loop := string(bytes.TrimSpace(out))
	if !ro {
		// 'blockdev --setro' on a loop device outlives its detach: the
		// next image attached there would be read-only. Clear it.
		if out, err := exec.Command("blockdev", "--setrw", loop).CombinedOutput(); err != nil {
			t.Fatalf("blockdev --setrw %s: %v\n%s", loop, err, out)
		}
	}
	return loop
}

// Must is Try that fails the test when the kernel refuses the mount.
func Must(t testing.TB, img, opts string) *Mounted {
	t.Helper()
	m, out, err := Try(t, img, opts)
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	return m
}

// Unmount unmounts and detaches the loop device; calling it again is a
// no-op.
func (m *Mounted) Unmount() error {
	if m.done {
		return nil
	}
	m.done = true
	if out, err := exec.Command("umount", m.Dir).CombinedOutput(); err != nil {
		exec.Command("umount", "-l", m.Dir).Run()
		exec.Command("losetup", "-d", m.Loop).Run()
		return fmt.Errorf("umount %s: %v\n%s", m.Dir, err, out)
	}
	if out, err := exec.Command("losetup", "-d", m.Loop).CombinedOutput(); err != nil {
		return fmt.Errorf("losetup -d %s: %v\n%s", m.Loop, err, out)
	}
	return nil
}
