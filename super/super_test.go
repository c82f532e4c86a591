package super_test

import (
	"bytes"
	"fmt"
	"os/exec"
	"regexp"
	"strconv"
	"testing"

	"github.com/ext4relink/ext4relink/fixtures"
	"github.com/ext4relink/ext4relink/internal/layout"
	"github.com/ext4relink/ext4relink/internal/testfs"
	"github.com/ext4relink/ext4relink/super"
)

func TestSuperblockRealImages(t *testing.T) {
	for _, img := range fixtures.All(t) {
		t.Run(img.Name, func(t *testing.T) {
			raw := testfs.ReadAt(t, img.Path, super.Offset, super.Size)
			sb, err := super.Decode(raw)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(sb.Encode(), raw) {
				t.Fatal("encode(decode(b)) != b")
			}
			if err := sb.Validate(); err != nil {
				t.Fatal(err)
			}
			if sb.HasMetadataCsum() {
				raw[0x78] ^= 1 // volume name
				bad, _ := super.Decode(raw)
				if bad.VerifyChecksum() {
					t.Fatal("checksum still verifies after a byte flip")
				}
			}
			checkAgainstDumpe2fs(t, img.Path, sb)
		})
	}
}

var dumpRE = regexp.MustCompile(`(?m)^([A-Za-z ]+):\s+(\d+)$`)

// checkAgainstDumpe2fs compares a few fields with dumpe2fs -h, an independent reader.
func checkAgainstDumpe2fs(t *testing.T, img string, sb *super.Superblock) {
	out, err := exec.Command("dumpe2fs", "-h", img).Output()
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]uint64{}
	for _, m := range dumpRE.FindAllStringSubmatch(string(out), -1) {
		want[m[1]], _ = strconv.ParseUint(m[2], 10, 64)
	}
	got := map[string]uint64{
		"Inode count": uint64(sb.InodesCount), "Block count": sb.BlocksCount(),
		"Block size": uint64(sb.BlockSize()), "Inodes per group": uint64(sb.InodesPerGroup),
		"Blocks per group": uint64(sb.BlocksPerGroup), "Inode size": uint64(sb.InodeSizeBytes()),
		"Free blocks": sb.FreeBlocksCount(), "Free inodes": uint64(sb.FreeInodesCount),
		"First inode": uint64(sb.FirstInode()),
	}
	if sb.HasIncompat(super.IncompatMetaBG) {
		got["First meta block group"] = uint64(sb.FirstMetaBg)
	}
	for k, v := range got {
		if w, ok := want[k]; ok && w != v {
			t.Errorf("%s: decoded %d, dumpe2fs %d", k, v, w)
		}
	}
}

var gdLocRE = regexp.MustCompile(`Block bitmap at (\d+).*\n.*Inode bitmap at (\d+).*\n\s*Inode table at (\d+)-`)

func TestGroupDescriptorsRealImages(t *testing.T) {
	for _, img := range fixtures.All(t) {
		t.Run(img.Name, func(t *testing.T) {
			sb := testfs.Superblock(t, img.Path)
			out, err := exec.Command("dumpe2fs", img.Path).Output()
			if err != nil {
				t.Fatal(err)
			}
			locs := gdLocRE.FindAllStringSubmatch(string(out), -1)
			if uint64(len(locs)) != sb.GroupCount() {
				t.Fatalf("dumpe2fs lists %d groups, superblock %d", len(locs), sb.GroupCount())
			}
			for g := uint64(0); g < sb.GroupCount(); g++ {
				blk, off := sb.DescLocation(g)
				raw := testfs.Block(t, img.Path, sb, blk)[off : off+sb.DescSizeBytes()]
				gd, err := super.DecodeGroupDesc(raw)
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(gd.Encode(), raw) {
					t.Fatalf("group %d: encode(decode(b)) != b", g)
				}
				if !gd.VerifyChecksum(sb, uint32(g)) {
					t.Fatalf("group %d: checksum %#x, computed %#x", g, gd.Csum, gd.Checksum(sb, uint32(g)))
				}
				want := fmt.Sprintf("%s %s %s", locs[g][1], locs[g][2], locs[g][3])
				got := fmt.Sprintf("%d %d %d", gd.BlockBitmap(), gd.InodeBitmap(), gd.InodeTable())
				if got != want {
					t.Fatalf("group %d: bitmaps/table %s, dumpe2fs %s", g, got, want)
				}
				if sb.HasGroupCsum() {
					gd.Flags ^= 0x8
					if gd.VerifyChecksum(sb, uint32(g)) {
						t.Fatalf("group %d: checksum survives a flipped flag", g)
					}
				}
			}
		})
	}
}

func TestLayoutTables(t *testing.T) {
	var sb super.Superblock
	if err := layout.Check(super.SuperblockFields(&sb), super.Size); err != nil {
		t.Fatal(err)
	}
	if !layout.Covered(super.SuperblockFields(&sb), super.Size) {
		t.Fatal("superblock table leaves bytes uncovered")
	}
	gd, _ := super.DecodeGroupDesc(make([]byte, 64))
	if err := layout.Check(super.GroupDescFields(gd), 64); err != nil {
		t.Fatal(err)
	}
	if !layout.Covered(super.GroupDescFields(gd), 64) {
		t.Fatal("group descriptor table leaves bytes uncovered")
	}
}

func TestOrphanFileBlocks(t *testing.T) {
	for _, name := range []string{"ext4-orphanfile", "ext4-orphanfile-journal"} {
		img := fixtures.Get(t, name)
		p := testfs.Replayed(t, img)
		sb := testfs.Superblock(t, p)
		if sb.OrphanFileInum == 0 {
			t.Fatalf("%s: no orphan file inode", name)
		}
		stat := testfs.Stat(t, p, uint64(sb.OrphanFileInum))
		gen := uint32(testfs.StatField(t, stat, "Generation"))
		seed := super.Crc32cLE32(super.Crc32cLE32(sb.CsumSeed(), sb.OrphanFileInum), gen)
		found := map[uint32]bool{}
		for _, blk := range testfs.Blocks(t, p, uint64(sb.OrphanFileInum)) {
			raw := testfs.Block(t, p, sb, blk)
			ob := super.DecodeOrphanBlock(raw)
			if !bytes.Equal(ob.Encode(sb.BlockSize()), raw) {
				t.Fatal("orphan block round trip")
			}
			if err := ob.Validate(blk); err != nil {
				t.Fatal(err)
			}
			if !ob.VerifyChecksum(sb, seed, blk) {
				t.Fatalf("%s: orphan block %d checksum %#x, computed %#x", name, blk, ob.Csum, ob.Checksum(seed, blk, sb.BlockSize()))
			}
			for _, i := range ob.Used() {
				found[ob.Inodes[i]] = true
			}
		}
		for _, o := range img.Orphans {
			if !found[uint32(o.Inode)] {
				t.Errorf("%s: orphan %d (%s) not in the orphan file", name, o.Inode, o.Path)
			}
		}
	}
}

func TestFeatureGate(t *testing.T) {
	sb := &super.Superblock{FeatureIncompat: super.IncompatFiletype | 0x80000000}
	if err := sb.CheckRead(); err == nil {
		t.Fatal("unknown incompat accepted")
	}
	sb = &super.Superblock{FeatureIncompat: super.IncompatFiletype | super.IncompatMMP}
	if sb.CheckRead() != nil || sb.CheckWrite() == nil {
		t.Fatal("mmp: readable but not writable expected")
	}
	sb = &super.Superblock{FeatureRoCompat: 0x40000000}
	if sb.CheckRead() != nil || sb.CheckWrite() == nil {
		t.Fatal("unknown ro_compat must refuse writes only")
	}
}

func FuzzSuperblock(f *testing.F) {
	for _, n := range []string{"ext4-4k-freeze", "ext4-32bit", "ext3", "ext4-bigalloc", "ext4-metabg"} {
		if img, err := fixtures.Load(fixtures.CacheDir(), n); err == nil {
			f.Add(testfs.ReadAt(f, img.Path, super.Offset, super.Size))
		}
	}
	f.Add(make([]byte, super.Size))
	f.Fuzz(func(t *testing.T, b []byte) {
		sb, err := super.Decode(b)
		if err != nil {
			return
		}
		if sb.Validate() == nil {
			// A valid superblock must give sane geometry without panicking.
			_ = sb.GroupCount()
			g := sb.GroupCount() - 1
			sb.DescLocation(g)
			sb.GroupHasSuper(g)
			sb.InodeLocation(sb.InodesCount, 1)
		}
		if !bytes.Equal(sb.Encode(), b[:super.Size]) {
			t.Fatal("round trip")
		}
	})
}

func FuzzGroupDesc(f *testing.F) {
	f.Add(make([]byte, 32))
	f.Add(make([]byte, 64))
	f.Fuzz(func(t *testing.T, b []byte) {
		gd, err := super.DecodeGroupDesc(b)
		if err != nil {
			return
		}
		if !bytes.Equal(gd.Encode(), b) {
			t.Fatal("round trip")
		}
		sb := &super.Superblock{FeatureRoCompat: super.RoCompatGdtCsum}
		gd.SetChecksum(sb, 3)
		if !gd.VerifyChecksum(sb, 3) {
			t.Fatal("SetChecksum did not verify")
		}
	})
}

func FuzzOrphanBlock(f *testing.F) {
	f.Add(make([]byte, 1024))
	f.Fuzz(func(t *testing.T, b []byte) {
		ob := super.DecodeOrphanBlock(b)
		if len(b) >= 8 && len(b)%4 == 0 && !bytes.Equal(ob.Encode(uint32(len(b))), b) {
			t.Fatal("round trip")
		}
		_ = ob.Validate(0)
	})
}
