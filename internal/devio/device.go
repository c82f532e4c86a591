package devio

import (
	"errors"
	"fmt"
	"os"
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/unix"
)

// ErrArgument: an option names something the device does not have
// (--partition N that is not in its table, --offset past its end).
var ErrArgument = errors.New("invalid argument")

// Mode says how a device is opened.
type Mode int

const (
	// ReadOnly opens for reading only; nothing is ever written.
	ReadOnly Mode = iota
	// ReadWrite opens exclusively for writing (O_EXCL on block devices, an
	// exclusive lock on image files).
	ReadWrite
)

// Device is an opened block device or image file.
type Device struct {
	f        *os.File
	path     string
	size     int64
	isBlock  bool
	readOnly bool
	// The section of the file all I/O is confined to (--partition,
	// --offset): base is its start in the file, size its length. Without
	// one, base is 0 and size the whole file.
	sectioned bool
	base      int64
	fileSize  int64
	section   Section
	read      atomic.Int64 // bytes read, for benchmarks and the "reads only what it needs" claim
	written   atomic.Int64
}

// Options say how to open a device.
type Options struct {
	Mode Mode
	// AllowReadOnlyMount permits writing to a filesystem that is mounted
	// read-only (the kernel's cached view goes stale: reboot afterwards
	// without remounting read-write).
	AllowReadOnlyMount bool
	// Partition, when not 0, confines every read and write to partition N
	// of the partition table (MBR or GPT) the device starts with.
	Partition int
	// UseOffset confines every read and write to the bytes from Offset on
	// (a multiple of 512), up to the end of the partition holding Offset
	// when the device has a partition table, else to the end of the device.
	UseOffset bool
	Offset    int64
}

// Open opens path. It first looks for mounts, loop devices and holders and
// refuses a write with a message naming them. Block devices are then opened
// with O_EXCL when writing, so the kernel itself refuses if anything claims
// the device; regular files take a flock (exclusive for writing, shared for
// reading) so that two ext4relink runs cannot interleave. Directories and
// other file types are refused.
func Open(path string, o Options) (*Device, Use, error) {
	d := &Device{path: path, readOnly: o.Mode == ReadOnly}
	if err := d.classify(); err != nil {
		return nil, Use{}, err
	}
	use, err := inUse(d)
	if err != nil {
		return nil, use, err
	}
	excl := false
	if o.Mode == ReadWrite {
		if err := CheckWritable(use, o.AllowReadOnlyMount && d.isBlock); err != nil {
			return nil, use, err
		}
		excl = d.isBlock && len(use.Mounts) == 0
	}
	if err := d.open(o.Mode, excl); err != nil {
		return nil, use, err
	}
	if err := d.selectSection(o); err != nil {
		d.Close()
		return nil, use, err
	}
	return d, use, nil
}

func (d *Device) classify() error {
	st, err := os.Stat(d.path)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrDevice, err)
	}
	switch {
	case st.Mode()&os.ModeDevice != 0 && st.Mode()&os.ModeCharDevice == 0:
		d.isBlock = true
	case st.Mode().IsRegular():
	case st.IsDir():
		return fmt.Errorf("%w: %s is a directory; --dev wants the block device or image file that holds the filesystem (see lsblk, or findmnt -no SOURCE %s)", ErrDevice, d.path, d.path)
	default:
		return fmt.Errorf("%w: %s is neither a block device nor a regular image file", ErrDevice, d.path)
	}
	return nil
}

func (d *Device) open(mode Mode, excl bool) error {
	flags := unix.O_RDONLY | unix.O_CLOEXEC
	if mode == ReadWrite {
		flags = unix.O_RDWR | unix.O_CLOEXEC
	}
	if excl {
		flags |= unix.O_EXCL
	}
	f, err := os.OpenFile(d.path, flags, 0)
	if err != nil {
		if errors.Is(err, unix.EBUSY) {
			return fmt.Errorf("%w: %s is in use (mounted, possibly in another mount namespace, or claimed by device-mapper, md or another program); unmount it first", ErrBusy, d.path)
		}
		return d.openError(err)
	}
	d.f = f
	if err := d.lock(mode); err != nil {
		f.Close()
		return err
	}
	if mode == ReadWrite {
		if err := d.checkWritable(); err != nil {
			f.Close()
			return err
		}
	}
	if err := d.measure(); err != nil {
		f.Close()
		return err
	}
	return nil
}

// openError explains why opening failed: a read-only file or filesystem,
// missing privileges, or anything else the kernel said.
func (d *Device) openError(err error) error {
	switch {
	case errors.Is(err, unix.EROFS):
		return d.readOnlyError("it lies on a read-only filesystem")
	case (errors.Is(err, unix.EACCES) || errors.Is(err, unix.EPERM)) && os.Geteuid() != 0:
		what := "to read a filesystem's raw blocks"
		if !d.readOnly {
			what = "to open the device for writing (list, journal and --dry-run only read)"
		}
		return fmt.Errorf("%w: %v: ext4relink must run as root (sudo) %s", ErrDevice, err, what)
	case errors.Is(err, unix.EACCES) || errors.Is(err, unix.EPERM):
		return d.readOnlyError(fmt.Sprintf("opening it for writing failed: %v (a read-only or immutable file?)", errors.Unwrap(err)))
	}
	return fmt.Errorf("%w: %v", ErrDevice, err)
}

// checkWritable refuses, before anything is read or written, a block
// device the kernel has marked read-only (losetup -r, blockdev --setro,
// write-protected media): opening it O_RDWR succeeds, but the first write
// fails, and re-running could never finish the job.
func (d *Device) checkWritable() error {
	if !d.isBlock {
		return nil
	}
	ro, err := unix.IoctlGetInt(int(d.f.Fd()), unix.BLKROGET)
	if err != nil {
		return fmt.Errorf("%w: BLKROGET on %s: %v", ErrDevice, d.path, err)
	}
	if ro != 0 {
		return d.readOnlyError("the kernel has it marked read-only")
	}
	return nil
}

func (d *Device) readOnlyError(why string) error {
	fix := fmt.Sprintf("make it writable first: a loop device attached with 'losetup -r' must be detached (losetup -d %s) and attached again without -r; otherwise 'blockdev --setrw %s', or the media's write-protect switch", d.path, d.path)
	if !d.isBlock {
		fix = fmt.Sprintf("copy the image to a writable place, or make %s writable (chmod u+w, chattr -i, or remount its filesystem read-write)", d.path)
	}
	return fmt.Errorf("%w: %w: %s is read-only (%s); nothing was written. To relink, %s. Reading needs no write: 'ext4relink list' works as it is, and the data can be copied out with 'debugfs -c -R \"dump <INODE> /other/disk/file\" %s'",
		ErrDevice, ErrReadOnlyDevice, d.path, why, fix, d.path)
}

func (d *Device) lock(mode Mode) error {
	if d.isBlock {
		return nil
	}
	how := unix.LOCK_SH
	if mode == ReadWrite {
		how = unix.LOCK_EX
	}
	if err := unix.Flock(int(d.f.Fd()), how|unix.LOCK_NB); err != nil {
		return fmt.Errorf("%w: %s is locked by another process (another ext4relink run?): %v", ErrBusy, d.path, err)
	}
	return nil
}

func (d *Device) measure() error {
	if !d.isBlock {
		st, err := d.f.Stat()
		if err != nil {
			return fmt.Errorf("%w: %v", ErrDevice, err)
		}
		d.size = st.Size()
		d.fileSize = d.size
		return nil
	}
	var size uint64
	if _, _, e := unix.Syscall(unix.SYS_IOCTL, d.f.Fd(), unix.BLKGETSIZE64, uintptr(unsafe.Pointer(&size))); e != 0 {
		return fmt.Errorf("%w: BLKGETSIZE64 on %s: %v", ErrDevice, d.path, e)
	}
	d.size = int64(size)
	d.fileSize = d.size
	return nil
}

// Path is the name the device was opened by.
func (d *Device) Path() string { return d.path }

// IsBlock reports whether the device is a block device (not an image file).
func (d *Device) IsBlock() bool { return d.isBlock }

// Size is the device size in bytes (of the section, with --partition or
// --offset).
func (d *Device) Size() int64 { return d.size }

// ReadAt reads exactly len(p) bytes at off; a short read is an error.
// Inside a section, off is relative to its start and reads past its end
// are refused.
func (d *Device) ReadAt(p []byte, off int64) (int, error) {
	if err := d.bound("reading", len(p), off); err != nil {
		return 0, err
	}
	n, err := d.f.ReadAt(p, d.base+off)
	d.read.Add(int64(n))
	if err != nil {
		return n, fmt.Errorf("%w: reading %d bytes at offset %d of %s: %v", ErrDevice, len(p), off, d.path, err)
	}
	return n, nil
}

// WriteAt writes p at off; it refuses on a read-only device.
func (d *Device) WriteAt(p []byte, off int64) (int, error) {
	if d.readOnly {
		return 0, fmt.Errorf("%w: internal error: write to %s opened read-only", ErrDevice, d.path)
	}
	if err := d.bound("writing", len(p), off); err != nil {
		return 0, err
	}
	n, err := d.f.WriteAt(p, d.base+off)
	d.written.Add(int64(n))
	if err != nil {
		return n, fmt.Errorf("%w: writing %d bytes at offset %d of %s: %v", ErrDevice, len(p), off, d.path, err)
	}
	return n, nil
}

// Sync flushes written data to stable storage: fdatasync, which for a
// block device issues a cache flush and for an image file writes the data
// and whatever metadata is needed to read it back (block allocation), but
// not timestamps.
func (d *Device) Sync() error {
	if d.readOnly {
		return nil
	}
	if err := unix.Fdatasync(int(d.f.Fd())); err != nil {
		return fmt.Errorf("%w: flushing %s: %v", ErrDevice, d.path, err)
	}
	return nil
}

// BytesRead and BytesWritten count the I/O done so far.
func (d *Device) BytesRead() int64    { return d.read.Load() }
func (d *Device) BytesWritten() int64 { return d.written.Load() }

// Close releases the device (and its lock).
func (d *Device) Close() error { return d.f.Close() }

func (d *Device) stat() (unix.Stat_t, error) {
	var st unix.Stat_t
	err := unix.Stat(d.path, &st)
	return st, err
}
