package devio

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ext4relink/ext4relink/internal/testfs"
	"github.com/ext4relink/ext4relink/super"
)

func sfdiskImage(t *testing.T, name string) string { return testfs.SfdiskImage(t, name) }

func TestSectionBounds(t *testing.T) {
	img := sfdiskImage(t, "gpt-sfdisk")
	d, _, err := Open(img, Options{Mode: ReadWrite, Partition: 1})
	if err != nil {
		t.Fatal(err)
	}
	s, ok := d.Section()
	if !ok || s.Start != 2048*512 || s.Size != 2048*512 || d.Size() != s.Size || s.Label != "partition 1 (GPT)" {
		t.Fatalf("section %+v, size %d", s, d.Size())
	}
	mark := []byte("inside partition 1, at its last sector")
	if _, err := d.WriteAt(mark, d.Size()-512); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		off int64
		n   int
	}{{d.Size() - 511, 512}, {d.Size(), 1}, {-1, 1}, {1 << 62, 1}} {
		if _, err := d.ReadAt(make([]byte, c.n), c.off); !errors.Is(err, ErrDevice) || !strings.Contains(err.Error(), "outside partition 1 (GPT)") {
			t.Errorf("read %d at %d: %v", c.n, c.off, err)
		}
		if _, err := d.WriteAt(make([]byte, c.n), c.off); !errors.Is(err, ErrDevice) {
			t.Errorf("write %d at %d: %v", c.n, c.off, err)
		}
	}
	d.Close()
	raw, err := os.ReadFile(img)
	if err != nil {
		t.Fatal(err)
	}
	if at := bytes.Index(raw, mark); at != 4096*512-512 {
		t.Fatalf("the write landed at byte %d of the disk, want %d", at, 4096*512-512)
	}

	// --offset inside partition 1 ends with it; past the partitions, with the disk.
	d, _, err = Open(img, Options{Mode: ReadOnly, UseOffset: true, Offset: 3000 * 512})
	if err != nil {
		t.Fatal(err)
	}
	if s, _ := d.Section(); s.Size != 1096*512 || !strings.Contains(s.Label, "inside GPT partition 1, up to its end") {
		t.Errorf("offset inside partition 1: %+v", s)
	}
	d.Close()
	d, _, err = Open(img, Options{Mode: ReadOnly, UseOffset: true, Offset: 4096 * 512})
	if err != nil {
		t.Fatal(err)
	}
	if s, _ := d.Section(); s.Size != 4062*512 || s.Partition != 2 {
		t.Errorf("offset of partition 2: %+v", s)
	}
	d.Close()
}

func TestSectionRefusals(t *testing.T) {
	gpt := sfdiskImage(t, "gpt-sfdisk")
	mbr := sfdiskImage(t, "mbr-sfdisk")
	for _, c := range []struct {
		img  string
		o    Options
		want string
		is   error
	}{
		{gpt, Options{Partition: 3}, "--partition 3: " + gpt + ": the GPT partition table has no partition 3 (it has 1, 2)", ErrArgument},
		{mbr, Options{Partition: 2}, "an MBR extended partition", ErrArgument},
		{gpt, Options{UseOffset: true, Offset: 1000}, "--offset 1000: not a multiple of 512", ErrArgument},
		{gpt, Options{UseOffset: true, Offset: 4 << 20}, "--offset 4194304: " + gpt + " is only 4194304 bytes", ErrArgument},
		{gpt, Options{Partition: 1, UseOffset: true}, "not both", ErrArgument},
	} {
		d, _, err := Open(c.img, c.o)
		if err == nil {
			d.Close()
		}
		if !errors.Is(err, c.is) || err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: %v, want %q", c.o, err, c.want)
		}
	}
	// No table at all.
	plain := filepath.Join(t.TempDir(), "plain.img")
	os.WriteFile(plain, make([]byte, 1<<20), 0o644)
	if _, _, err := Open(plain, Options{Partition: 1}); !errors.Is(err, ErrArgument) || !strings.Contains(err.Error(), "has no partition table") {
		t.Errorf("no table: %v", err)
	}
	// A partition the truncated image cuts: corrupt, named.
	f, _ := os.OpenFile(gpt, os.O_RDWR, 0)
	f.Truncate(3 << 20)
	f.Close()
	if _, _, err := Open(gpt, Options{Partition: 2}); !errors.Is(err, super.ErrCorrupt) || !strings.Contains(err.Error(), "GPT partition 2: it ends at LBA 8157, past the end of the disk") {
		t.Errorf("truncated: %v", err)
	}
}

func TestHumanSize(t *testing.T) {
	for n, want := range map[int64]string{0: "0 bytes", 1023: "1023 bytes", 1024: "1 KiB", 512 << 20: "512 MiB", 9*1<<30 + 1<<29: "9.5 GiB"} {
		if got := HumanSize(n); got != want {
			t.Errorf("%d: %q, want %q", n, got, want)
		}
	}
}
