package main

import (
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/ext4relink/ext4relink/engine"
	"github.com/ext4relink/ext4relink/fixtures"
	"github.com/ext4relink/ext4relink/internal/testfs"
)

// damageFixtures: the layouts the random damage campaign covers; a
// "-nojournal" suffix means a journal-less copy (the ordered commit).
var damageFixtures = []string{
	"ext4-4k-freeze", "ext4-4k-sync", "ext4-htree-1k", "ext4-orphanfile-journal", "ext4-inline",
	"ext3", "ext4-many", "ext4-bigalloc", "ext4-xattr-deep", "ext4-nogroupcsum", "ext4-metabg",
	"ext4-many-nojournal", "ext4-inline-nojournal",
}

// damageImage returns the fixture, or its journal-less copy.
func damageImage(t *testing.T, name string) *fixtures.Image {
	t.Helper()
	base, nj := strings.CutSuffix(name, "-nojournal")
	img := fixtures.Get(t, base)
	if !nj {
		return img
	}
	return testfs.NoJournal(t, img)
}

// damageRounds per fixture; EXT4RELINK_DAMAGE_ROUNDS raises it for a
// longer campaign.
func damageRounds() int {
	if n, err := strconv.Atoi(os.Getenv("EXT4RELINK_DAMAGE_ROUNDS")); err == nil && n > 0 {
		return n
	}
	return 12
}

// TestRandomMetadataDamage is the bad-input table's complement for damage
// nobody wrote a case for: on copies of real crash images, random bytes of
// a random block the tool reads (superblock, group descriptors, bitmaps,
// inode table blocks, directory, extent-tree and journal blocks) are
// changed; then list, journal and relink --all run. None may panic or
// report an internal error; a refusal must leave the image byte for byte
// unchanged; verification after a write must never fail.
func TestRandomMetadataDamage(t *testing.T) {
	rounds := damageRounds()
	for fi, name := range damageFixtures {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			img := damageImage(t, name)
			targets := damageTargets(t, img.Path)
			rng := rand.New(rand.NewPCG(uint64(fi)+1, 0x5eed))
			for r := range rounds {
				p := img.Copy(t)
				blk := targets[rng.IntN(len(targets))]
				what := damage(t, p, blk.n, blk.bs, rng)
				label := fmt.Sprintf("round %d: %s (block %d): %s", r, blk.what, blk.n, what)
				for _, args := range [][]string{{"list", "--dev", p}, {"journal", "--dev", p}} {
					if code, _, errs := runCLI(args...); code == exitInternal || strings.Contains(errs, "internal error") {
						t.Errorf("%s: %s: exit %d: %s", label, args[0], code, errs)
					}
				}
				before := fileSum(t, p)
				code, out, errs := runCLI("--dev", p, "--all")
				switch {
				case code == exitInternal || strings.Contains(errs, "internal error"):
					t.Errorf("%s: relink: internal error: %s", label, errs)
				case code == exitVerify:
					t.Errorf("%s: relink wrote and then failed verification: %s", label, errs)
				case code != 0 && fileSum(t, p) != before:
					t.Errorf("%s: refused (exit %d: %s) but the image changed", label, code, strings.TrimSpace(errs))
				case code == 0:
					t.Logf("%s: relinked anyway: %s", label, firstLine(out))
				default:
					t.Logf("%s: exit %d: %s", label, code, strings.TrimSpace(errs))
				}
				os.Remove(p)
			}
		})
	}
}

func firstLine(s string) string {
	l, _, _ := strings.Cut(s, "\n")
	return l
}

type damageTarget struct {
	n    uint64
	bs   uint32
	what string
}

// damageTargets lists the blocks a relink of the image reads, as the
// engine finds them: the superblock's block, every group descriptor block,
// the bitmaps and first inode table block of the groups holding orphans or
// the directories involved, the orphans' and directories' mapping blocks
// and first data blocks, the orphan file, and the journal's first blocks.
func damageTargets(t *testing.T, path string) []damageTarget {
	t.Helper()
	fsOp, err := engine.OpenFS(path, engine.Options{Mode: engine.ReadOnly})
	if err != nil {
		t.Fatal(err)
	}
	fs, dev := fsOp.FS, fsOp.Dev
	defer dev.Close()
	bs := fs.BlockSize()
	var out []damageTarget
	add := func(n uint64, what string) {
		if !slices.ContainsFunc(out, func(d damageTarget) bool { return d.n == n }) {
			out = append(out, damageTarget{n, bs, what})
		}
	}
	sbBlk, _ := fs.SuperblockLocation()
	add(sbBlk, "superblock")
	for g := range fs.SB.GroupCount() {
		blk, _ := fs.SB.DescLocation(g)
		add(blk, "group descriptors")
	}
	l, err := fs.Orphans()
	if err != nil {
		t.Fatal(err)
	}
	inodes := []uint32{2, 11}
	for _, o := range l.Orphans {
		inodes = append(inodes, o.Inode)
	}
	if fs.SB.JournalInum != 0 {
		inodes = append(inodes, fs.SB.JournalInum)
	}
	if fs.SB.OrphanFileInum != 0 {
		inodes = append(inodes, fs.SB.OrphanFileInum)
	}
	for _, ino := range inodes {
		g, _ := fs.SB.GroupOfInode(ino)
		gd, err := fs.GroupDesc(g)
		if err != nil {
			t.Fatal(err)
		}
		add(gd.BlockBitmap(), fmt.Sprintf("block bitmap of group %d", g))
		add(gd.InodeBitmap(), fmt.Sprintf("inode bitmap of group %d", g))
		in, loc, err := fs.ReadInode(ino)
		if err != nil {
			t.Fatal(err)
		}
		add(loc.Block, fmt.Sprintf("inode table block of inode %d", ino))
		m, err := fs.BlockMap(ino, in)
		if err != nil {
			continue // inline data or a fast symlink: nothing mapped
		}
		for _, b := range m.Meta {
			add(b, fmt.Sprintf("mapping block of inode %d", ino))
		}
		keep := 1 // a file's data: damage there changes no decision
		if in.IsDir() {
			keep = 3
		}
		for i, r := range m.Runs {
			if i < keep {
				add(r.Physical, fmt.Sprintf("block %d of inode %d", r.Logical, ino))
			}
		}
	}
	return out
}

// damage changes 1 to 4 random bytes of block n (each to a different
// value) and says where.
func damage(t *testing.T, p string, n uint64, bs uint32, rng *rand.Rand) string {
	t.Helper()
	f, err := os.OpenFile(p, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b := make([]byte, bs)
	if _, err := f.ReadAt(b, int64(n)*int64(bs)); err != nil {
		t.Fatal(err)
	}
	var where []string
	for range 1 + rng.IntN(4) {
		off := rng.IntN(int(bs))
		if rng.IntN(2) == 0 {
			off = rng.IntN(min(256, int(bs))) // headers live at the start
		}
		old := b[off]
		b[off] ^= byte(1 + rng.IntN(255))
		where = append(where, fmt.Sprintf("offset %d %#02x->%#02x", off, old, b[off]))
	}
	if _, err := f.WriteAt(b, int64(n)*int64(bs)); err != nil {
		t.Fatal(err)
	}
	return strings.Join(where, ", ")
}
