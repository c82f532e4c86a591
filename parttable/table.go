package parttable

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"sort"

	"github.com/ext4relink/ext4relink/super"
)

// Table is a disk's partition table as Read found it.
type Table struct {
	Kind       string // "MBR" or "GPT"
	SectorSize int    // the logical sector size the table is written for
	DiskSize   int64  // bytes
	DiskID     string // GPT disk GUID, or the MBR disk identifier
	Partitions []Partition
	// Notes lists damage found and how it was worked around (a GPT header
	// or entry array failing its CRC, a missing backup header, a loop in
	// the EBR chain, ...).
	Notes []string
}

// Partition is one partition, with its position in bytes.
type Partition struct {
	Number   int    // as the kernel numbers it: GPT entry index + 1; MBR 1-4 primary, 5... logical
	Start    int64  // bytes from the start of the disk
	Size     int64  // bytes
	Type     string // "0x83" or a GUID
	TypeName string
	Name     string // GPT partition name
	UUID     string // GPT unique partition GUID
	Bootable bool
	Extended bool // an MBR extended partition: a container, not a filesystem
	Logical  bool // an MBR logical partition (in the extended one)
	// Problem says why the partition cannot be used as it stands (it
	// extends past the end of the disk, its end precedes its start, ...).
	Problem string
}

// maxLogical bounds the EBR chain: a loop or a damaged chain must not make
// the walk endless. Linux itself stops at its partition limit.
const maxLogical = 128

// Read looks for a partition table at the start of r, a disk of size bytes.
// sectorSize is the device's logical sector size (BLKSSZGET), or 0 for an
// image file: then a GPT is looked for with 512-byte sectors and, when no
// header is there, with 4096-byte ones. It returns nil, nil when there is
// no partition table; an error when sector 0 announces one that cannot be
// read (a protective MBR with neither GPT header usable).
func Read(r io.ReaderAt, size int64, sectorSize int) (*Table, error) {
	if size < MBRSize {
		return nil, nil
	}
	s0 := make([]byte, MBRSize)
	if err := readFull(r, s0, 0); err != nil {
		return nil, err
	}
	m, err := DecodeMBR(s0)
	if err != nil {
		return nil, err
	}
	mbrOK := m.Validate("MBR", 0) == nil
	sizes := []int{512, 4096}
	if sectorSize != 0 {
		sizes = []int{sectorSize}
	}
	if sectorSize != 0 && (sectorSize < MBRSize || sectorSize&(sectorSize-1) != 0) {
		return nil, fmt.Errorf("parttable: sector size %d is not a power of two of at least 512", sectorSize)
	}
	for _, ss := range sizes {
		if hasGPTSignature(r, size, int64(ss)) {
			return readGPT(r, size, ss, m, mbrOK)
		}
	}
	if mbrOK && m.Protective() {
		// No primary header at LBA 1: look for a backup at the last LBA.
		for _, ss := range sizes {
			if size >= 2*int64(ss) && hasGPTSignature(r, size, size/int64(ss)*int64(ss)-int64(ss)) {
				return readGPT(r, size, ss, m, mbrOK)
			}
		}
		return nil, super.Errorf(super.ErrCorrupt, "GPT", super.NoBlock, -1,
			"sector 0 is a protective MBR (type 0xee), but there is no GPT header at LBA 1 or at the last LBA (sector sizes %v tried)", sizes)
	}
	if !mbrOK {
		return nil, nil
	}
	ss := 512
	if sectorSize != 0 {
		ss = sectorSize
	}
	return readMBR(r, size, ss, m)
}

func readFull(r io.ReaderAt, b []byte, off int64) error {
	n, err := r.ReadAt(b, off)
	if n == len(b) {
		return nil
	}
	if err == nil || errors.Is(err, io.EOF) {
		err = io.ErrUnexpectedEOF
	}
	return err
}

func hasGPTSignature(r io.ReaderAt, size, off int64) bool {
	if off < 0 || off+8 > size {
		return false
	}
	sig := make([]byte, 8)
	return readFull(r, sig, off) == nil && string(sig) == GPTSignature
}

// gptCopy is one header and its entry array, or why it is unusable.
type gptCopy struct {
	h     *GPTHeader
	array []byte
	err   error
}

func loadGPT(r io.ReaderAt, what string, lba, lastLBA uint64, ss int) gptCopy {
	b := make([]byte, ss)
	if err := readFull(r, b, int64(lba)*int64(ss)); err != nil {
		return gptCopy{err: fmt.Errorf("%s at LBA %d: %v", what, lba, err)}
	}
	h, err := DecodeGPTHeader(b)
	if err != nil {
		return gptCopy{err: err}
	}
	if err := h.Validate(what, lba, lastLBA, ss); err != nil {
		return gptCopy{err: err}
	}
	array := make([]byte, h.EntryArraySize())
	if err := readFull(r, array, int64(h.PartitionEntryLBA)*int64(ss)); err != nil {
		return gptCopy{err: fmt.Errorf("%s: reading the partition entry array at LBA %d: %v", what, h.PartitionEntryLBA, err)}
	}
	if c := EntryArrayCRC(array); c != h.PartitionEntryArrayCRC32 {
		return gptCopy{err: super.Errorf(super.ErrChecksum, what, super.NoBlock, int64(lba)*int64(ss)+88,
			"partition entry array (LBA %d) CRC32 %#08x, computed %#08x", h.PartitionEntryLBA, h.PartitionEntryArrayCRC32, c)}
	}
	return gptCopy{h: h, array: array}
}

func readGPT(r io.ReaderAt, size int64, ss int, m *MBR, mbrOK bool) (*Table, error) {
	t := &Table{Kind: "GPT", SectorSize: ss, DiskSize: size, Partitions: []Partition{}}
	lastLBA := uint64(size/int64(ss)) - 1
	if !mbrOK || !m.Protective() {
		t.Notes = append(t.Notes, "sector 0 is not a protective MBR (no partition of type 0xee); the GPT headers are used anyway")
	}
	primary := loadGPT(r, "primary GPT header", 1, lastLBA, ss)
	backupLBA := lastLBA
	if primary.err == nil {
		switch alt := primary.h.AlternateLBA; {
		case alt > lastLBA:
			t.Notes = append(t.Notes, fmt.Sprintf("the primary GPT header puts its backup at LBA %d, past the end of the disk (%d sectors): a truncated image?", alt, lastLBA+1))
		case alt != lastLBA:
			t.Notes = append(t.Notes, fmt.Sprintf("the backup GPT header is at LBA %d, not at the last LBA %d (the disk was grown?)", alt, lastLBA))
			backupLBA = alt
		}
	}
	backup := loadGPT(r, "backup GPT header", backupLBA, lastLBA, ss)
	use := primary
	switch {
	case primary.err == nil && backup.err != nil:
		t.Notes = append(t.Notes, fmt.Sprintf("the backup GPT header is missing or damaged (%v); the primary is intact and used", backup.err))
	case primary.err == nil && !bytes.Equal(primary.array, backup.array):
		t.Notes = append(t.Notes, "the backup GPT entry array differs from the primary's; the primary is used")
	case primary.err != nil && backup.err == nil:
		t.Notes = append(t.Notes, fmt.Sprintf("the primary GPT header is damaged (%v); using the backup at LBA %d", primary.err, backupLBA))
		use = backup
	case primary.err != nil:
		var fe *super.FormatError
		sentinel := super.ErrCorrupt
		if errors.As(primary.err, &fe) {
			sentinel = fe.Err
		}
		return nil, super.Errorf(sentinel, "GPT", super.NoBlock, -1, "neither GPT header is usable: %v; %v", primary.err, backup.err)
	}
	h := use.h
	t.DiskID = GUIDString(h.DiskGUID)
	for i := uint32(0); i < h.NumberOfPartitionEntries; i++ {
		e, err := DecodeGPTEntry(use.array[uint64(i)*uint64(h.SizeOfPartitionEntry):])
		if err != nil || !e.Used() {
			continue
		}
		guid := GUIDString(e.PartitionTypeGUID)
		p := Partition{Number: int(i) + 1, Type: guid, TypeName: GPTTypeName(guid), Name: e.Name(), UUID: GUIDString(e.UniquePartitionGUID)}
		switch {
		case e.EndingLBA < e.StartingLBA:
			p.Problem = fmt.Sprintf("its last LBA %d precedes its first LBA %d", e.EndingLBA, e.StartingLBA)
		case e.EndingLBA > lastLBA:
			p.Problem = fmt.Sprintf("it ends at LBA %d, past the end of the disk (%d sectors): a truncated image?", e.EndingLBA, lastLBA+1)
		default:
			p.Start = int64(e.StartingLBA) * int64(ss)
			p.Size = int64(e.EndingLBA-e.StartingLBA+1) * int64(ss)
			if e.StartingLBA < h.FirstUsableLBA || e.EndingLBA > h.LastUsableLBA {
				p.Problem = fmt.Sprintf("LBAs %d..%d lie outside the usable range %d..%d", e.StartingLBA, e.EndingLBA, h.FirstUsableLBA, h.LastUsableLBA)
			}
		}
		t.Partitions = append(t.Partitions, p)
	}
	t.markOverlaps()
	return t, nil
}

func readMBR(r io.ReaderAt, size int64, ss int, m *MBR) (*Table, error) {
	t := &Table{Kind: "MBR", SectorSize: ss, DiskSize: size, DiskID: fmt.Sprintf("0x%08x", m.UniqueMBRSignature), Partitions: []Partition{}}
	sectors := uint64(size / int64(ss))
	var ext *MBREntry
	for i := range m.Entries {
		e := &m.Entries[i]
		if !e.Used() {
			continue
		}
		p := mbrPartition(i+1, uint64(e.StartingLBA), e, sectors, ss)
		if e.IsExtended() {
			p.Extended = true
			if ext == nil {
				ext = e
			} else {
				t.Notes = append(t.Notes, fmt.Sprintf("partition %d is a second extended partition; only the first is followed", i+1))
			}
		}
		t.Partitions = append(t.Partitions, p)
	}
	if ext != nil {
		t.readEBRs(r, uint64(ext.StartingLBA), uint64(ext.SizeInLBA), sectors, ss)
	}
	t.markOverlaps()
	return t, nil
}

// markOverlaps gives every pair of partitions that share bytes a Problem
// (an extended partition is a container and overlaps its logical ones by
// design): writing to one would write into the other.
func (t *Table) markOverlaps() {
	var idx []int
	for i, p := range t.Partitions {
		if !p.Extended && p.Problem == "" {
			idx = append(idx, i)
		}
	}
	sort.Slice(idx, func(a, b int) bool { return t.Partitions[idx[a]].Start < t.Partitions[idx[b]].Start })
	far := -1 // the partition seen so far that ends last
	for _, i := range idx {
		p := &t.Partitions[i]
		if far >= 0 {
			if q := &t.Partitions[far]; p.Start < q.Start+q.Size {
				p.Problem = fmt.Sprintf("it overlaps partition %d", q.Number)
				if q.Problem == "" {
					q.Problem = fmt.Sprintf("it overlaps partition %d", p.Number)
				}
			}
		}
		if far < 0 || p.Start+p.Size > t.Partitions[far].Start+t.Partitions[far].Size {
			far = i
		}
	}
}

func mbrPartition(n int, start uint64, e *MBREntry, sectors uint64, ss int) Partition {
	p := Partition{Number: n, Type: mbrTypeString(e.OSType), TypeName: MBRTypeName(e.OSType), Bootable: e.BootIndicator == bootIndicatorOn}
	end := start + uint64(e.SizeInLBA) // start < 2^33, no overflow
	if start == 0 {
		p.Problem = "it starts at sector 0, over the partition table itself"
		return p
	}
	if end > sectors {
		p.Problem = fmt.Sprintf("it ends at sector %d, past the end of the disk (%d sectors): a truncated image?", end, sectors)
		return p
	}
	p.Start = int64(start) * int64(ss)
	p.Size = int64(e.SizeInLBA) * int64(ss)
	return p
}

// readEBRs follows the chain of extended boot records: in each, entry 1
// is a logical partition (relative to this EBR) and entry 2 points at the
// next EBR (relative to the extended partition's start).
func (t *Table) readEBRs(r io.ReaderAt, extStart, extSize, sectors uint64, ss int) {
	seen := map[uint64]bool{}
	cur := extStart
	b := make([]byte, MBRSize)
	for n := 5; ; n++ {
		switch {
		case n-4 > maxLogical:
			t.Notes = append(t.Notes, fmt.Sprintf("more than %d logical partitions: the rest of the EBR chain is not read", maxLogical))
			return
		case seen[cur]:
			t.Notes = append(t.Notes, fmt.Sprintf("the EBR chain loops back to sector %d; the rest is ignored", cur))
			return
		case cur < extStart || cur >= extStart+extSize || cur >= sectors:
			t.Notes = append(t.Notes, fmt.Sprintf("an EBR at sector %d lies outside the extended partition or the disk; the rest of the chain is ignored", cur))
			return
		}
		seen[cur] = true
		what := fmt.Sprintf("EBR at sector %d", cur)
		if err := readFull(r, b, int64(cur)*int64(ss)); err != nil {
			t.Notes = append(t.Notes, fmt.Sprintf("%s: %v", what, err))
			return
		}
		ebr, _ := DecodeMBR(b)
		if err := ebr.Validate(what, int64(cur)*int64(ss)); err != nil {
			t.Notes = append(t.Notes, err.Error())
			return
		}
		if l := &ebr.Entries[0]; l.Used() {
			p := mbrPartition(n, cur+uint64(l.StartingLBA), l, sectors, ss)
			p.Logical = true
			if p.Problem == "" && (uint64(p.Start+p.Size) > (extStart+extSize)*uint64(ss)) {
				p.Problem = "it extends past the end of its extended partition"
			}
			t.Partitions = append(t.Partitions, p)
		}
		next := &ebr.Entries[1]
		if !next.Used() || !next.IsExtended() {
			return
		}
		cur = extStart + uint64(next.StartingLBA)
	}
}

// Partition returns partition n. It refuses a number not in the table, an
// extended partition (a container) and a partition with a Problem.
func (t *Table) Partition(n int) (Partition, error) {
	for _, p := range t.Partitions {
		if p.Number != n {
			continue
		}
		switch {
		case p.Extended:
			return p, fmt.Errorf("partition %d is an MBR extended partition, a container of logical partitions (5 and up), not a filesystem", n)
		case p.Problem != "":
			return p, super.Errorf(super.ErrCorrupt, fmt.Sprintf("%s partition %d", t.Kind, n), super.NoBlock, -1, "%s", p.Problem)
		}
		return p, nil
	}
	return Partition{}, fmt.Errorf("the %s partition table has no partition %d (it has %s)", t.Kind, n, t.numbers())
}

func (t *Table) numbers() string {
	if len(t.Partitions) == 0 {
		return "none"
	}
	var b bytes.Buffer
	for i, p := range t.Partitions {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprint(&b, p.Number)
	}
	return b.String()
}

// Containing returns the partition whose byte range holds off.
func (t *Table) Containing(off int64) (Partition, bool) {
	for _, p := range t.Partitions {
		if !p.Extended && p.Problem == "" && off >= p.Start && off < p.Start+p.Size {
			return p, true
		}
	}
	return Partition{}, false
}
