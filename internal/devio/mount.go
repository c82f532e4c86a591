package devio

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// Mount is one place where the filesystem on the device is mounted.
type Mount struct {
	MountPoint string
	ReadOnly   bool   // the superblock is mounted read-only
	Source     string // the mount source as the kernel shows it
	Via        string // e.g. "/dev/loop3, whose backing file is this image"
}

// Use describes everything that currently uses the device.
type Use struct {
	Mounts  []Mount
	Loops   []string // loop devices backed by this image file
	Holders []string // device-mapper/md devices stacked on this block device
}

// Busy reports whether anything uses the device.
func (u Use) Busy() bool { return len(u.Mounts) > 0 || len(u.Loops) > 0 || len(u.Holders) > 0 }

// inUse finds mounts of the device (by major:minor in /proc/self/mountinfo),
// loop devices whose backing file is the image, and holders of a block device.
func inUse(d *Device) (Use, error) {
	st, err := d.stat()
	if err != nil {
		return Use{}, fmt.Errorf("%w: %v", ErrDevice, err)
	}
	var u Use
	devs := map[uint64]string{}
	if d.isBlock {
		devs[st.Rdev] = ""
		u.Holders = holders(st.Rdev)
		// A whole disk's partitions (sda2 of sda): a mount of one is a
		// mount of part of this device.
		for n, p := range partitionsOf(st.Rdev) {
			devs[p.rdev] = fmt.Sprintf("%s, partition %d of this disk", p.dev, n)
			u.Holders = append(u.Holders, holders(p.rdev)...)
		}
	} else {
		for _, l := range loopsBacking(st) {
			u.Loops = append(u.Loops, l.name)
			at := ""
			if l.offset != 0 {
				at = fmt.Sprintf(" at offset %d", l.offset)
			}
			devs[l.rdev] = l.name + ", whose backing file is this image" + at
			// losetup -P: the loop device's own partition devices.
			for n, p := range partitionsOf(l.rdev) {
				devs[p.rdev] = fmt.Sprintf("%s, partition %d of %s, whose backing file is this image%s", p.dev, n, l.name, at)
			}
		}
	}
	u.Mounts, err = mountsOf(devs)
	return u, err
}

func mountsOf(devs map[uint64]string) ([]Mount, error) {
	b, err := readSysfs("/proc/self/mountinfo")
	if err != nil {
		return nil, fmt.Errorf("%w: cannot check mounts: %v", ErrDevice, err)
	}
	var out []Mount
	for _, e := range ParseMountinfo(b) {
		if via, hit := devs[e.Dev]; hit {
			out = append(out, Mount{MountPoint: e.MountPoint, ReadOnly: e.SuperReadOnly, Source: e.Source, Via: via})
		}
	}
	return out, nil
}

type loopDev struct {
	name   string
	rdev   uint64
	offset int64 // /sys/block/loopN/loop/offset: where in the image the loop device starts
}

// loopsBacking lists loop devices whose backing file is the same inode as st.
func loopsBacking(st unix.Stat_t) []loopDev {
	var out []loopDev
	// One directory read and one file per loop device: an unattached one
	// has no loop/ directory (filepath.Glob read three directories per
	// loop device to find the same files).
	for _, name := range loopNames() {
		p := filepath.Join("/sys/block", name, "loop", "backing_file")
		b, err := readSysfs(p)
		if err != nil {
			continue
		}
		back := strings.TrimSuffix(strings.TrimSpace(string(b)), " (deleted)")
		var bst unix.Stat_t
		if unix.Stat(back, &bst) != nil || bst.Dev != st.Dev || bst.Ino != st.Ino {
			continue
		}
		if rdev, ok := sysDev(filepath.Join("/sys/block", name, "dev")); ok {
			l := loopDev{name: "/dev/" + name, rdev: rdev}
			if b, err := readSysfs(filepath.Join(filepath.Dir(p), "offset")); err == nil {
				l.offset, _ = strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
			}
			out = append(out, l)
		}
	}
	return out
}

func sysDev(p string) (uint64, bool) {
	b, err := readSysfs(p)
	if err != nil {
		return 0, false
	}
	maj, min, ok := strings.Cut(strings.TrimSpace(string(b)), ":")
	ma, err1 := strconv.ParseUint(maj, 10, 32)
	mi, err2 := strconv.ParseUint(min, 10, 32)
	if !ok || err1 != nil || err2 != nil {
		return 0, false
	}
	return unix.Mkdev(uint32(ma), uint32(mi)), true
}

// holders lists devices stacked on a block device (/sys/dev/block/M:m/holders).
func holders(rdev uint64) []string {
	dir := fmt.Sprintf("/sys/dev/block/%d:%d/holders", unix.Major(rdev), unix.Minor(rdev))
	ents, _ := os.ReadDir(dir)
	var out []string
	for _, e := range ents {
		out = append(out, "/dev/"+e.Name())
	}
	return out
}

// CheckWritable refuses a device that is mounted read-write, and a device
// mounted read-only unless allowReadOnlyMount is set; it also refuses an
// image file attached to a loop device, or a block device with holders.
func CheckWritable(u Use, allowReadOnlyMount bool) error {
	for _, m := range u.Mounts {
		if !m.ReadOnly {
			return fmt.Errorf("%w: the filesystem is mounted read-write at %s%s; unmount it (or boot rescue media) and run again", ErrBusy, m.MountPoint, via(m))
		}
		if !allowReadOnlyMount {
			return fmt.Errorf("%w: the filesystem is mounted read-only at %s%s; writing under a mounted filesystem leaves the kernel's cached view stale. Unmount it (a read-only mount of an image file can always be undone: umount, then losetup -d); only for a block device that cannot be unmounted, pass --allow-ro-mount and then reboot without ever remounting it read-write", ErrBusy, m.MountPoint, via(m))
		}
	}
	if len(u.Mounts) == 0 && len(u.Loops) > 0 {
		return fmt.Errorf("%w: the image is attached to %s; detach it (losetup -d) so nothing can mount it while ext4relink writes", ErrBusy, strings.Join(u.Loops, ", "))
	}
	if len(u.Holders) > 0 {
		return fmt.Errorf("%w: the device is held by %s (device-mapper, md or similar); run ext4relink on that device instead", ErrBusy, strings.Join(u.Holders, ", "))
	}
	return nil
}

func via(m Mount) string {
	if m.Via == "" {
		return ""
	}
	return " (through " + m.Via + ")"
}
