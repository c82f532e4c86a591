package engine

import (
	"errors"
	"strings"
	"testing"

	"github.com/ext4relink/ext4relink/internal/devio"
	"github.com/ext4relink/ext4relink/internal/testfs"
	"github.com/ext4relink/ext4relink/super"
)

// TestPartitionedRefusal: OpenFS on a disk image (here holding no
// filesystem at all) names the table and each partition.
func TestPartitionedRefusal(t *testing.T) {
	for name, want := range map[string]string{
		"gpt-sfdisk": "holds a GPT partition table, not a filesystem: 1: start 1048576, 1 MiB, EFI System; 2: start 2097152, 2 MiB, Linux filesystem — no partition holds a valid ext2/3/4 superblock",
		"mbr-sfdisk": "holds an MBR partition table, not a filesystem: 1: start 1048576, 1 MiB, Linux; 2: start 2097152, 2 MiB, Extended (container of logical partitions); 5: start 2621440, 512 KiB, Linux swap / Solaris (logical); 6: start 3670016, 512 KiB, Linux (logical)",
	} {
		img := testfs.SfdiskImage(t, name)
		_, err := OpenFS(img, Options{})
		var te *devio.TableError
		if !errors.As(err, &te) || !errors.Is(err, ErrDevice) || !errors.Is(err, super.ErrCorrupt) || !strings.Contains(err.Error(), img+" "+want) {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func TestPartitionWithoutFS(t *testing.T) {
	img := testfs.SfdiskImage(t, "gpt-sfdisk")
	_, err := OpenFS(img, Options{Partition: 2})
	want := img + " partition 2 (GPT): superblock (byte offset 1024): bad magic"
	if !errors.Is(err, super.ErrCorrupt) || !strings.HasPrefix(err.Error(), want) || !strings.Contains(err.Error(), "see 'ext4relink partitions --dev "+img+"'") {
		t.Fatalf("%v", err)
	}
}
