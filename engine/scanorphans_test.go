package engine

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/ext4relink/ext4relink/fixtures"
	"github.com/ext4relink/ext4relink/internal/testfs"
	"github.com/ext4relink/ext4relink/super"
)

// chainDamageCase damages the orphan chain of a replayed crash image: edit
// picks an inode (0: the superblock) and the value its link gets.
type chainDamageCase struct {
	name string
	// edit returns the inode whose i_dtime to set (0: s_last_orphan) and
	// the new link, given the chain as listed.
	edit func(sb *super.Superblock, chain []Orphan) (owner, link uint32)
	// damaged: the walk reports the list damaged (a loop, out of range);
	// a cut by a zeroed link is not visible as damage.
	damaged bool
}

var chainDamageCases = []chainDamageCase{
	{name: "cut", edit: func(_ *super.Superblock, c []Orphan) (uint32, uint32) { return c[len(c)/2].Inode, 0 }},
	{name: "loop", damaged: true, edit: func(_ *super.Superblock, c []Orphan) (uint32, uint32) {
		return c[len(c)-1].Inode, c[len(c)/2].Inode
	}},
	{name: "out-of-range", damaged: true, edit: func(sb *super.Superblock, c []Orphan) (uint32, uint32) {
		return c[len(c)/3].Inode, sb.InodesCount + 1000
	}},
	{name: "s_last_orphan-out-of-range", damaged: true, edit: func(*super.Superblock, []Orphan) (uint32, uint32) { return 0, 5 }},
}

// damageChain writes the journal replay home and, in the same commit, the
// damaged link (a torn inode-table write after recovery, as it were).
func damageChain(t *testing.T, p string, c chainDamageCase) {
	t.Helper()
	op, err := OpenFS(p, Options{Mode: ReadWrite})
	if err != nil {
		t.Fatal(err)
	}
	defer op.Dev.Close()
	fs := op.FS
	l, err := fs.Orphans()
	if err != nil || l.Damaged != nil {
		t.Fatalf("orphans before the damage: %v, %v", err, l.Damaged)
	}
	var chain []Orphan
	for _, o := range l.Orphans {
		if o.Source == SourceChain {
			chain = append(chain, o)
		}
	}
	if len(chain) < 6 {
		t.Fatalf("only %d chain members", len(chain))
	}
	owner, link := c.edit(fs.SB, chain)
	pl := NewPlan(fs, time.Now())
	if owner == 0 {
		pl.SB.LastOrphan = link
	} else {
		in, _, err := pl.Inode(owner)
		if err != nil {
			t.Fatal(err)
		}
		in.Dtime = link
		if err := pl.PutInode(owner, in, "test: damaged link"); err != nil {
			t.Fatal(err)
		}
	}
	if err := pl.Finish(); err != nil {
		t.Fatal(err)
	}
	if err := fs.Commit(pl); err != nil {
		t.Fatal(err)
	}
	t.Logf("%s: inode %d's link set to %d (chain of %d)", c.name, owner, link, len(chain))
}

// scanList lists with --scan, read-only.
func scanList(t *testing.T, p string) (*OrphanList, *ScanStats) {
	t.Helper()
	op, err := OpenFS(p, Options{Mode: ReadOnly})
	if err != nil {
		t.Fatal(err)
	}
	defer op.Dev.Close()
	l, err := op.FS.Orphans()
	if err != nil {
		t.Fatal(err)
	}
	st, err := op.FS.ScanOrphans(l, nil)
	if err != nil {
		t.Fatal(err)
	}
	return l, st
}

// TestScanDamagedChain: on a kernel-made chain of 50 orphans cut, looped
// or linked out of range after recovery, list --scan finds every orphan
// (those behind the damage with source "scan"); a single scan find is
// relinked by --inode without --scan; --all without --scan is refused on a
// damaged list; --all --scan brings back everything; e2fsck -fn is clean
// and a kernel mount reads every file back by sha256.
func TestScanDamagedChain(t *testing.T) {
	img := fixtures.Get(t, "ext4-many")
	for _, c := range chainDamageCases {
		t.Run(c.name, func(t *testing.T) {
			p := img.Copy(t)
			damageChain(t, p, c)
			l, st := scanList(t, p)
			if (l.Damaged != nil) != c.damaged {
				t.Fatalf("damaged = %v, want %v", l.Damaged, c.damaged)
			}
			where := map[uint32]OrphanSource{}
			for _, o := range l.Orphans {
				where[o.Inode] = o.Source
			}
			var scanned []uint32
			for _, o := range img.Orphans {
				src, ok := where[uint32(o.Inode)]
				if !ok {
					t.Fatalf("orphan %s (inode %d) not found (scan: %+v)", o.Path, o.Inode, st)
				}
				if src == SourceScan {
					scanned = append(scanned, uint32(o.Inode))
				}
			}
			if (len(scanned) == 0) != (c.name == "loop") || len(st.Rejected) != 0 {
				t.Fatalf("scan found %d, rejected %v", len(scanned), st.Rejected)
			}
			t.Logf("%d on the list, %d found by the scan (%d groups, %d bytes, %v)", len(l.Orphans)-len(scanned), len(scanned), st.Groups, st.TableBytes, st.Elapsed)
			if c.damaged {
				_, err := relinkImage(t, p, Request{All: true})
				if !errors.Is(err, super.ErrCorrupt) {
					t.Fatalf("--all without --scan on a damaged list: %v", err)
				}
			}
			want := allInLostFound(img)
			// One orphan alone (a scan find, named by --inode without
			// --scan; in a loop, a member): the damage is cut.
			one := uint32(img.Orphans[0].Inode)
			if len(scanned) > 0 {
				one = scanned[0]
			}
			if _, err := relinkImage(t, p, Request{Inode: one, Name: "/rescued-one"}); err != nil {
				t.Fatalf("--inode %d: %v", one, err)
			}
			for path := range want {
				if path == fmt.Sprintf("lost+found/#%d", one) {
					want["rescued-one"] = want[path]
					delete(want, path)
				}
			}
			if l, _ := scanList(t, p); l.Damaged != nil {
				t.Fatalf("the damage was not cut: %v", l.Damaged)
			}
			plan, err := relinkImage(t, p, Request{All: true, Scan: true})
			if err != nil {
				t.Fatalf("--all --scan: %v", err)
			}
			if n := len(plan.Relinks); n != len(img.Orphans)-1 {
				t.Fatalf("--all --scan relinked %d, want %d", n, len(img.Orphans)-1)
			}
			testfs.E2fsckClean(t, p)
			if l, st := scanList(t, p); len(l.Orphans) != 0 || l.Damaged != nil || st.Candidates != 0 {
				t.Fatalf("after --all --scan: %d orphans, damaged %v, %d candidates", len(l.Orphans), l.Damaged, st.Candidates)
			}
			checkContents(t, p, want)
		})
	}
}

// TestScanEveryFixture: on every kernel-made crash image (journal-only
// captures included, where the orphans exist only in the replayed
// journal) list --scan adds nothing to an intact list, and a scan that
// starts from an empty list finds exactly the listed deleted-open and
// past-eof orphans: it reads the inode tables through the overlay.
func TestScanEveryFixture(t *testing.T) {
	for _, img := range fixtures.All(t) {
		t.Run(img.Name, func(t *testing.T) {
			op, err := OpenFS(img.Path, Options{Mode: ReadOnly})
			if err != nil {
				t.Fatal(err)
			}
			defer op.Dev.Close()
			l, err := op.FS.Orphans()
			if err != nil {
				t.Fatal(err)
			}
			for g := range op.FS.SB.GroupCount() {
				gd, err := op.FS.GroupDesc(g)
				if err != nil {
					t.Fatal(err)
				}
				raw, dec := op.FS.rawInodeUninit(g), op.FS.SB.InodeUninit(gd)
				if raw != dec {
					t.Fatalf("group %d: INODE_UNINIT from the raw descriptor %v, decoded %v", g, raw, dec)
				}
				if raw {
					rawDescTampered(t, op.FS, g)
				}
			}
			st, err := op.FS.ScanOrphans(l, nil)
			if err != nil {
				t.Fatal(err)
			}
			if st.Found != 0 || st.Candidates != 0 {
				t.Fatalf("the scan added %d (candidates %d, rejected %v) to an intact list", st.Found, st.Candidates, st.Rejected)
			}
			want := map[uint32]bool{}
			for _, o := range l.Orphans {
				if o.Problem == "" && o.Links == 0 && (o.State == StateDeletedOpen || o.State == StatePastEOF) {
					want[o.Inode] = true
				}
			}
			empty := &OrphanList{}
			st, err = op.FS.ScanOrphans(empty, nil)
			if err != nil {
				t.Fatal(err)
			}
			got := map[uint32]bool{}
			for _, o := range empty.Orphans {
				got[o.Inode] = true
				if !want[o.Inode] {
					t.Errorf("the scan finds inode %d, which is no listed deleted-open orphan", o.Inode)
				}
			}
			for ino := range want {
				if !got[ino] {
					t.Errorf("the scan misses listed orphan %d", ino)
				}
			}
			t.Logf("%d orphans; scan: %d groups (%d uninit), %d bytes, %d rejected, %v", len(want), st.Groups, st.UninitSkip, st.TableBytes, len(st.Rejected), st.Elapsed)
		})
	}
}

// damagedChainImage is ext4-many with a chain member's link out of range
// (chainDamageCases "out-of-range"), replay written home.
func damagedChainImage(t *testing.T) *fixtures.Image {
	t.Helper()
	img := fixtures.Get(t, "ext4-many")
	p := img.Copy(t)
	damageChain(t, p, chainDamageCases[2])
	return &fixtures.Image{Name: "ext4-many-damaged", Path: p, Manifest: img.Manifest}
}

// TestScanUnreadableMember: a chain member whose inode fails its checksum
// (after recovery) hides the members behind it. --all refuses; --all
// --scan relinks every other orphan (those behind it found by the scan)
// and cuts the link to the unreadable one, which is left as it was:
// e2fsck -fn complains about that inode only, and a kernel mount reads
// every other file back by sha256.
func TestScanUnreadableMember(t *testing.T) {
	img := fixtures.Get(t, "ext4-many")
	p := img.Copy(t)
	var bad uint32
	damageChain(t, p, chainDamageCase{name: "replay only", edit: func(_ *super.Superblock, c []Orphan) (uint32, uint32) {
		bad = c[len(c)/2].Inode
		return bad, c[len(c)/2].Dtime // unchanged: the replay is written home
	}})
	op, err := OpenFS(p, Options{Mode: ReadOnly})
	if err != nil {
		t.Fatal(err)
	}
	loc, err := op.FS.InodeLocation(bad)
	op.Dev.Close()
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(p, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	b := make([]byte, 1)
	at := int64(loc.Block)*int64(op.FS.BlockSize()) + int64(loc.Off) + 0x7C // l_i_checksum_lo
	f.ReadAt(b, at)
	b[0] ^= 0xFF
	f.WriteAt(b, at)
	f.Close()

	if _, err := relinkImage(t, p, Request{All: true}); !errors.Is(err, super.ErrCorrupt) {
		t.Fatalf("--all with an unreadable member: %v", err)
	}
	plan, err := relinkImage(t, p, Request{All: true, Scan: true})
	if err != nil {
		t.Fatalf("--all --scan: %v", err)
	}
	if n := len(plan.Relinks); n != len(img.Orphans)-1 {
		t.Fatalf("relinked %d, want %d", n, len(img.Orphans)-1)
	}
	out, _ := exec.Command("e2fsck", "-fn", p).CombinedOutput()
	for _, m := range inoRE.FindAllStringSubmatch(string(out), -1) {
		if m[1] != fmt.Sprint(bad) {
			t.Fatalf("e2fsck -fn complains about inode %s, not only the unreadable %d:\n%s", m[1], bad, out)
		}
	}
	l, _ := scanList(t, p)
	if l.Damaged != nil || len(l.Orphans) != 0 {
		t.Fatalf("after: damaged %v, %d orphans listed", l.Damaged, len(l.Orphans))
	}
	want := allInLostFound(img)
	delete(want, fmt.Sprintf("lost+found/#%d", bad))
	checkContents(t, p, want)
}

// TestScanDamagedOrphanFile: an orphan-file slot holding an impossible
// inode number (after recovery): --all refuses without --scan; --all
// --scan relinks every orphan and empties the slot, orphan_present is
// cleared, e2fsck -fn is clean and a kernel mount reads every file.
func TestScanDamagedOrphanFile(t *testing.T) {
	img := fixtures.Get(t, "ext4-orphanfile")
	p := img.Copy(t)
	op, err := OpenFS(p, Options{Mode: ReadWrite})
	if err != nil {
		t.Fatal(err)
	}
	fs := op.FS
	blocks, err := fs.OrphanFile()
	if err != nil || len(blocks) == 0 {
		t.Fatalf("orphan file: %v (%d blocks)", err, len(blocks))
	}
	pl := NewPlan(fs, time.Now())
	of, _, err := pl.Inode(pl.SB.OrphanFileInum)
	if err != nil {
		t.Fatal(err)
	}
	ob := blocks[0]
	dec := super.DecodeOrphanBlock(mustRead(t, pl, ob.Physical))
	free := -1
	for i, ino := range dec.Inodes {
		if ino == 0 {
			free = i
			break
		}
	}
	dec.Inodes[free] = 99999999
	dec.SetChecksum(pl.SB, of.Seed(pl.SB.CsumSeed(), pl.SB.OrphanFileInum), ob.Physical)
	pl.Write(ob.Physical, dec.Encode(fs.BlockSize()), "test: impossible slot")
	if err := pl.Finish(); err != nil {
		t.Fatal(err)
	}
	if err := fs.Commit(pl); err != nil {
		t.Fatal(err)
	}
	op.Dev.Close()
	if l, _ := scanList(t, p); l.Damaged == nil {
		t.Fatal("the impossible slot is not reported")
	}
	if _, err := relinkImage(t, p, Request{All: true}); !errors.Is(err, super.ErrCorrupt) {
		t.Fatalf("--all without --scan: %v", err)
	}
	plan, err := relinkImage(t, p, Request{All: true, Scan: true})
	if err != nil {
		t.Fatalf("--all --scan: %v", err)
	}
	if len(plan.Relinks) != len(img.Orphans) {
		t.Fatalf("relinked %d of %d", len(plan.Relinks), len(img.Orphans))
	}
	testfs.E2fsckClean(t, p)
	checkContents(t, p, allInLostFound(img))
}

func mustRead(t *testing.T, p *Plan, blk uint64) []byte {
	t.Helper()
	b, err := p.Read(blk)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// rawDescTampered: a changed byte (the checksum no longer verifies) or a
// free-inode count short of the group makes RawInodeUninit say no.
func rawDescTampered(t *testing.T, fs *FS, g uint64) {
	t.Helper()
	blk, off := fs.SB.DescLocation(g)
	b, err := fs.ReadBlock(blk)
	if err != nil {
		t.Fatal(err)
	}
	d := append([]byte(nil), b[off:off+fs.SB.DescSizeBytes()]...)
	d[0x00] ^= 1 // bg_block_bitmap_lo
	if super.RawInodeUninit(fs.SB, uint32(g), d) {
		t.Fatalf("group %d: a descriptor with a bad checksum skipped", g)
	}
	d[0x00] ^= 1
	gd, err := super.DecodeGroupDesc(d)
	if err != nil {
		t.Fatal(err)
	}
	gd.SetFreeInodesCount(fs.SB.InodesPerGroup - 1)
	gd.SetChecksum(fs.SB, uint32(g))
	if super.RawInodeUninit(fs.SB, uint32(g), gd.Encode()) {
		t.Fatalf("group %d: INODE_UNINIT with an inode in use skipped", g)
	}
}
