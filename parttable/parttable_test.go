package parttable_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/ext4relink/ext4relink/internal/testfs"
	"github.com/ext4relink/ext4relink/parttable"
	"github.com/ext4relink/ext4relink/super"
)

// The two committed images are 4 MiB sparse disks partitioned by util-linux
// sfdisk 2.38 (gzipped; only their tables are non-zero):
//
//	gpt-sfdisk.img: label gpt; 1: start 2048, size 2048, EFI System "EFI system";
//	                2: start 4096, size 4062, Linux filesystem "root"
//	mbr-sfdisk.img: label dos; 1: start 2048, size 2048, 0x83, bootable;
//	                2: start 4096, size 4096, 0x05 (extended);
//	                5: start 5120, size 1024, 0x82; 6: start 7168, size 1024, 0x83
func image(t testing.TB, name string) []byte { return testfs.SfdiskBytes(t, name) }

func read(t *testing.T, disk []byte, ss int) *parttable.Table {
	t.Helper()
	tab, err := parttable.Read(bytes.NewReader(disk), int64(len(disk)), ss)
	if err != nil {
		t.Fatal(err)
	}
	if tab == nil {
		t.Fatal("no partition table found")
	}
	return tab
}

type want struct {
	n           int
	start, size int64
	typeName    string
}

func check(t *testing.T, tab *parttable.Table, ws []want) {
	t.Helper()
	if len(tab.Partitions) != len(ws) {
		t.Fatalf("%d partitions, want %d: %+v", len(tab.Partitions), len(ws), tab.Partitions)
	}
	for i, w := range ws {
		p := tab.Partitions[i]
		if p.Number != w.n || p.Start != w.start || p.Size != w.size || p.TypeName != w.typeName {
			t.Errorf("partition %d: got %+v, want %+v", i, p, w)
		}
	}
}

var gptWant = []want{{1, 2048 * 512, 2048 * 512, "EFI System"}, {2, 4096 * 512, 4062 * 512, "Linux filesystem"}}

func TestSfdiskGPT(t *testing.T) {
	tab := read(t, image(t, "gpt-sfdisk"), 0)
	if tab.Kind != "GPT" || tab.SectorSize != 512 || len(tab.Notes) != 0 || tab.DiskID != "3B7ED103-E6FE-F542-B20A-E2BD97B62E1A" {
		t.Fatalf("%+v", tab)
	}
	check(t, tab, gptWant)
	if tab.Partitions[0].Name != "EFI system" || tab.Partitions[1].Name != "root" || tab.Partitions[1].UUID != "7E3AD166-8627-9F44-9395-08E5F9AEEF18" {
		t.Errorf("names/uuids: %+v", tab.Partitions)
	}
	if p, err := tab.Partition(2); err != nil || p.Start != 4096*512 {
		t.Errorf("Partition(2) = %+v, %v", p, err)
	}
	if _, err := tab.Partition(3); err == nil || !strings.Contains(err.Error(), "no partition 3 (it has 1, 2)") {
		t.Errorf("Partition(3): %v", err)
	}
}

func TestSfdiskMBR(t *testing.T) {
	tab := read(t, image(t, "mbr-sfdisk"), 0)
	if tab.Kind != "MBR" || tab.DiskID != "0x49398d6a" || len(tab.Notes) != 0 {
		t.Fatalf("%+v", tab)
	}
	check(t, tab, []want{
		{1, 2048 * 512, 2048 * 512, "Linux"}, {2, 4096 * 512, 4096 * 512, "Extended"},
		{5, 5120 * 512, 1024 * 512, "Linux swap / Solaris"}, {6, 7168 * 512, 1024 * 512, "Linux"},
	})
	if !tab.Partitions[0].Bootable || !tab.Partitions[1].Extended || !tab.Partitions[2].Logical {
		t.Errorf("flags: %+v", tab.Partitions)
	}
	if _, err := tab.Partition(2); err == nil || !strings.Contains(err.Error(), "extended partition") {
		t.Errorf("Partition(2) of the extended container: %v", err)
	}
	if p, ok := tab.Containing(7168*512 + 100); !ok || p.Number != 6 {
		t.Errorf("Containing: %+v %v", p, ok)
	}
}

func TestRoundTrip(t *testing.T) {
	for _, name := range []string{"gpt-sfdisk", "mbr-sfdisk"} {
		d := image(t, name)
		m, err := parttable.DecodeMBR(d[:512])
		if err != nil || !bytes.Equal(m.Encode(), d[:512]) {
			t.Errorf("%s: MBR round trip (%v)", name, err)
		}
	}
	d := image(t, "gpt-sfdisk")
	h, err := parttable.DecodeGPTHeader(d[512:1024])
	if err != nil || !bytes.Equal(h.Encode(), d[512:1024]) || !h.VerifyChecksum() {
		t.Errorf("GPT header round trip (%v)", err)
	}
	e, err := parttable.DecodeGPTEntry(d[1024:1152])
	if err != nil || !bytes.Equal(e.Encode(), d[1024:1152]) {
		t.Errorf("GPT entry round trip (%v)", err)
	}
	g, err := parttable.ParseGUID("C12A7328-F81F-11D2-BA4B-00A0C93EC3B8")
	if err != nil || g != e.PartitionTypeGUID {
		t.Errorf("ParseGUID: %x %v", g, err)
	}
}

func lastSector(d []byte) int { return len(d) - 512 }

func noted(t *testing.T, tab *parttable.Table, want string) {
	t.Helper()
	for _, n := range tab.Notes {
		if strings.Contains(n, want) {
			return
		}
	}
	t.Errorf("no note %q in %q", want, tab.Notes)
}

func TestGPTPrimaryHeaderCRC(t *testing.T) {
	d := image(t, "gpt-sfdisk")
	d[512+60] ^= 1 // a disk GUID byte: only the header CRC notices
	tab := read(t, d, 0)
	noted(t, tab, "primary GPT header is damaged (primary GPT header (byte offset 528): header CRC32")
	noted(t, tab, "using the backup at LBA 8191")
	check(t, tab, gptWant)
}

func TestGPTPrimaryEntryArrayCRC(t *testing.T) {
	d := image(t, "gpt-sfdisk")
	d[1024+32] ^= 1 // partition 1's first LBA, in the primary array
	tab := read(t, d, 0)
	noted(t, tab, "partition entry array (LBA 2) CRC32")
	check(t, tab, gptWant) // from the backup array
}

func TestGPTBackupMissing(t *testing.T) {
	d := image(t, "gpt-sfdisk")
	clear(d[lastSector(d):])
	tab := read(t, d, 0)
	noted(t, tab, `the backup GPT header is missing or damaged (backup GPT header (byte offset 4193792): no "EFI PART" signature)`)
	check(t, tab, gptWant)
}

func TestGPTBackupArrayDiffers(t *testing.T) {
	d := image(t, "gpt-sfdisk")
	d[lastSector(d)-32*512+32] ^= 1 // backup array, partition 1's first LBA
	tab := read(t, d, 0)
	noted(t, tab, "backup GPT header is missing or damaged (backup GPT header (byte offset 4193880): partition entry array (LBA 8159) CRC32")
	check(t, tab, gptWant)
}

func TestGPTBothHeadersBroken(t *testing.T) {
	d := image(t, "gpt-sfdisk")
	d[512+60] ^= 1
	clear(d[lastSector(d):])
	tab, err := parttable.Read(bytes.NewReader(d), int64(len(d)), 0)
	var fe *super.FormatError
	if tab != nil || !errors.As(err, &fe) || fe.Struct != "GPT" || !errors.Is(err, super.ErrChecksum) || !strings.Contains(err.Error(), "neither GPT header is usable") {
		t.Fatalf("got %+v, %v", tab, err)
	}
}

func TestGPTNoHeaderAtAll(t *testing.T) {
	d := image(t, "gpt-sfdisk")
	clear(d[512:1024])
	clear(d[lastSector(d):])
	_, err := parttable.Read(bytes.NewReader(d), int64(len(d)), 0)
	if !errors.Is(err, super.ErrCorrupt) || !strings.Contains(err.Error(), "protective MBR (type 0xee), but there is no GPT header") {
		t.Fatalf("%v", err)
	}
}

func TestGPTOnlyBackupHeader(t *testing.T) {
	d := image(t, "gpt-sfdisk")
	clear(d[512:1024])
	tab := read(t, d, 0)
	noted(t, tab, "using the backup at LBA 8191")
	check(t, tab, gptWant)
}

func TestTruncatedImage(t *testing.T) {
	d := image(t, "gpt-sfdisk")[:3<<20]
	tab := read(t, d, 0)
	noted(t, tab, "puts its backup at LBA 8191, past the end of the disk (6144 sectors): a truncated image?")
	noted(t, tab, "backup GPT header is missing or damaged")
	if p := tab.Partitions[1]; p.Problem == "" || !strings.Contains(p.Problem, "past the end of the disk") {
		t.Errorf("partition 2: %+v", p)
	}
	if _, err := tab.Partition(2); !errors.Is(err, super.ErrCorrupt) || !strings.Contains(err.Error(), "GPT partition 2: it ends at LBA 8157") {
		t.Errorf("Partition(2): %v", err)
	}
	if _, err := tab.Partition(1); err != nil {
		t.Errorf("Partition(1): %v", err)
	}
	m := image(t, "mbr-sfdisk")[:5<<20/2]
	tab = read(t, m, 0)
	if p := tab.Partitions[1]; !strings.Contains(p.Problem, "past the end of the disk") {
		t.Errorf("MBR extended partition: %+v", p)
	}
	for _, n := range []int{0, 100, 511} {
		if tab, err := parttable.Read(bytes.NewReader(m[:n]), int64(n), 0); tab != nil || err != nil {
			t.Errorf("%d bytes: %+v %v", n, tab, err)
		}
	}
}

func TestEBRLoop(t *testing.T) {
	d := image(t, "mbr-sfdisk")
	// The second EBR (sector 7168-2048 = 6144... find it from the first).
	first := 4096 * 512
	next := int(binary.LittleEndian.Uint32(d[first+446+16+8:]))
	second := (4096 + next) * 512
	// Point the second EBR's link back at the first.
	binary.LittleEndian.PutUint32(d[second+446+16+8:], 0)
	d[second+446+16+4] = 0x05
	binary.LittleEndian.PutUint32(d[second+446+16+12:], 1)
	tab := read(t, d, 0)
	noted(t, tab, "the EBR chain loops back to sector 4096")
	if len(tab.Partitions) != 4 {
		t.Errorf("%+v", tab.Partitions)
	}
	// A link out of the extended partition.
	binary.LittleEndian.PutUint32(d[second+446+16+8:], 99999)
	noted(t, read(t, d, 0), "outside the extended partition")
	// A broken EBR signature.
	binary.LittleEndian.PutUint32(d[second+446+16+8:], uint32(second/512-4096))
	d[second+510] = 0
	noted(t, read(t, d, 0), "EBR at sector")
}

func TestMBRPartitionOverTable(t *testing.T) {
	d := image(t, "mbr-sfdisk")
	binary.LittleEndian.PutUint32(d[446+8:], 0) // partition 1 starts at sector 0
	tab := read(t, d, 0)
	if _, err := tab.Partition(1); !errors.Is(err, super.ErrCorrupt) || !strings.Contains(err.Error(), "over the partition table") {
		t.Errorf("%v", err)
	}
}

func TestOverlap(t *testing.T) {
	d := buildGPT(512, 64, [][2]uint64{{8, 31}, {32, 60}, {20, 40}})
	tab := read(t, d, 0)
	for _, c := range []struct {
		n    int
		want string
	}{{1, "overlaps partition 3"}, {2, "overlaps partition 3"}, {3, "overlaps partition 1"}} {
		if _, err := tab.Partition(c.n); !errors.Is(err, super.ErrCorrupt) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("partition %d: %v", c.n, err)
		}
	}
	// sfdisk's logical partitions inside their extended one are fine.
	for _, p := range read(t, image(t, "mbr-sfdisk"), 0).Partitions {
		if p.Problem != "" {
			t.Errorf("%+v", p)
		}
	}
}

func TestNoTable(t *testing.T) {
	zeros := make([]byte, 1<<20)
	fat := make([]byte, 4096)
	copy(fat[3:], "mkfs.fat")
	copy(fat[446:], "Non-system disk\r\nPress any key to reboot\r\n")
	fat[510], fat[511] = 0x55, 0xAA
	for name, d := range map[string][]byte{"zeros": zeros, "FAT boot sector": fat} {
		if tab, err := parttable.Read(bytes.NewReader(d), int64(len(d)), 0); tab != nil || err != nil {
			t.Errorf("%s: %+v %v", name, tab, err)
		}
	}
}

// buildGPT makes a minimal GPT disk of the given sector size: protective
// MBR, primary header and a one-sector array of 4 entries, backup array and
// header at the end.
func buildGPT(ss int, sectors uint64, parts [][2]uint64) []byte {
	d := make([]byte, uint64(ss)*sectors)
	m := &parttable.MBR{Signature: parttable.MBRSignature}
	m.Entries[0] = parttable.MBREntry{OSType: parttable.TypeGPTProtect, StartingLBA: 1, SizeInLBA: uint32(sectors - 1)}
	copy(d, m.Encode())
	array := make([]byte, ss)
	linux, _ := parttable.ParseGUID("0FC63DAF-8483-4772-8E79-3D69D8477DE4")
	for i, p := range parts {
		e := parttable.GPTEntry{PartitionTypeGUID: linux, StartingLBA: p[0], EndingLBA: p[1]}
		e.UniquePartitionGUID[0] = byte(i + 1)
		e.SetName("part")
		copy(array[i*128:], e.Encode())
	}
	put := func(lba, alt, arrayLBA uint64) {
		h, _ := parttable.DecodeGPTHeader(make([]byte, ss))
		copy(h.Signature[:], parttable.GPTSignature)
		h.Revision, h.HeaderSize = 0x10000, 92
		h.MyLBA, h.AlternateLBA = lba, alt
		h.FirstUsableLBA, h.LastUsableLBA = 3, sectors-3
		h.DiskGUID[0] = 0x42
		h.PartitionEntryLBA, h.NumberOfPartitionEntries, h.SizeOfPartitionEntry = arrayLBA, uint32(ss/128), 128
		h.PartitionEntryArrayCRC32 = parttable.EntryArrayCRC(array)
		h.SetChecksum()
		copy(d[lba*uint64(ss):], h.Encode())
		copy(d[arrayLBA*uint64(ss):], array)
	}
	put(1, sectors-1, 2)
	put(sectors-1, 1, sectors-2)
	return d
}

func TestGPT4KSectors(t *testing.T) {
	d := buildGPT(4096, 64, [][2]uint64{{8, 31}, {32, 60}})
	tab := read(t, d, 0)
	if tab.SectorSize != 4096 || len(tab.Notes) != 0 {
		t.Fatalf("%+v", tab)
	}
	check(t, tab, []want{{1, 8 * 4096, 24 * 4096, "Linux filesystem"}, {2, 32 * 4096, 29 * 4096, "Linux filesystem"}})
	// Told the sector size is 512 (BLKSSZGET), the 4K table is not found
	// at LBA 1: the protective MBR without a header is an error.
	if _, err := parttable.Read(bytes.NewReader(d), int64(len(d)), 512); err == nil {
		t.Error("4K GPT read with 512-byte sectors")
	}
	// The same layout with 512-byte sectors.
	tab = read(t, buildGPT(512, 64, [][2]uint64{{8, 31}}), 0)
	if tab.SectorSize != 512 {
		t.Fatalf("%+v", tab)
	}
}

// sparseDisk is a disk of size bytes holding head at its start and tail at
// its end, zeros between: small fuzz inputs stand for whole disks.
type sparseDisk struct {
	head, tail []byte
	size       int64
}

func (s sparseDisk) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 || off >= s.size {
		return 0, io.EOF
	}
	n := len(p)
	if int64(n) > s.size-off {
		n = int(s.size - off)
	}
	clear(p[:n])
	if off < int64(len(s.head)) {
		copy(p[:n], s.head[off:])
	}
	tailAt := s.size - int64(len(s.tail))
	for i := 0; i < n; i++ {
		if at := off + int64(i); at >= tailAt {
			p[i] = s.tail[at-tailAt]
		}
	}
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

func trimZeros(b []byte) []byte { return bytes.TrimRight(b, "\x00") }

func FuzzRead(f *testing.F) {
	// Inputs stay small (the fuzzer slows to a crawl on inputs of tens of
	// KiB): sfdisk's protective MBR, primary header and the used part of
	// its entry array; its backup header as the tail (the backup array,
	// zeros here, then fails its CRC).
	g := image(f, "gpt-sfdisk")
	f.Add(trimZeros(g[:34*512]), g[len(g)-512:], uint32(len(g)/512))
	// sfdisk's MBR, with its first EBR moved to the tail.
	m := image(f, "mbr-sfdisk")
	f.Add(m[:512], m[4096*512:4097*512], uint32(4097))
	// Whole small tables, both copies intact.
	d := buildGPT(512, 16, [][2]uint64{{3, 7}, {8, 12}})
	f.Add(trimZeros(d[:3*512]), d[len(d)-2*512:], uint32(16))
	d = buildGPT(4096, 8, [][2]uint64{{3, 4}})
	f.Add(trimZeros(d[:3*4096]), []byte(nil), uint32(8*8))
	f.Fuzz(func(t *testing.T, head, tail []byte, sectors uint32) {
		size := min(max(int64(sectors)*512, int64(len(head)+len(tail))), 1<<40)
		disk := sparseDisk{head: head, tail: tail, size: size}
		for _, ss := range []int{0, 512, 4096} {
			tab, err := parttable.Read(disk, size, ss)
			if err != nil || tab == nil {
				continue
			}
			for _, p := range tab.Partitions {
				if p.Problem == "" && !p.Extended && (p.Start < 0 || p.Size <= 0 || p.Start+p.Size > size) {
					t.Fatalf("partition %+v outside a %d-byte disk", p, size)
				}
				tab.Partition(p.Number)
			}
		}
		if h, err := parttable.DecodeGPTHeader(head); err == nil {
			if !bytes.Equal(h.Encode(), head) {
				t.Fatal("GPT header round trip")
			}
			h.Validate("h", 1, uint64(size/512), 512)
		}
		if m, err := parttable.DecodeMBR(head); err == nil && !bytes.Equal(m.Encode(), head[:512]) {
			t.Fatal("MBR round trip")
		}
	})
}
