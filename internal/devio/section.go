package devio

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/ext4relink/ext4relink/parttable"
	"github.com/ext4relink/ext4relink/super"
	"golang.org/x/sys/unix"
)

// Section is the part of a disk image (or of a disk without kernel
// partition devices) that --partition or --offset confines ext4relink to.
type Section struct {
	Start     int64 // bytes from the start of the file
	Size      int64
	Partition int    // the partition number, when it is one
	Label     string // "partition 2 (GPT)", "offset 1048576"
}

// Section returns the section I/O is confined to; ok is false when the
// whole device is used.
func (d *Device) Section() (Section, bool) { return d.section, d.sectioned }

// FSOffset is where the filesystem starts in the device file: the
// section's start, 0 without one. internal/undo records it in the undo
// file (fs_offset), so that e2undo on the whole disk image works.
func (d *Device) FSOffset() int64 { return d.base }

// bound refuses I/O outside the section. Without a section nothing is
// checked here: the file's own end is the limit, as before.
func (d *Device) bound(what string, n int, off int64) error {
	if !d.sectioned {
		return nil
	}
	if off < 0 || off > d.size || int64(n) > d.size-off {
		return fmt.Errorf("%w: %s %d bytes at offset %d is outside %s of %s (%d bytes); refused", ErrDevice, what, n, off, d.section.Label, d.path, d.size)
	}
	return nil
}

// whole reads the whole file, ignoring any section: for the partition
// table itself.
type whole struct{ d *Device }

func (w whole) ReadAt(p []byte, off int64) (int, error) {
	n, err := w.d.f.ReadAt(p, off)
	w.d.read.Add(int64(n))
	return n, err
}

// logicalSectorSize is BLKSSZGET for a block device, 0 for an image file
// (then the table is probed with 512- and 4096-byte sectors).
func (d *Device) logicalSectorSize() int {
	if !d.isBlock {
		return 0
	}
	ss, err := unix.IoctlGetInt(int(d.f.Fd()), unix.BLKSSZGET)
	if err != nil || ss < 512 {
		return 512
	}
	return ss
}

// readTable reads the partition table at the start of the whole device.
func (d *Device) readTable() (*parttable.Table, error) {
	return parttable.Read(whole{d}, d.fileSize, d.logicalSectorSize())
}

func (d *Device) selectSection(o Options) error {
	if o.Partition == 0 && !o.UseOffset {
		return nil
	}
	switch {
	case o.Partition != 0 && o.UseOffset:
		return fmt.Errorf("%w: give --partition or --offset, not both", ErrArgument)
	case o.Partition < 0:
		return fmt.Errorf("%w: --partition %d: partitions are numbered from 1", ErrArgument, o.Partition)
	case o.UseOffset && (o.Offset < 0 || o.Offset%512 != 0):
		return fmt.Errorf("%w: --offset %d: not a multiple of 512", ErrArgument, o.Offset)
	case o.UseOffset && o.Offset >= d.fileSize:
		return fmt.Errorf("%w: --offset %d: %s is only %d bytes", ErrArgument, o.Offset, d.path, d.fileSize)
	}
	if d.isBlock {
		if parts := d.kernelPartitions(); len(parts) > 0 {
			use := "use --dev with one of them instead"
			if p, ok := parts[o.Partition]; ok && o.Partition != 0 {
				use = "use --dev " + p.dev + " instead of --partition"
			}
			for _, p := range parts {
				if o.UseOffset && p.start == o.Offset {
					use = "use --dev " + p.dev + " instead of --offset"
				}
			}
			return fmt.Errorf("%w: %s is a whole disk whose partitions have their own devices (%s); %s, so that mounts of the partition are seen",
				ErrArgument, d.path, kernelPartitionList(parts), use)
		}
	}
	tab, terr := d.readTable()
	if o.Partition != 0 {
		if terr != nil {
			return fmt.Errorf("--partition %d: %s: %w", o.Partition, d.path, terr)
		}
		if tab == nil {
			return fmt.Errorf("%w: --partition %d: %s has no partition table (neither MBR nor GPT)", ErrArgument, o.Partition, d.path)
		}
		p, err := tab.Partition(o.Partition)
		if err != nil {
			var fe *super.FormatError
			if errors.As(err, &fe) {
				return err
			}
			return fmt.Errorf("%w: --partition %d: %s: %v", ErrArgument, o.Partition, d.path, err)
		}
		d.setSection(Section{Start: p.Start, Size: p.Size, Partition: p.Number, Label: fmt.Sprintf("partition %d (%s)", p.Number, tab.Kind)})
		return nil
	}
	s := Section{Start: o.Offset, Size: d.fileSize - o.Offset, Label: fmt.Sprintf("offset %d", o.Offset)}
	if tab != nil {
		if p, ok := tab.Containing(o.Offset); ok {
			s.Size = p.Start + p.Size - o.Offset
			if p.Start == o.Offset {
				s.Partition = p.Number
				s.Label = fmt.Sprintf("offset %d (partition %d, %s)", o.Offset, p.Number, tab.Kind)
			} else {
				s.Label = fmt.Sprintf("offset %d (inside %s partition %d, up to its end)", o.Offset, tab.Kind, p.Number)
			}
		}
	}
	d.setSection(s)
	return nil
}

func (d *Device) setSection(s Section) {
	d.sectioned, d.section, d.base, d.size = true, s, s.Start, s.Size
}

// kernelPartition is a partition the kernel made a block device for.
type kernelPartition struct {
	dev   string // /dev/sda2, /dev/loop5p2
	rdev  uint64
	start int64 // bytes
}

// kernelPartitions lists the partition devices of a whole block device,
// by number, from sysfs: /sys/dev/block/MAJ:MIN/NAME*/partition.
func (d *Device) kernelPartitions() map[int]kernelPartition {
	st, err := d.stat()
	if err != nil || !d.isBlock {
		return nil
	}
	return partitionsOf(st.Rdev)
}

func partitionsOf(rdev uint64) map[int]kernelPartition {
	dir := fmt.Sprintf("/sys/dev/block/%d:%d", unix.Major(rdev), unix.Minor(rdev))
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil
	}
	out := map[int]kernelPartition{}
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join(dir, e.Name(), "partition"))
		if err != nil {
			continue
		}
		n, err := strconv.Atoi(strings.TrimSpace(string(b)))
		if err != nil {
			continue
		}
		kp := kernelPartition{dev: "/dev/" + e.Name()}
		kp.rdev, _ = sysDev(filepath.Join(dir, e.Name(), "dev"))
		if b, err := os.ReadFile(filepath.Join(dir, e.Name(), "start")); err == nil {
			if s, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64); err == nil {
				kp.start = s * 512 // sysfs counts 512-byte sectors whatever the logical size
			}
		}
		out[n] = kp
	}
	return out
}

func kernelPartitionList(parts map[int]kernelPartition) string {
	var nums []int
	for n := range parts {
		nums = append(nums, n)
	}
	sort.Ints(nums)
	var s []string
	for _, n := range nums {
		s = append(s, parts[n].dev)
	}
	return strings.Join(s, ", ")
}

var _ io.ReaderAt = whole{}
