package engine

import (
	"bytes"
	"errors"
	"fmt"
	"os/exec"
	"slices"
	"strings"
	"testing"

	"github.com/ext4relink/ext4relink/fixtures"
	"github.com/ext4relink/ext4relink/inode"
	"github.com/ext4relink/ext4relink/internal/testfs"
)

// stateOf lists img (read-only) and returns inode ino's entry.
func stateOf(img string, ino uint64) (Orphan, bool) {
	fsOp, err := OpenFS(img, Options{Mode: ReadOnly})
	if err != nil {
		return Orphan{}, false
	}
	fs, dev := fsOp.FS, fsOp.Dev
	defer dev.Close()
	l, err := fs.Orphans()
	if err != nil {
		return Orphan{}, false
	}
	return findOrphan(l, uint32(ino))
}

func acceptPastEOF(img string, ino uint64) bool {
	o, ok := stateOf(img, ino)
	return ok && o.State == StatePastEOF
}

// TestPastEOFGenuine relinks files caught mid-write on genuine kernel-made
// images: a VM-image-like file deleted while open, then grown by O_DIRECT
// appends (one extent; 33 extents, a depth-1 tree; ext3 indirect blocks;
// bigalloc with 64 KiB clusters),
// by buffered appends, or shrunk by ftruncate, cloned atomically (FICLONE
// on XFS) while the operation runs until a clone shows written blocks past
// i_size. Default relink: the blocks past i_size are freed, e2fsck -fn is
// clean and the kernel reads exactly the first i_size bytes written.
// --keep-past-eof: e2fsck clean, the size covers the kept blocks, the
// bytes up to the old size unchanged. i_size cut to 0 on the same image
// (what ext4_evict_inode leaves) is still refused as releasing.
func TestPastEOFGenuine(t *testing.T) {
	for _, c := range []struct {
		name    string
		spec    fixtures.InFlightSpec
		mayMiss bool // the kernel may never leave the shape for this operation
	}{
		{"odirect", fixtures.InFlightSpec{Op: fixtures.InFlightDirect, InitialMiB: 4}, false},
		{"odirect-depth1", fixtures.InFlightSpec{Op: fixtures.InFlightDirect, InitialMiB: 4, Fragment: true}, false},
		{"odirect-ext3", fixtures.InFlightSpec{Op: fixtures.InFlightDirect, InitialMiB: 4, Mkfs: []string{"-t", "ext3"}}, false},
		{"odirect-bigalloc", fixtures.InFlightSpec{Op: fixtures.InFlightDirect, InitialMiB: 4, Mkfs: []string{"-O", "bigalloc", "-C", "65536"}}, false},
		{"buffered", fixtures.InFlightSpec{Op: fixtures.InFlightBuffered, InitialMiB: 4, Attempts: 25}, true},
		{"shrink", fixtures.InFlightSpec{Op: fixtures.InFlightShrink, InitialMiB: 24, Fragment: true, Attempts: 30}, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			c.spec.Accept = acceptPastEOF
			cp := fixtures.CaptureInFlight(t, c.spec)
			img := cp.Path
			t.Logf("%d clone(s), genuine past-eof capture: %v", cp.Clones, cp.Genuine)
			o, ok := stateOf(img, cp.Inode)
			if !ok {
				t.Fatalf("inode %d is not listed", cp.Inode)
			}
			if !cp.Genuine {
				if !c.mayMiss {
					// Bounded attempts found nothing: make the shape from
					// the genuine orphan instead (said in the log).
					t.Logf("no clone showed the shape; cutting i_size of the genuine orphan with debugfs")
					img = replayedCopy(t, img)
					testfs.Debugfs(t, img, fmt.Sprintf("sif <%d> size %d", cp.Inode, o.Size-inflightCut), true)
				} else if o.State != StateDeletedOpen {
					t.Fatalf("state %q", o.State)
				}
				o, _ = stateOf(img, cp.Inode)
			}
			wantState := StatePastEOF
			if c.mayMiss && !cp.Genuine {
				wantState = StateDeletedOpen
			}
			if o.State != wantState {
				t.Fatalf("state %q, want %s", o.State, wantState)
			}
			m := mapOf(t, img, o.Inode)
			t.Logf("inode %d: size %d, %d written block(s) past it; %s map, depth %d, %d runs", o.Inode, o.Size, o.PastEOFBlocks, m.Format, m.Depth, len(m.Runs))
			switch {
			case c.spec.Fragment && m.Depth < 1,
				slices.Contains(c.spec.Mkfs, "ext3") && m.Format != inode.FormatIndirect:
				t.Fatalf("not the map shape this case is for")
			}
			if o.Size > uint64(len(cp.Content)) {
				t.Fatalf("size %d is past everything written (%d)", o.Size, len(cp.Content))
			}
			want := testfs.SHA256(cp.Content[:o.Size])

			// Default: trim.
			p := copyOf(t, img)
			plan, err := relinkImage(t, p, Request{Inode: o.Inode, Name: "/vm.qcow2"})
			if err != nil {
				t.Fatal(err)
			}
			if pe := plan.Relinks[0].PastEOF; wantState == StatePastEOF && (pe == nil || pe.Action != "trimmed" || pe.Blocks != o.PastEOFBlocks) {
				t.Fatalf("past_eof %+v", pe)
			}
			testfs.E2fsckSilent(t, p)
			checkContents(t, p, map[string]string{"vm.qcow2": want})

			if wantState != StatePastEOF {
				return
			}
			// --keep-past-eof.
			p = copyOf(t, img)
			plan, err = relinkImage(t, p, Request{Inode: o.Inode, Name: "/vm.qcow2", KeepPastEOF: true})
			if err != nil {
				t.Fatal(err)
			}
			pe := plan.Relinks[0].PastEOF
			if pe == nil || pe.Action != "kept" || pe.NewSize <= o.Size || pe.NewSize%4096 != 0 {
				t.Fatalf("past_eof %+v", pe)
			}
			testfs.E2fsckSilent(t, p)
			fsOp, err := OpenFS(p, Options{Mode: ReadOnly})
			if err != nil {
				t.Fatal(err)
			}
			fs, dev := fsOp.FS, fsOp.Dev
			data, err := fs.ReadPath("vm.qcow2")
			dev.Close()
			if err != nil {
				t.Fatal(err)
			}
			if uint64(len(data)) != pe.NewSize || !bytes.Equal(data[:o.Size], cp.Content[:o.Size]) {
				t.Fatalf("kept file: %d bytes (want %d), or the bytes up to the old size changed", len(data), pe.NewSize)
			}
			if end := min(pe.NewSize, uint64(len(cp.Content))); bytes.Equal(data[o.Size:end], cp.Content[o.Size:end]) {
				t.Logf("the kept blocks hold the data of the write in flight")
			} else {
				t.Logf("the kept blocks do not hold the data of the write in flight (it had not reached the disk)")
			}
			checkContents(t, p, map[string]string{"vm.qcow2": testfs.SHA256(data)})

			// What the kernel's release leaves (i_size 0 first) is still refused.
			p = replayedCopy(t, img)
			testfs.Debugfs(t, p, fmt.Sprintf("sif <%d> size 0", o.Inode), true)
			if r, _ := stateOf(p, uint64(o.Inode)); r.State != StateReleasing {
				t.Fatalf("size 0: state %q, want releasing", r.State)
			}
			if _, err := relinkImage(t, p, Request{Inode: o.Inode, Name: "/vm.qcow2"}); !errors.Is(err, ErrRequest) || !strings.Contains(err.Error(), "releasing") {
				t.Fatalf("size 0: got %v, want the releasing refusal", err)
			}
		})
	}
}

// inflightCut is how much of the genuine orphan's size the fallback cuts:
// one 256 KiB append, minus a little so that the last block is partial.
const inflightCut = 256<<10 - 100

func copyOf(t *testing.T, img string) string {
	t.Helper()
	p := t.TempDir() + "/copy.img"
	if err := fixtures.CopySparse(img, p); err != nil {
		t.Fatal(err)
	}
	return p
}

// replayedCopy is a copy with the journal replayed by debugfs (orphans kept).
func replayedCopy(t *testing.T, img string) string {
	t.Helper()
	p := copyOf(t, img)
	if out, err := exec.Command("debugfs", "-w", "-n", "-R", "jr", p).CombinedOutput(); err != nil {
		t.Fatalf("debugfs jr: %v\n%s", err, out)
	}
	return p
}

// inflightImage is a genuine capture of an O_DIRECT append in flight on a
// deleted file with a depth-1 extent tree, as a fixtures.Image whose one
// orphan (path vm.qcow2) carries the hash of its first i_size bytes.
func inflightImage(t *testing.T) *fixtures.Image {
	t.Helper()
	cp := fixtures.CaptureInFlight(t, fixtures.InFlightSpec{Op: fixtures.InFlightDirect, InitialMiB: 4, Fragment: true, Accept: acceptPastEOF})
	if !cp.Genuine {
		t.Fatalf("no clone of %d showed an append in flight", cp.Clones)
	}
	o, _ := stateOf(cp.Path, cp.Inode)
	return &fixtures.Image{Name: "inflight-odirect", Path: cp.Path, Manifest: &fixtures.Manifest{
		Orphans: []fixtures.OrphanInfo{{Inode: cp.Inode, Kind: "file", Size: int64(o.Size), SHA256: testfs.SHA256(cp.Content[:o.Size]), Path: "vm.qcow2"}},
	}}
}

// inflightKeptImage is inflightImage whose orphan carries the hash of what
// --keep-past-eof brings back (as a clean run on a copy reads it).
func inflightKeptImage(t *testing.T) *fixtures.Image {
	t.Helper()
	img := inflightImage(t)
	p := img.Copy(t)
	if _, err := relinkImage(t, p, Request{Inode: uint32(img.Orphans[0].Inode), Name: "/vm.qcow2", KeepPastEOF: true}); err != nil {
		t.Fatal(err)
	}
	fsOp, err := OpenFS(p, Options{Mode: ReadOnly})
	if err != nil {
		t.Fatal(err)
	}
	fs, dev := fsOp.FS, fsOp.Dev
	defer dev.Close()
	data, err := fs.ReadPath("vm.qcow2")
	if err != nil {
		t.Fatal(err)
	}
	if int64(len(data)) <= img.Orphans[0].Size || testfs.SHA256(data[:img.Orphans[0].Size]) != img.Orphans[0].SHA256 {
		t.Fatal("the kept file does not start with the bytes written")
	}
	img.Orphans[0].SHA256, img.Orphans[0].Size = testfs.SHA256(data), int64(len(data))
	return img
}

func mapOf(t *testing.T, img string, ino uint32) *inode.BlockMap {
	t.Helper()
	fsOp, err := OpenFS(img, Options{Mode: ReadOnly})
	if err != nil {
		t.Fatal(err)
	}
	fs, dev := fsOp.FS, fsOp.Dev
	defer dev.Close()
	in, _, err := fs.ReadInode(ino)
	if err != nil {
		t.Fatal(err)
	}
	m, err := fs.BlockMap(ino, in)
	if err != nil {
		t.Fatal(err)
	}
	return m
}
