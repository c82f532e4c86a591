package extract

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/ext4relink/ext4relink/internal/devio"
	"golang.org/x/sys/unix"
)

// CheckPlace refuses an output directory that lies on the filesystem being
// read: writing there allocates blocks the copy may still have to read
// (they are free space to the kernel), and changes the very device being
// rescued. It compares outDir's device (st_dev) with DEV itself when DEV
// is a block device (which also catches a mount in another mount
// namespace), and with every mount of DEV that use lists (through its
// partitions or a loop device backed by the image). An image file's host
// filesystem is fine: the image's bytes are its own.
func CheckPlace(dev string, use devio.Use, outDir string) error {
	var out unix.Stat_t
	if err := unix.Stat(outDir, &out); err != nil {
		if errors.Is(err, unix.ENOENT) {
			return fmt.Errorf("%w: the output directory %s does not exist", devio.ErrRequest, outDir)
		}
		return fmt.Errorf("%w: cannot check the output directory %s: %v", devio.ErrRequest, outDir, err)
	}
	var d unix.Stat_t
	if err := unix.Stat(dev, &d); err == nil && d.Mode&unix.S_IFMT == unix.S_IFBLK && d.Rdev == out.Dev {
		return samePlace(dev, outDir, "")
	}
	for _, m := range use.Mounts {
		var ms unix.Stat_t
		if unix.Stat(m.MountPoint, &ms) == nil && ms.Dev == out.Dev {
			return samePlace(dev, outDir, m.MountPoint)
		}
	}
	return nil
}

func samePlace(dev, outDir, mnt string) error {
	where := dev + " is mounted"
	if mnt != "" {
		where = fmt.Sprintf("%s is mounted at %s", dev, mnt)
	}
	if !strings.HasPrefix(dev, "/dev/") {
		where = fmt.Sprintf("the image %s is attached to a loop device that is mounted at %s", dev, mnt)
	}
	return fmt.Errorf("%w: %s lies on the filesystem being rescued (%s): writing the copy there allocates free blocks, which may be the very blocks of the deleted file still to be copied, and changes the device being rescued. Write to another disk instead: another partition, a USB disk, a network share, or /dev/shm when the file fits in memory", ErrSamePlace, outDir, where)
}

// IsTerminal reports whether f is a terminal (for progress output).
func IsTerminal(f *os.File) bool {
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}
