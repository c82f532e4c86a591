package engine

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/ext4relink/ext4relink/fixtures"
	"github.com/ext4relink/ext4relink/internal/testfs"
)

// writeOp is one write (or flush) a relink made, in order.
type writeOp struct {
	off  int64
	data []byte
	sync bool
}

// recDev records every write and flush on its way to the device.
type recDev struct {
	Dev
	ops []writeOp
}

func (r *recDev) WriteAt(p []byte, off int64) (int, error) {
	r.ops = append(r.ops, writeOp{off: off, data: bytes.Clone(p)})
	return r.Dev.WriteAt(p, off)
}

func (r *recDev) Sync() error {
	r.ops = append(r.ops, writeOp{sync: true})
	return r.Dev.Sync()
}

// crashCase is one relink whose every crash point is tested.
type crashCase struct {
	fixture string
	req     func(img *fixtures.Image) Request
	want    func(img *fixtures.Image) map[string]string // path -> sha256 after success
	all     bool                                        // every orphan relinked: e2fsck must be fully clean
	// noJournal: run on a journal-less copy of the fixture (ordered commit).
	noJournal bool
	// build, when set, makes the image instead of fixtures.Get(fixture).
	build func(t *testing.T) *fixtures.Image
}

func orphanAt(img *fixtures.Image, path string) fixtures.OrphanInfo {
	o, _ := img.Orphan(path)
	return o
}

var crashCases = []crashCase{
	{ // the unlinks are only in the journal: the replay is written first
		fixture: "ext4-4k-journal",
		req: func(img *fixtures.Image) Request {
			return Request{Inode: uint32(orphanAt(img, "data/big.vmdk").Inode), Name: "/data/big.vmdk"}
		},
		want: func(img *fixtures.Image) map[string]string {
			return map[string]string{"data/big.vmdk": orphanAt(img, "data/big.vmdk").SHA256}
		},
	},
	{ // an orphan in the middle of a long chain
		fixture: "ext4-many",
		req: func(img *fixtures.Image) Request {
			return Request{Inode: uint32(orphanAt(img, "d5/orphan23").Inode), Name: "/d0/rescued"}
		},
		want: func(img *fixtures.Image) map[string]string {
			return map[string]string{"d0/rescued": orphanAt(img, "d5/orphan23").SHA256}
		},
	},
	{ // a directory that must grow
		fixture: "ext4-fulldir",
		req: func(img *fixtures.Image) Request {
			return Request{Inode: uint32(orphanAt(img, "data/small.bin").Inode), Name: "/full/rescued.bin"}
		},
		want: func(img *fixtures.Image) map[string]string {
			return map[string]string{"full/rescued.bin": orphanAt(img, "data/small.bin").SHA256}
		},
	},
	{ // every orphan, from the orphan file, journal-only capture
		fixture: "ext4-orphanfile-journal", all: true,
		req:  func(*fixtures.Image) Request { return Request{All: true} },
		want: allInLostFound,
	},
	{ // fast commits newer than the last full commit: staged, then replayed
		fixture: "ext4-fastcommit", all: true,
		req:  func(*fixtures.Image) Request { return Request{All: true} },
		want: allInLostFound,
	},
	{ // no journal: ordered steps; an orphan in the middle of a long chain
		fixture: "ext4-many", noJournal: true,
		req: func(img *fixtures.Image) Request {
			return Request{Inode: uint32(orphanAt(img, "d5/orphan23").Inode), Name: "/d0/rescued"}
		},
		want: func(img *fixtures.Image) map[string]string {
			return map[string]string{"d0/rescued": orphanAt(img, "d5/orphan23").SHA256}
		},
	},
	{ // no journal: every orphan of a long chain at once
		fixture: "ext4-many", noJournal: true, all: true,
		req:  func(*fixtures.Image) Request { return Request{All: true} },
		want: allInLostFound,
	},
	{ // a file caught mid-write (O_DIRECT append): the blocks past i_size freed
		fixture: "inflight-odirect", build: inflightImage,
		req: func(img *fixtures.Image) Request {
			return Request{Inode: uint32(orphanAt(img, "vm.qcow2").Inode), Name: "/vm.qcow2"}
		},
		want: func(img *fixtures.Image) map[string]string {
			return map[string]string{"vm.qcow2": orphanAt(img, "vm.qcow2").SHA256}
		},
		all: true,
	},
	{ // no journal, a file caught mid-write kept with --keep-past-eof: its
		// new i_size goes with the link count in the first step
		fixture: "inflight-odirect", build: inflightKeptImage, noJournal: true, all: true,
		req: func(img *fixtures.Image) Request {
			return Request{Inode: uint32(orphanAt(img, "vm.qcow2").Inode), Name: "/vm.qcow2", KeepPastEOF: true}
		},
		want: func(img *fixtures.Image) map[string]string {
			return map[string]string{"vm.qcow2": orphanAt(img, "vm.qcow2").SHA256}
		},
	},
	{ // a chain linked out of range: members before the damage and the
		// ones behind it (found by --scan) at once, the damaged link cut
		fixture: "ext4-many-damaged", build: damagedChainImage, all: true,
		req:  func(*fixtures.Image) Request { return Request{All: true, Scan: true} },
		want: allInLostFound,
	},
	{ // no journal: an inline file into an inline directory
		fixture: "ext4-inline", noJournal: true,
		req: func(img *fixtures.Image) Request {
			return Request{Inode: uint32(orphanAt(img, "data/tiny.txt").Inode), Name: "/tiny/rescued"}
		},
		want: func(img *fixtures.Image) map[string]string {
			return map[string]string{"tiny/rescued": orphanAt(img, "data/tiny.txt").SHA256}
		},
	},
	{ // --all --original after rm -rf around an open file: three pinned
		// parents relinked, each into the one before, then the file
		fixture: "ext4-rmtree", all: true,
		req: func(*fixtures.Image) Request { return Request{All: true, Original: true} },
		want: func(img *fixtures.Image) map[string]string {
			return map[string]string{"tree/a/b/held.bin": orphanAt(img, "tree/a/b/held.bin").SHA256}
		},
	},
	{ // --all --original --parents: a removed parent relinked, a directory
		// that no longer exists created (inode and block allocated) and
		// both files linked at their original paths, in one transaction
		fixture: "ext4-deadparent",
		req: func(img *fixtures.Image) Request {
			gone := map[uint32]bool{uint32(orphanAt(img, "gone").Inode): true}
			return Request{All: true, Original: true, Parents: true, gone: gone}
		},
		want: func(img *fixtures.Image) map[string]string {
			return map[string]string{"gone/a.bin": orphanAt(img, "gone/a.bin").SHA256, "heldgone/b.bin": orphanAt(img, "heldgone/b.bin").SHA256}
		},
	},
}

func allInLostFound(img *fixtures.Image) map[string]string {
	m := map[string]string{}
	for _, o := range img.Orphans {
		if o.Kind == "file" {
			m[fmt.Sprintf("lost+found/#%d", o.Inode)] = o.SHA256
		}
	}
	return m
}

// TestCrashPoints: for every prefix of the writes a relink makes (a kill at
// that moment), and for power cuts that lose part of the writes after the
// last flush, re-running the same command must succeed and leave a
// filesystem that passes the relink checks.
func TestCrashPoints(t *testing.T) {
	for _, c := range crashCases {
		name := c.fixture
		if c.noJournal {
			name += "-nojournal"
			if c.all {
				name += "-all"
			}
		}
		t.Run(name, func(t *testing.T) {
			var img *fixtures.Image
			if c.build != nil {
				img = c.build(t)
			} else {
				img = fixtures.Get(t, c.fixture)
			}
			if c.noJournal {
				img = noJournal(t, img)
			}
			ops := recordRelink(t, img, c.req(img))
			images := crashImages(ops)
			t.Logf("%d writes and flushes, %d crash images", len(ops), len(images))
			for i, ci := range images {
				p := img.Copy(t)
				applyOps(t, p, ci.ops)
				if _, err := relinkImage(t, p, c.req(img)); err != nil {
					t.Fatalf("%s: re-running the relink: %v", ci.name, err)
				}
				checkAfterCrash(t, p, img, c, ci.name, i == len(images)-1 || i%10 == 0)
				os.Remove(p)
			}
		})
	}
}

func recordRelink(t *testing.T, img *fixtures.Image, req Request) []writeOp {
	t.Helper()
	return recordCommit(t, img, func(fs *FS) (*Plan, error) {
		plan, _, err := fs.PlanRelink(req, time.Now())
		return plan, err
	})
}

// recordCommit plans on a private copy of img, commits, and returns every
// write and flush the commit made, in order.
func recordCommit(t *testing.T, img *fixtures.Image, planOn func(*FS) (*Plan, error)) []writeOp {
	t.Helper()
	p := img.Copy(t)
	dev, _, err := Open(p, Options{Mode: ReadWrite})
	if err != nil {
		t.Fatal(err)
	}
	defer dev.Close()
	rec := &recDev{Dev: dev}
	fs, err := LoadFS(rec)
	if err != nil {
		t.Fatal(err)
	}
	plan, err := planOn(fs)
	if err != nil {
		t.Fatal(err)
	}
	if err := fs.Commit(plan); err != nil {
		t.Fatal(err)
	}
	return rec.ops
}

type crashImage struct {
	name string
	ops  []writeOp
}

// crashImages: every prefix (a process kill), and for each flush window
// the writes before it plus a subset of the window's writes (a power cut
// losing unflushed writes in any order: none, the first half, every other
// one, only the last).
func crashImages(ops []writeOp) []crashImage {
	var out []crashImage
	for k := 0; k <= len(ops); k++ {
		out = append(out, crashImage{fmt.Sprintf("kill after op %d", k), ops[:k]})
	}
	start := 0
	for i, o := range ops {
		if !o.sync {
			continue
		}
		window := ops[start:i]
		for _, sub := range []struct {
			name string
			keep func(j int) bool
		}{
			{"first half", func(j int) bool { return j < len(window)/2 }},
			{"every other", func(j int) bool { return j%2 == 1 }},
			{"only the last", func(j int) bool { return j == len(window)-1 }},
		} {
			if len(window) < 2 {
				continue
			}
			lost := append([]writeOp(nil), ops[:start]...)
			for j, w := range window {
				if sub.keep(j) {
					lost = append(lost, w)
				}
			}
			out = append(out, crashImage{fmt.Sprintf("power cut before flush op %d keeping %s of %d writes", i, sub.name, len(window)), lost})
		}
		start = i + 1
	}
	return out
}

func applyOps(t *testing.T, img string, ops []writeOp) {
	t.Helper()
	f, err := os.OpenFile(img, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, o := range ops {
		if !o.sync {
			if _, err := f.WriteAt(o.data, o.off); err != nil {
				t.Fatal(err)
			}
		}
	}
}

func checkAfterCrash(t *testing.T, p string, img *fixtures.Image, c crashCase, name string, mount bool) {
	t.Helper()
	want := c.want(img)
	if c.all {
		testfs.E2fsckClean(t, p)
	} else {
		fsckOnlyOrphans(t, p, img, want)
	}
	fsOp, err := OpenFS(p, Options{Mode: ReadOnly})
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	fs, dev := fsOp.FS, fsOp.Dev
	defer dev.Close()
	if fs.Journal.NeedsRecovery {
		t.Fatalf("%s: journal recovery still pending after the re-run", name)
	}
	for path, sum := range want {
		data, err := fs.ReadPath(path)
		if err != nil {
			t.Fatalf("%s: %s: %v", name, path, err)
		}
		s := sha256.Sum256(data)
		if hex.EncodeToString(s[:]) != sum {
			t.Fatalf("%s: %s has the wrong content", name, path)
		}
	}
	if mount {
		t.Logf("mounting after %s", name)
		checkContents(t, p, want)
	}
}
