package bitmap

import (
	"testing"

	"github.com/ext4relink/ext4relink/fixtures"
	"github.com/ext4relink/ext4relink/internal/testfs"
	"github.com/ext4relink/ext4relink/super"
)

func TestBitOps(t *testing.T) {
	b := make([]byte, 2)
	if !Set(b, 9) || !Test(b, 9) || Test(b, 8) {
		t.Fatal("set/test")
	}
	if Set(b, 16) || !Test(b, 100) {
		t.Fatal("out of range must refuse / read as used")
	}
	if i, ok := FindZero([]byte{0xff, 0xfd}, 3, 16); !ok || i != 9 {
		t.Fatalf("FindZero=%d,%v", i, ok)
	}
	if i, ok := FindZero([]byte{0xfe, 0xff}, 5, 16); !ok || i != 0 {
		t.Fatalf("FindZero wrap=%d,%v", i, ok)
	}
	if CountZero([]byte{0x0f}, 8) != 4 {
		t.Fatal("CountZero")
	}
}

// TestChecksumsRealImages verifies every initialised bitmap of every
// fixture against its group descriptor (after debugfs replays the journal).
func TestChecksumsRealImages(t *testing.T) {
	for _, img := range fixtures.All(t) {
		t.Run(img.Name, func(t *testing.T) {
			p := testfs.Replayed(t, img)
			sb := testfs.Superblock(t, p)
			for g := uint64(0); g < sb.GroupCount(); g++ {
				gd := desc(t, p, sb, g)
				bb := testfs.Block(t, p, sb, gd.BlockBitmap())
				ib := testfs.Block(t, p, sb, gd.InodeBitmap())
				if !VerifyBlockBitmap(sb, gd, bb) {
					t.Fatalf("group %d: block bitmap checksum", g)
				}
				if !VerifyInodeBitmap(sb, gd, ib) {
					t.Fatalf("group %d: inode bitmap checksum", g)
				}
				if sb.HasMetadataCsum() && gd.Flags&super.BgBlockUninit == 0 {
					bb[0] ^= 0x80
					if VerifyBlockBitmap(sb, gd, bb) {
						t.Fatalf("group %d: flipped bitmap still verifies", g)
					}
				}
			}
		})
	}
}

func desc(t *testing.T, p string, sb *super.Superblock, g uint64) *super.GroupDesc {
	t.Helper()
	blk, off := sb.DescLocation(g)
	gd, err := super.DecodeGroupDesc(testfs.Block(t, p, sb, blk)[off : off+sb.DescSizeBytes()])
	if err != nil {
		t.Fatal(err)
	}
	return gd
}

// TestAllocFreeRoundTrip allocates a free block of a real image and frees it
// again: every structure must return to its original bytes.
func TestAllocFreeRoundTrip(t *testing.T) {
	for _, name := range []string{"ext4-4k-freeze", "ext4-32bit", "ext4-fulldir-1k"} {
		img := fixtures.Get(t, name)
		p := testfs.Replayed(t, img)
		sb := testfs.Superblock(t, p)
		g := &Group{Num: 0, Desc: desc(t, p, sb, 0)}
		g.BlockBitmap = testfs.Block(t, p, sb, g.Desc.BlockBitmap())
		origBM, origGD, origSB := append([]byte(nil), g.BlockBitmap...), g.Desc.Encode(), sb.Encode()
		blk, ok := FindFree(sb, g, 0)
		if !ok {
			t.Fatalf("%s: no free block in group 0", name)
		}
		if err := AllocBlock(sb, g, blk); err != nil {
			t.Fatal(err)
		}
		if err := AllocBlock(sb, g, blk); err == nil {
			t.Fatal("double allocation accepted")
		}
		if !VerifyBlockBitmap(sb, g.Desc, g.BlockBitmap) || !g.Desc.VerifyChecksum(sb, 0) || !sb.VerifyChecksum() {
			t.Fatal("checksums not maintained")
		}
		if err := FreeBlock(sb, g, blk); err != nil {
			t.Fatal(err)
		}
		if string(origBM) != string(g.BlockBitmap) || string(origGD) != string(g.Desc.Encode()) || string(origSB) != string(sb.Encode()) {
			t.Fatalf("%s: alloc+free did not restore the original bytes", name)
		}
	}
}
