package devio

import (
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/ext4relink/ext4relink/parttable"
	"github.com/ext4relink/ext4relink/super"
)

// PartitionReport is a disk's partition table with what each partition
// holds: what `ext4relink partitions` prints, and what the refusal of a
// partitioned --dev lists.
type PartitionReport struct {
	Dev        string
	Table      string // "MBR", "GPT", or "" when there is none
	SectorSize int
	DiskSize   int64
	DiskID     string
	Partitions []PartitionInfo
	Notes      []string
	// Content is what the whole device holds when it has no table.
	Content string
}

// PartitionInfo is one partition and what it holds.
type PartitionInfo struct {
	parttable.Partition
	// Content is "ext4", "ext3", "ext2" (a valid superblock), "ext2/3/4
	// (damaged superblock: ...)" (the magic, but not valid), a guess from a
	// signature ("vfat?", "swap?", "LVM PV?", ...) or "".
	Content string
	// Device is the kernel's device for the partition (/dev/sda2), when
	// --dev is a whole block device that has them.
	Device string
}

// IsExt reports whether the partition holds a valid ext2/3/4 superblock.
func (p PartitionInfo) IsExt() bool {
	return p.Content == "ext2" || p.Content == "ext3" || p.Content == "ext4"
}

// ReadPartitions opens path read-only and reports its partition table.
func ReadPartitions(path string) (*PartitionReport, error) {
	d, _, err := Open(path, Options{Mode: ReadOnly})
	if err != nil {
		return nil, err
	}
	defer d.Close()
	tab, err := d.readTable()
	if err != nil {
		return nil, err
	}
	return d.report(tab), nil
}

func (d *Device) report(tab *parttable.Table) *PartitionReport {
	r := &PartitionReport{Dev: d.path, DiskSize: d.fileSize, Partitions: []PartitionInfo{}}
	if tab == nil {
		r.Content = probeContent(whole{d}, 0, d.fileSize)
		return r
	}
	r.Table, r.SectorSize, r.DiskID, r.Notes = tab.Kind, tab.SectorSize, tab.DiskID, tab.Notes
	kparts := d.kernelPartitions()
	for _, p := range tab.Partitions {
		pi := PartitionInfo{Partition: p, Device: kparts[p.Number].dev}
		if !p.Extended && p.Problem == "" {
			pi.Content = probeContent(whole{d}, p.Start, p.Size)
		}
		r.Partitions = append(r.Partitions, pi)
	}
	return r
}

// probeContent says what the bytes [start, start+size) hold: an ext2/3/4
// superblock is decoded and validated; other filesystems are only guessed
// from their signatures (hence the question mark).
func probeContent(r io.ReaderAt, start, size int64) string {
	at := func(off int64, n int) []byte {
		if off < 0 || off+int64(n) > size {
			return nil
		}
		b := make([]byte, n)
		if m, _ := r.ReadAt(b, start+off); m != n {
			return nil
		}
		return b
	}
	if b := at(super.Offset, super.Size); b != nil {
		if sb, err := super.Decode(b); err == nil && sb.Magic == super.Magic {
			if err := sb.Validate(); err != nil {
				return fmt.Sprintf("ext2/3/4 (damaged superblock: %v)", err)
			}
			switch {
			case sb.HasIncompat(super.IncompatExtents | super.Incompat64Bit | super.IncompatFlexBG):
				return "ext4"
			case sb.HasCompat(super.CompatHasJournal):
				return "ext3"
			}
			return "ext2"
		}
	}
	sig := func(off int64, s string) bool {
		b := at(off, len(s))
		return b != nil && string(b) == s
	}
	switch {
	case sig(0x52, "FAT32   "), sig(0x36, "FAT16   "), sig(0x36, "FAT12   "), sig(0x36, "FAT     "):
		return "vfat?"
	case sig(3, "NTFS    "):
		return "ntfs?"
	case sig(3, "EXFAT   "):
		return "exfat?"
	case sig(4096-10, "SWAPSPACE2"), sig(4096-10, "SWAP-SPACE"):
		return "swap?"
	case sig(512, "LABELONE"):
		return "LVM PV?"
	case sig(0, "LUKS\xba\xbe"):
		return "LUKS?"
	case sig(0, "XFSB"):
		return "xfs?"
	case sig(0x10040, "_BHRfS_M"):
		return "btrfs?"
	}
	return ""
}

// TableError refuses a --dev that holds a partition table instead of a
// filesystem, listing the partitions and the option to use. It is a
// device error (exit 3): DEV names the wrong thing, as a directory would.
type TableError struct {
	Report *PartitionReport
	Err    error // why the start of the device is not a filesystem
}

func (e *TableError) Unwrap() []error { return []error{ErrDevice, e.Err} }

func (e *TableError) Error() string {
	r := e.Report
	var b strings.Builder
	fmt.Fprintf(&b, "%s holds %s partition table, not a filesystem: ", r.Dev, article(r.Table))
	var ext []PartitionInfo
	for i, p := range r.Partitions {
		if i > 0 {
			b.WriteString("; ")
		}
		b.WriteString(p.Summary())
		if p.IsExt() {
			ext = append(ext, p)
		}
	}
	if len(r.Partitions) == 0 {
		b.WriteString("no partitions")
	}
	for _, n := range r.Notes {
		fmt.Fprintf(&b, " (note: %s)", n)
	}
	b.WriteString(" — ")
	useDev := len(r.Partitions) > 0 && r.Partitions[0].Device != ""
	switch {
	case len(ext) == 0 && useDev:
		b.WriteString("no partition holds a valid ext2/3/4 superblock; if one should, give its partition device as --dev")
	case len(ext) == 0:
		b.WriteString("no partition holds a valid ext2/3/4 superblock; if one should, use --partition N")
	case useDev:
		var devs []string
		for _, p := range ext {
			devs = append(devs, p.Device)
		}
		fmt.Fprintf(&b, "use --dev %s", strings.Join(devs, " or --dev "))
	default:
		var opts []string
		for _, p := range ext {
			opts = append(opts, fmt.Sprintf("--partition %d", p.Number))
		}
		fmt.Fprintf(&b, "use %s", strings.Join(opts, " or "))
	}
	return b.String()
}

func article(kind string) string {
	if kind == "MBR" {
		return "an MBR"
	}
	return "a " + kind
}

// Summary is one partition as the refusal and `partitions` print it:
// "2: start 1048576, 9.5 GiB, Linux filesystem, ext4".
func (p PartitionInfo) Summary() string {
	var parts []string
	if p.Device != "" {
		parts = append(parts, p.Device)
	}
	if p.Problem != "" {
		parts = append(parts, "unusable: "+p.Problem)
	} else {
		parts = append(parts, fmt.Sprintf("start %d", p.Start), HumanSize(p.Size))
	}
	t := p.TypeName
	if t == "" {
		t = "type " + p.Type
	}
	switch {
	case p.Extended:
		t += " (container of logical partitions)"
	case p.Logical:
		t += " (logical)"
	}
	parts = append(parts, t)
	if p.Content != "" {
		parts = append(parts, p.Content)
	}
	return fmt.Sprintf("%d: %s", p.Number, strings.Join(parts, ", "))
}

// HumanSize prints a byte count in binary units, one decimal when needed.
func HumanSize(n int64) string {
	units := []string{"bytes", "KiB", "MiB", "GiB", "TiB", "PiB"}
	v, i := float64(n), 0
	for v >= 1024 && i < len(units)-1 {
		v /= 1024
		i++
	}
	if i == 0 {
		return fmt.Sprintf("%d bytes", n)
	}
	s := fmt.Sprintf("%.1f", v)
	s = strings.TrimSuffix(s, ".0")
	return s + " " + units[i]
}

// ExplainNoFS turns a superblock refusal on a device without a section
// into a TableError when the device starts with a partition table.
func (d *Device) ExplainNoFS(err error) error {
	var fe *super.FormatError
	if !errors.As(err, &fe) || !strings.HasPrefix(fe.Struct, "superblock") {
		return err
	}
	if d.sectioned {
		return fmt.Errorf("%s %s: %w (see 'ext4relink partitions --dev %s' for what each partition holds)", d.path, d.section.Label, err, d.path)
	}
	tab, terr := d.readTable()
	switch {
	case terr != nil:
		return fmt.Errorf("%w; and %s starts with a damaged partition table: %w", err, d.path, terr)
	case tab == nil:
		return err
	}
	return &TableError{Report: d.report(tab), Err: err}
}
