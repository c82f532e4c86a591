package engine

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/ext4relink/ext4relink/internal/loopmnt"
	"github.com/ext4relink/ext4relink/internal/testfs"

	"github.com/ext4relink/ext4relink/fixtures"
)

// TestRelinkEveryFixture is the relink issue's acceptance list, on every
// fixture: relink all orphans, and separately every other orphan; then
// e2fsck -fn is clean with no recovery pending, the kernel mounts it and
// reads every relinked file with its original sha256 (and reaps the orphans
// left behind), and after a read-write kernel session e2fsck is still clean.
func TestRelinkEveryFixture(t *testing.T) {
	for _, img := range fixtures.All(t) {
		if img.Name == "ext4-fastcommit" && !fastCommitReplay {
			t.Run(img.Name+"/refused", func(t *testing.T) { refusedFastCommit(t, img) })
			continue
		}
		t.Run(img.Name+"/all", func(t *testing.T) { acceptAll(t, img) })
		t.Run(img.Name+"/every-other", func(t *testing.T) { acceptEveryOther(t, img) })
	}
}

func acceptAll(t *testing.T, img *fixtures.Image) {
	p, _, want := relinkAllFiles(t, img)
	testfs.E2fsckClean(t, p)
	checkContents(t, p, want)
	rwSession(t, p, want)
}

// relinkAllFiles relinks every orphan of a copy of img and returns the
// copy, the plan and the sha256 the relinked files and symlinks must have,
// by path; every one the manifest has must be among them.
func relinkAllFiles(t *testing.T, img *fixtures.Image) (string, *Plan, map[string]string) {
	t.Helper()
	p := img.Copy(t)
	plan, err := relinkImage(t, p, Request{All: true})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{}
	for _, r := range plan.Relinks {
		if o := manifestOrphan(t, img, r.Inode); o.Kind != "dir" {
			want[strings.TrimPrefix(r.Path, "/")] = o.SHA256
		}
	}
	if len(want) != countRelinkable(img) {
		t.Fatalf("relinked %d files/symlinks, manifest has %d", len(want), countRelinkable(img))
	}
	return p, plan, want
}

func acceptEveryOther(t *testing.T, img *fixtures.Image) {
	p := img.Copy(t)
	dirs := targetDirs(img)
	want := map[string]string{}
	n := 0
	for i, o := range relinkable(img) {
		if i%2 == 1 {
			continue
		}
		path := fmt.Sprintf("%s/rescued-%d", dirs[n%len(dirs)], o.Inode)
		n++
		if _, err := relinkImage(t, p, Request{Inode: uint32(o.Inode), Name: path}); err != nil {
			t.Fatalf("relink %d as %s: %v", o.Inode, path, err)
		}
		want[path] = o.SHA256
	}
	fsckOnlyOrphans(t, p, img, want)
	// The read-only mount reaps the orphans left behind (its journal stays
	// dirty, as after any read-only mount that cleans orphans); the
	// read-write session then leaves a clean filesystem.
	checkContents(t, p, want)
	rwSession(t, p, want)
}

// targetDirs: the scenario's directories that still exist, plus lost+found.
func targetDirs(img *fixtures.Image) []string {
	var out []string
	for d := range img.Dirs {
		if d == "gone" || d == "heldgone" {
			continue
		}
		out = append(out, d)
	}
	sort.Strings(out)
	return out
}

func relinkable(img *fixtures.Image) []fixtures.OrphanInfo {
	var out []fixtures.OrphanInfo
	for _, o := range img.Orphans {
		if o.Kind == "file" || o.Kind == "symlink" {
			out = append(out, o)
		}
	}
	return out
}

func countRelinkable(img *fixtures.Image) int { return len(relinkable(img)) }

func manifestOrphan(t *testing.T, img *fixtures.Image, ino uint32) fixtures.OrphanInfo {
	t.Helper()
	for _, o := range img.Orphans {
		if uint32(o.Inode) == ino {
			return o
		}
	}
	t.Fatalf("inode %d is not in the manifest", ino)
	return fixtures.OrphanInfo{}
}

var inoRE = regexp.MustCompile(`[Ii]node (\d+)`)

// fsckOnlyOrphans: with orphans deliberately left on the list, e2fsck -n
// (which does not process the orphan list in read-only mode) may complain,
// but only about those orphans.
func fsckOnlyOrphans(t *testing.T, img string, fx *fixtures.Image, relinked map[string]string) {
	t.Helper()
	out, err := exec.Command("e2fsck", "-fn", img).CombinedOutput()
	if err == nil {
		return
	}
	left := map[string]bool{fmt.Sprint(orphanFileIno(t, img)): true}
	for _, o := range fx.Orphans {
		left[fmt.Sprint(o.Inode)] = true
	}
	for _, m := range inoRE.FindAllStringSubmatch(string(out), -1) {
		if !left[m[1]] {
			t.Fatalf("e2fsck -fn complains about inode %s, which is not a left-over orphan:\n%s", m[1], out)
		}
	}
	for _, l := range strings.Split(string(out), "\n") {
		if strings.Contains(l, "Entry '") {
			t.Fatalf("e2fsck -fn complains about a directory entry:\n%s", out)
		}
	}
}

func checkContents(t *testing.T, img string, want map[string]string) {
	t.Helper()
	paths := slices.Sorted(mapKeys(want))
	got := testfs.MountRead(t, img, paths)
	for _, p := range paths {
		if got[p] != want[p] {
			t.Errorf("%s: sha256 %s, want %s", p, got[p], want[p])
		}
	}
}

func mapKeys(m map[string]string) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// rwSession mounts read-write, writes a new file, appends to a relinked
// regular file, unmounts, and requires e2fsck -fn to stay clean.
func rwSession(t *testing.T, img string, relinked map[string]string) {
	t.Helper()
	m := loopmnt.Must(t, img, "rw")
	mnt := m.Dir
	buf := make([]byte, 70000)
	rand.Read(buf)
	if err := os.WriteFile(filepath.Join(mnt, "written-after-relink"), buf, 0o644); err != nil {
		t.Fatal(err)
	}
	appended := ""
	for _, p := range slices.Sorted(mapKeys(relinked)) {
		full := filepath.Join(mnt, p)
		if fi, err := os.Lstat(full); err == nil && fi.Mode().IsRegular() {
			f, err := os.OpenFile(full, os.O_WRONLY|os.O_APPEND, 0)
			if err != nil {
				t.Fatal(err)
			}
			f.Write(buf[:5000])
			f.Close()
			appended = p
			break
		}
	}
	if err := m.Unmount(); err != nil {
		t.Fatal(err)
	}
	testfs.E2fsckClean(t, img)
	if appended != "" {
		got := testfs.MountRead(t, img, []string{"written-after-relink"})
		s := sha256.Sum256(buf)
		if got["written-after-relink"] != hex.EncodeToString(s[:]) {
			t.Fatal("file written after the relink reads back wrong")
		}
	}
}

func orphanFileIno(t *testing.T, img string) uint32 {
	fsOp, err := OpenFS(img, Options{Mode: ReadOnly})
	if err != nil {
		t.Fatal(err)
	}
	fs, dev := fsOp.FS, fsOp.Dev
	defer dev.Close()
	return fs.SB.OrphanFileInum
}

// fastCommitReplay says whether pending fast commits are replayed (true) or
// refused (false); until the replay lands, the fixture must be refused with
// the pending fast commits named and the image untouched.
const fastCommitReplay = true

func refusedFastCommit(t *testing.T, img *fixtures.Image) {
	p := img.Copy(t)
	before := testfs.FileSHA256(t, p)
	_, err := relinkImage(t, p, Request{All: true})
	if err == nil || !strings.Contains(err.Error(), "fast-commit") {
		t.Fatalf("pending fast commits not refused: %v", err)
	}
	if testfs.FileSHA256(t, p) != before {
		t.Fatal("the refused relink changed the image")
	}
}
