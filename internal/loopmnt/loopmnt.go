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
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// Mounted is one image attached to its own loop device and mounted.
type Mounted struct {
	Dir  string // mount point
	Loop string // /dev/loopN, or "" when MountDev mounted a device the test attached itself
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
	dropPartitions(t, loop)
	if !ro {
		// 'blockdev --setro' on a loop device outlives its detach: the
		// next image attached there would be read-only. Clear it.
		if out, err := exec.Command("blockdev", "--setrw", loop).CombinedOutput(); err != nil {
			t.Fatalf("blockdev --setrw %s: %v\n%s", loop, err, out)
		}
	}
	return loop
}

// AttachPartitioned puts a partitioned disk image on a new loop device with
// partition scanning (losetup -P), waits until the kernel's partition
// devices /dev/loopNp1... exist, and detaches it at test cleanup. It
// returns /dev/loopN and the partition devices by number.
func AttachPartitioned(t testing.TB, img string, ro bool, want int) (string, map[int]string) {
	t.Helper()
	args := []string{"--find", "--show", "--partscan"}
	if ro {
		args = append(args, "--read-only")
	}
	out, err := exec.Command("losetup", append(args, img)...).CombinedOutput()
	if err != nil {
		t.Fatalf("losetup -P %s: %v\n%s", img, err, out)
	}
	loop := string(bytes.TrimSpace(out))
	t.Cleanup(func() {
		// Partitions partx added must not outlive the device: the next
		// test attaching an image on this loop device would see them.
		dropPartitions(t, loop)
		exec.Command("losetup", "-d", loop).Run()
	})
	parts := map[int]string{}
	wait := func(tries int) {
		for i := 0; i < tries && len(parts) < want; i++ {
			for n := 1; n <= want; n++ {
				p := fmt.Sprintf("%sp%d", loop, n)
				if st, err := os.Stat(p); err == nil && st.Mode()&os.ModeDevice != 0 {
					parts[n] = p
				}
			}
			if len(parts) < want {
				time.Sleep(50 * time.Millisecond)
			}
		}
	}
	wait(20)
	if len(parts) < want {
		// A kernel built without partition table parsers (no
		// CONFIG_MSDOS_PARTITION / CONFIG_EFI_PARTITION, as on minimal VM
		// kernels) scans nothing; partx reads the table in user space and
		// adds the partitions with the BLKPG ioctl, which every kernel has.
		if out, err := exec.Command("partx", "-a", loop).CombinedOutput(); err != nil {
			t.Fatalf("partx -a %s (the kernel found no partitions): %v\n%s", loop, err, out)
		}
		wait(100)
	}
	if len(parts) < want {
		t.Fatalf("losetup -P %s: only %v of %d partition devices appeared", img, parts, want)
	}
	return loop, parts
}

// MountDev mounts an existing block device (a partition of a loop device
// from AttachPartitioned) as ext4 with opts at a fresh temporary
// directory, and unmounts it at test cleanup unless Unmount was called.
// The device itself is left attached.
func MountDev(t testing.TB, dev, opts string) *Mounted {
	t.Helper()
	m := &Mounted{Dir: t.TempDir(), t: t}
	margs := []string{"-t", "ext4"}
	if opts != "" {
		margs = append(margs, "-o", opts)
	}
	if out, err := exec.Command("mount", append(margs, dev, m.Dir)...).CombinedOutput(); err != nil {
		t.Fatalf("mount -o %q %s: %v\n%s", opts, dev, err, out)
	}
	t.Cleanup(func() {
		if err := m.Unmount(); err != nil {
			t.Error(err)
		}
	})
	return m
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
		if m.Loop != "" {
			exec.Command("losetup", "-d", m.Loop).Run()
		}
		return fmt.Errorf("umount %s: %v\n%s", m.Dir, err, out)
	}
	if m.Loop == "" {
		return nil
	}
	if out, err := exec.Command("losetup", "-d", m.Loop).CombinedOutput(); err != nil {
		return fmt.Errorf("losetup -d %s: %v\n%s", m.Loop, err, out)
	}
	return nil
}

// dropPartitions deletes the partitions of loop device dev (partx -d) and
// waits until sysfs shows none. Partitions that partx -a added by BLKPG can
// outlive the detach of their device, and a plain attach that reuses it
// would then be a "whole disk with partition devices".
func dropPartitions(t testing.TB, dev string) {
	t.Helper()
	name := filepath.Base(dev)
	for try := 0; try < 40; try++ {
		parts, _ := filepath.Glob(filepath.Join("/sys/block", name, name+"p*"))
		if len(parts) == 0 {
			return
		}
		exec.Command("partx", "-d", dev).Run()
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("the partitions of %s cannot be removed (partx -d)", dev)
}
