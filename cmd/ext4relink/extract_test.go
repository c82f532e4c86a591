package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ext4relink/ext4relink/engine"
	"github.com/ext4relink/ext4relink/fixtures"
	"github.com/ext4relink/ext4relink/internal/loopmnt"
	"github.com/ext4relink/ext4relink/internal/testfs"
	"golang.org/x/sys/unix"
)

// extracted is the part of extract --json the tests read.
type extracted struct {
	Extracted []struct {
		Inode     uint32 `json:"inode"`
		Type      string `json:"type"`
		Out       string `json:"out"`
		Size      uint64 `json:"size"`
		SHA256    string `json:"sha256"`
		DataBytes uint64 `json:"data_bytes"`
		Missing   []struct {
			Start, End uint64
			Reason     string
		} `json:"missing"`
		Verified     bool   `json:"verified"`
		Preserved    bool   `json:"preserved"`
		OriginalPath string `json:"original_path"`
	} `json:"extracted"`
	Skipped []jsonSkipped `json:"skipped"`
	Failed  []struct {
		Inode    uint32 `json:"inode"`
		ExitCode int    `json:"exit_code"`
	} `json:"failed"`
	Backup *jsonBackup `json:"backup_superblock"`
}

func extractJSON(t *testing.T, wantCode int, args ...string) extracted {
	t.Helper()
	code, out, errs := runCLI(append([]string{"extract", "--json"}, args...)...)
	if code != wantCode {
		t.Fatalf("extract %v: exit %d, want %d\n%s%s", args, code, wantCode, out, errs)
	}
	var r extracted
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("extract %v: not JSON: %v\n%s", args, err, out)
	}
	return r
}

// outSHA256 is the sha256 of an extracted file, or of a symlink's target
// (as the manifest records it).
func outSHA256(t *testing.T, path string) string {
	t.Helper()
	st, err := os.Lstat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode()&os.ModeSymlink != 0 {
		target, err := os.Readlink(path)
		if err != nil {
			t.Fatal(err)
		}
		return testfs.SHA256([]byte(target))
	}
	return testfs.FileSHA256(t, path)
}

// outputs maps each extracted inode to its copy. A copy named after the
// orphan's original path (--all) must be at that path under dir, and that
// path must be the manifest's: a wrong name is worse than none. Without
// one the copy is dir/#INO.
func outputs(t *testing.T, img *fixtures.Image, dir string, r extracted) map[uint64]string {
	t.Helper()
	out := map[uint64]string{}
	for _, x := range r.Extracted {
		want := filepath.Join(dir, "#"+strconv.FormatUint(uint64(x.Inode), 10))
		if x.OriginalPath != "" {
			want = filepath.Join(dir, x.OriginalPath)
			for _, o := range img.Orphans {
				if o.Inode == uint64(x.Inode) && "/"+o.Path != x.OriginalPath {
					t.Errorf("%s: inode %d copied as %s, but it was %s", img.Name, x.Inode, x.OriginalPath, o.Path)
				}
			}
		}
		if x.Out != want {
			t.Errorf("%s: inode %d written to %s, want %s", img.Name, x.Inode, x.Out, want)
		}
		out[uint64(x.Inode)] = x.Out
	}
	return out
}

// checkOrphansExtracted compares every file and symlink orphan of the
// manifest with its copy.
func checkOrphansExtracted(t *testing.T, img *fixtures.Image, dir string, r extracted) {
	t.Helper()
	outs := outputs(t, img, dir, r)
	for _, o := range img.Orphans {
		if o.Kind == "dir" {
			continue
		}
		p := outs[o.Inode]
		if _, err := os.Lstat(p); p == "" || err != nil {
			if !o.Optional {
				t.Errorf("%s: inode %d (%s) not extracted: %v", img.Name, o.Inode, o.Path, err)
			}
			continue
		}
		if got := outSHA256(t, p); got != o.SHA256 {
			t.Errorf("%s: inode %d (%s): sha256 %s, manifest %s", img.Name, o.Inode, o.Path, got, o.SHA256)
		}
	}
}

// TestExtractEveryFixtureOrphan extracts every orphan of every fixture
// with --all and compares each copy with the manifest; the image is read
// only (its bytes are unchanged) and the copies keep holes as holes.
func TestExtractEveryFixtureOrphan(t *testing.T) {
	for _, img := range fixtures.All(t) {
		t.Run(img.Name, func(t *testing.T) {
			before := testfs.FileSHA256(t, img.Path)
			dir := filepath.Join(t.TempDir(), "out")
			r := extractJSON(t, exitOK, "--dev", img.Path, "--all", "--out", dir)
			if len(r.Failed) > 0 {
				t.Fatalf("failed: %+v", r.Failed)
			}
			for _, x := range r.Extracted {
				if !x.Verified || x.SHA256 != outSHA256(t, x.Out) {
					t.Errorf("inode %d: verified %v, reported sha256 %s", x.Inode, x.Verified, x.SHA256)
				}
			}
			checkOrphansExtracted(t, img, dir, r)
			checkSparse(t, img, outputs(t, img, dir, r))
			if after := testfs.FileSHA256(t, img.Path); after != before {
				t.Fatalf("extract changed the image: sha256 %s -> %s", before, after)
			}
		})
	}
}

// checkSparse: each regular copy holds data exactly where the orphan has
// written blocks below its size (holes and unwritten extents stay holes),
// when the output filesystem has the image's block size; otherwise it
// occupies no more than the written blocks.
func checkSparse(t *testing.T, img *fixtures.Image, outs map[uint64]string) {
	t.Helper()
	dev, _, err := engine.Open(img.Path, engine.Options{Mode: engine.ReadOnly})
	if err != nil {
		t.Fatal(err)
	}
	defer dev.Close()
	fs, err := engine.LoadFS(dev)
	if err != nil {
		t.Fatal(err)
	}
	var sfs unix.Statfs_t
	if err := unix.Statfs(os.TempDir(), &sfs); err != nil {
		t.Fatal(err)
	}
	bs := int64(fs.BlockSize())
	for _, o := range img.Orphans {
		p := outs[o.Inode]
		st, err := os.Lstat(p)
		if p == "" || err != nil || !st.Mode().IsRegular() {
			continue
		}
		in, _, err := fs.ReadInode(uint32(o.Inode))
		if err != nil {
			t.Fatal(err)
		}
		m, err := fs.BlockMap(uint32(o.Inode), in)
		if err != nil {
			t.Fatal(err)
		}
		var want []testfs.Range
		var written int64
		for _, r := range m.Runs {
			s, e := int64(r.Logical)*bs, min(int64(r.End())*bs, st.Size())
			if r.Unwritten || s >= e {
				continue
			}
			written += e - s
			if n := len(want); n > 0 && want[n-1].End == s {
				want[n-1].End = e
			} else {
				want = append(want, testfs.Range{Start: s, End: e})
			}
		}
		if int64(sfs.Bsize) == bs && in.Flags&0x10000000 == 0 { // not inline data
			if got := testfs.DataRanges(t, p); fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("%s inode %d (%s): data at %v, the orphan has written blocks at %v", img.Name, o.Inode, o.Path, got, want)
			}
		}
		// The copy's own extent tree needs blocks too (one leaf per 340
		// extents).
		slack := int64(4+len(want)/300) * int64(sfs.Bsize)
		if alloc := testfs.AllocatedBytes(t, p); alloc > (written+int64(sfs.Bsize)-1)/int64(sfs.Bsize)*int64(sfs.Bsize)+slack {
			t.Errorf("%s inode %d (%s): %d bytes allocated for %d written bytes: holes were filled", img.Name, o.Inode, o.Path, alloc, written)
		}
	}
}

// TestExtractBackupSuperblock destroys the primary superblock and the
// first group descriptor block of a copy and reads every orphan through
// the backup of group 1 (1 KiB blocks: block 8193).
func TestExtractBackupSuperblock(t *testing.T) {
	img := fixtures.Get(t, "ext4-1k-sync")
	p := img.Copy(t)
	f, err := os.OpenFile(p, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt(make([]byte, 2048), 1024); err != nil {
		t.Fatal(err)
	}
	f.Close()
	before := testfs.FileSHA256(t, p)
	dir := filepath.Join(t.TempDir(), "out")
	code, out, errs := runCLI("extract", "--dev", p, "--all", "--out", dir)
	if code != exitCorrupt || !strings.Contains(errs, "--superblock 8193 --blocksize 1024") {
		t.Fatalf("primary destroyed, no --superblock: exit %d, want %d with a hint\n%s%s", code, exitCorrupt, out, errs)
	}
	r := extractJSON(t, exitOK, "--dev", p, "--all", "--out", dir, "--superblock", "8193", "--blocksize", "1024")
	if r.Backup == nil || r.Backup.Group != 1 || !r.Backup.LogReplayed {
		t.Errorf("backup report %+v: want group 1, log replayed (a sync capture)", r.Backup)
	}
	checkOrphansExtracted(t, img, dir, r)
	for _, bad := range [][]string{{"8192", "1024"}, {"8193", "4096"}, {"8193", "1000"}} {
		code, out, errs := runCLI("extract", "--dev", p, "--all", "--out", t.TempDir(), "--superblock", bad[0], "--blocksize", bad[1])
		if code == exitOK || code == exitInternal {
			t.Errorf("--superblock %s --blocksize %s: exit %d\n%s%s", bad[0], bad[1], code, out, errs)
		}
	}
	if after := testfs.FileSHA256(t, p); after != before {
		t.Fatalf("extract changed the image")
	}
}

// loadImage opens an image read-only and loads its filesystem.
func loadImage(t *testing.T, path string) (*engine.FS, func()) {
	t.Helper()
	dev, _, err := engine.Open(path, engine.Options{Mode: engine.ReadOnly})
	if err != nil {
		t.Fatal(err)
	}
	fs, err := engine.LoadFS(dev)
	if err != nil {
		dev.Close()
		t.Fatal(err)
	}
	return fs, func() { dev.Close() }
}

// corruptDeepLeaf damages one leaf block of inode ino's extent tree (depth
// 2) in the image at path, choosing one that the journal replay does not
// override (so that the damage is what the reader sees), and returns it.
func corruptDeepLeaf(t *testing.T, path string, ino uint32) (leaf uint64, size uint64) {
	t.Helper()
	fs, done := loadImage(t, path)
	in, _, err := fs.ReadInode(ino)
	if err != nil {
		t.Fatal(err)
	}
	m, err := fs.BlockMap(ino, in)
	done()
	if err != nil {
		t.Fatal(err)
	}
	if m.Depth < 2 || len(m.Meta) < 3 {
		t.Fatalf("inode %d: extent tree depth %d, %d tree blocks: want a deep tree", ino, m.Depth, len(m.Meta))
	}
	bs := int64(fs.BlockSize())
	for _, b := range m.Meta[len(m.Meta)/2:] {
		orig := testfs.ReadAt(t, path, int64(b)*bs+16, 4)
		writeAt(t, path, int64(b)*bs+16, []byte{0xde, 0xad, 0xbe, 0xef}) // inside the first entry
		fs, done := loadImage(t, path)
		seen, err := fs.ReadBlock(b)
		done()
		if err != nil {
			t.Fatal(err)
		}
		if string(seen[16:20]) == "\xde\xad\xbe\xef" {
			return b, in.Size()
		}
		writeAt(t, path, int64(b)*bs+16, orig)
	}
	t.Fatal("the journal overrides every tree block")
	return 0, 0
}

func writeAt(t *testing.T, path string, off int64, b []byte) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteAt(b, off); err != nil {
		t.Fatal(err)
	}
}

// TestExtractCorruptExtentBlock corrupts one leaf of a depth-2 extent
// tree: the copy stops with exit 5 and leaves nothing; with
// --ignore-errors it copies the rest, lists the lost range and exits 9,
// and everything outside that range matches a copy of the intact image.
func TestExtractCorruptExtentBlock(t *testing.T) {
	img := fixtures.Get(t, "ext4-xattr-deep")
	o, ok := img.Orphan("data/fragmented.bin")
	if !ok {
		t.Fatal("no data/fragmented.bin in the manifest")
	}
	ino := strconv.FormatUint(o.Inode, 10)
	good := filepath.Join(t.TempDir(), "good")
	extractJSON(t, exitOK, "--dev", img.Path, "--inode", ino, "--out", good)
	p := testfs.Replayed(t, img) // so that the journal overrides no tree block
	leaf, size := corruptDeepLeaf(t, p, uint32(o.Inode))
	checkPartialCopy(t, p, ino, good, leaf, size, testfs.FileSHA256(t, p))
}

// checkPartialCopy: with the map block leaf of inode ino damaged in image
// p, extract refuses (exit 5, naming the block, leaving nothing), and with
// --ignore-errors copies the rest (exit 9): every byte outside the listed
// missing ranges matches good, a copy from the intact image. The image is
// not changed (sha256 before).
func checkPartialCopy(t *testing.T, p, ino, good string, leaf, size uint64, before string) {
	t.Helper()
	dir := t.TempDir()
	out := filepath.Join(dir, "copy")
	code, stdout, errs := runCLI("extract", "--dev", p, "--inode", ino, "--out", out)
	if code != exitCorrupt || !strings.Contains(errs, fmt.Sprint(leaf)) {
		t.Fatalf("corrupt leaf %d: exit %d, want %d naming the block\n%s%s", leaf, code, exitCorrupt, stdout, errs)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Fatalf("a refused copy left %v", ents)
	}

	r := extractJSON(t, exitPartial, "--dev", p, "--inode", ino, "--out", out, "--ignore-errors")
	x := r.Extracted[0]
	if len(x.Missing) == 0 || x.Size != size {
		t.Fatalf("partial copy: %+v", x)
	}
	got, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	want, err := os.ReadFile(good)
	if err != nil {
		t.Fatal(err)
	}
	var lost uint64
	for _, m := range x.Missing {
		if !strings.Contains(m.Reason, fmt.Sprint(leaf)) {
			t.Errorf("missing %d..%d: reason %q does not name block %d", m.Start, m.End, m.Reason, leaf)
		}
		lost += m.End - m.Start
		for i := m.Start; i < m.End; i++ {
			got[i], want[i] = 0, 0
		}
	}
	if string(got) != string(want) || lost >= size {
		t.Fatalf("outside the %d missing bytes the copy differs from the intact image's", lost)
	}
	code, stdout, _ = runCLI("extract", "--dev", p, "--inode", ino, "--out", filepath.Join(dir, "text"), "--ignore-errors")
	if code != exitPartial || !strings.Contains(stdout, "PARTIAL") {
		t.Fatalf("text: exit %d\n%s", code, stdout)
	}
	if after := testfs.FileSHA256(t, p); after != before {
		t.Fatalf("extract changed the image")
	}
}

// TestExtractCorruptIndirectBlock: an indirect block with a pointer out of
// range (ext3, 1 KiB blocks) is distrusted whole: exit 5, or with
// --ignore-errors everything it maps becomes a hole and the rest is copied.
func TestExtractCorruptIndirectBlock(t *testing.T) {
	img := fixtures.Get(t, "ext3-1k-journal")
	o, ok := img.Orphan("data/big.vmdk")
	if !ok {
		t.Fatal("no data/big.vmdk in the manifest")
	}
	ino := strconv.FormatUint(o.Inode, 10)
	good := filepath.Join(t.TempDir(), "good")
	extractJSON(t, exitOK, "--dev", img.Path, "--inode", ino, "--out", good)
	p := testfs.Replayed(t, img)
	fs, done := loadImage(t, p)
	in, _, err := fs.ReadInode(uint32(o.Inode))
	if err != nil {
		t.Fatal(err)
	}
	m, err := fs.BlockMap(uint32(o.Inode), in)
	bs := int64(fs.BlockSize())
	done()
	if err != nil || m.Depth < 2 {
		t.Fatalf("map %v, depth %d: want double indirect blocks", err, m.Depth)
	}
	ind := m.Meta[len(m.Meta)-1] // a level-1 block under the double indirect one
	writeAt(t, p, int64(ind)*bs+8, []byte{0xff, 0xff, 0xff, 0x7f})
	checkPartialCopy(t, p, ino, good, ind, in.Size(), testfs.FileSHA256(t, p))
}

// TestExtractKeepsMetadata: mode, owner and times come from the inode;
// --no-preserve leaves the new file's own.
func TestExtractKeepsMetadata(t *testing.T) {
	img := fixtures.Get(t, "ext4-4k-freeze")
	o, _ := img.Orphan("data/big.vmdk")
	dev, _, err := engine.Open(img.Path, engine.Options{Mode: engine.ReadOnly})
	if err != nil {
		t.Fatal(err)
	}
	fs, err := engine.LoadFS(dev)
	if err != nil {
		t.Fatal(err)
	}
	in, _, err := fs.ReadInode(uint32(o.Inode))
	dev.Close()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	ino := strconv.FormatUint(o.Inode, 10)
	kept, plain := filepath.Join(dir, "kept"), filepath.Join(dir, "plain")
	extractJSON(t, exitOK, "--dev", img.Path, "--inode", ino, "--out", kept)
	extractJSON(t, exitOK, "--dev", img.Path, "--inode", ino, "--out", plain, "--no-preserve")
	var st unix.Stat_t
	if err := unix.Stat(kept, &st); err != nil {
		t.Fatal(err)
	}
	if st.Mode&07777 != uint32(in.Mode&07777) || st.Uid != in.UID() || st.Gid != in.GID() ||
		st.Mtim.Nano() != in.ModTime().UnixNano() || st.Atim.Nano() != in.AccessTime().UnixNano() {
		t.Errorf("kept: mode %o uid %d gid %d mtime %d atime %d; inode: %o %d %d %d %d", st.Mode&07777, st.Uid, st.Gid,
			st.Mtim.Nano(), st.Atim.Nano(), in.Mode&07777, in.UID(), in.GID(), in.ModTime().UnixNano(), in.AccessTime().UnixNano())
	}
	if err := unix.Stat(plain, &st); err != nil {
		t.Fatal(err)
	}
	if st.Mode&07777 != 0o600 || st.Mtim.Nano() == in.ModTime().UnixNano() {
		t.Errorf("--no-preserve: mode %o, mtime %d", st.Mode&07777, st.Mtim.Nano())
	}
}

// TestExtractRefusals: an existing output (without --force), a directory
// orphan, bad usage; --path of a linked file; nothing left behind.
func TestExtractRefusals(t *testing.T) {
	img := fixtures.Get(t, "ext4-4k-sync")
	o, _ := img.Orphan("data/small.bin")
	ino := strconv.FormatUint(o.Inode, 10)
	dir := t.TempDir()
	out := filepath.Join(dir, "x")
	if err := os.WriteFile(out, []byte("precious"), 0o644); err != nil {
		t.Fatal(err)
	}
	code, _, errs := runCLI("extract", "--dev", img.Path, "--inode", ino, "--out", out)
	if b, _ := os.ReadFile(out); code != exitRequest || string(b) != "precious" || !strings.Contains(errs, "--force") {
		t.Fatalf("existing output: exit %d, content %q\n%s", code, b, errs)
	}
	r := extractJSON(t, exitOK, "--dev", img.Path, "--inode", ino, "--out", out, "--force")
	if testfs.FileSHA256(t, out) != o.SHA256 || r.Extracted[0].SHA256 != o.SHA256 {
		t.Fatal("--force did not replace the output with the orphan")
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 1 {
		t.Fatalf("left behind: %v", ents)
	}
	for _, c := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"--dev", img.Path, "--out", out}, exitUsage, "one of --inode"},
		{[]string{"--dev", img.Path, "--inode", ino}, exitUsage, "--out is required"},
		{[]string{"--dev", img.Path, "--inode", ino, "--all", "--out", dir}, exitUsage, "one of --inode"},
		{[]string{"--dev", img.Path, "--inode", ino, "--out", out, "--superblock", "32768"}, exitUsage, "go together"},
		{[]string{"--dev", img.Path, "--inode", ino, "--out", dir}, exitRequest, "is a directory"},
		{[]string{"--dev", img.Path, "--inode", ino, "--out", "/nonexistent/x"}, exitRequest, "does not exist"},
		{[]string{"--dev", img.Path, "--inode", ino, "--out", "/dev/stdout", "--force"}, exitRequest, "not a regular file"},
		{[]string{"--dev", img.Path, "--inode", ino, "--out", "/dev/null", "--force"}, exitRequest, "not a regular file"},
		{[]string{"--dev", img.Path, "--path", "/no/such", "--out", filepath.Join(dir, "y")}, exitRequest, "does not exist"},
		{[]string{"--dev", img.Path, "--inode", "2", "--out", filepath.Join(dir, "y")}, exitRequest, "is a directory"},
	} {
		code, out, errs := runCLI(append([]string{"extract"}, c.args...)...)
		if code != c.code || !strings.Contains(out+errs, c.want) {
			t.Errorf("%v: exit %d, want %d with %q\n%s%s", c.args, code, c.code, c.want, out, errs)
		}
	}
	// --all with one output already there: that one fails (named, exit 7),
	// the others are extracted, and --json prints one object.
	first := extractJSON(t, exitOK, "--dev", img.Path, "--all", "--out", t.TempDir())
	all := t.TempDir()
	taken := filepath.Join(all, "#"+ino)
	for _, x := range first.Extracted {
		if x.Inode == uint32(o.Inode) && x.OriginalPath != "" {
			taken = filepath.Join(all, x.OriginalPath)
		}
	}
	if err := os.MkdirAll(filepath.Dir(taken), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(taken, []byte("precious"), 0o644); err != nil {
		t.Fatal(err)
	}
	ra := extractJSON(t, exitRequest, "--dev", img.Path, "--all", "--out", all)
	if b, _ := os.ReadFile(taken); len(ra.Failed) != 1 || ra.Failed[0].Inode != uint32(o.Inode) || len(ra.Extracted) != len(img.Orphans)-1 || string(b) != "precious" {
		t.Fatalf("--all with an existing output: %+v", ra)
	}
	// A linked file by path: compare with debugfs' view of it.
	ls := testfs.Debugfs(t, img.Path, "ls -p /keep")
	var name string
	var lino uint64
	for _, l := range strings.Split(ls, "\n") {
		f := strings.Split(strings.Trim(l, "/"), "/")
		if len(f) >= 5 && strings.HasPrefix(f[1], "100") {
			name = f[4]
			lino, _ = strconv.ParseUint(f[0], 10, 64)
			break
		}
	}
	if name == "" {
		t.Fatalf("no regular file in /keep:\n%s", ls)
	}
	lp := filepath.Join(dir, "linked")
	r = extractJSON(t, exitOK, "--dev", img.Path, "--path", "/keep/"+name, "--out", lp)
	if r.Extracted[0].Inode != uint32(lino) || testfs.FileSHA256(t, lp) != testfs.SHA256(testfs.Cat(t, img.Path, lino)) {
		t.Fatalf("--path /keep/%s: %+v", name, r.Extracted)
	}
}

// TestExtractDirectoryOrphan: a deleted directory is refused by --inode
// and skipped by --all, with the reason.
func TestExtractDirectoryOrphan(t *testing.T) {
	img := fixtures.Get(t, "ext4-deadparent")
	var dirIno uint64
	for _, o := range img.Orphans {
		if o.Kind == "dir" {
			dirIno = o.Inode
		}
	}
	if dirIno == 0 {
		t.Fatal("no directory orphan in the manifest")
	}
	code, _, errs := runCLI("extract", "--dev", img.Path, "--inode", strconv.FormatUint(dirIno, 10), "--out", filepath.Join(t.TempDir(), "d"))
	if code != exitRequest || !strings.Contains(errs, "is a directory") {
		t.Fatalf("exit %d\n%s", code, errs)
	}
	r := extractJSON(t, exitOK, "--dev", img.Path, "--all", "--out", t.TempDir())
	found := false
	for _, s := range r.Skipped {
		found = found || (uint64(s.Inode) == dirIno && strings.Contains(s.Reason, "directory"))
	}
	if !found {
		t.Fatalf("--all did not skip directory %d: %+v", dirIno, r.Skipped)
	}
}

// TestExtractOntoMountedFS: with the filesystem mounted read-only (a
// read-only loop device), extracting works, from the loop device and from
// the image, except onto that mount itself, which is refused.
func TestExtractOntoMountedFS(t *testing.T) {
	img := fixtures.Get(t, "ext4-4k-freeze")
	p := img.Copy(t)
	m, out, err := loopmnt.Try(t, p, "ro,noload")
	if err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	o, _ := img.Orphan("data/big.vmdk")
	ino := strconv.FormatUint(o.Inode, 10)
	for _, dev := range []string{m.Loop, p} {
		code, stdout, errs := runCLI("extract", "--dev", dev, "--inode", ino, "--out", filepath.Join(m.Dir, "keep", "x"))
		if code != exitRequest || !strings.Contains(errs, "filesystem being rescued") || !strings.Contains(errs, m.Dir) {
			t.Errorf("--dev %s, output on its mount: exit %d, want %d\n%s%s", dev, code, exitRequest, stdout, errs)
		}
		code, stdout, errs = runCLI("extract", "--dev", dev, "--all", "--out", filepath.Join(m.Dir, "new", "dir"))
		if code != exitRequest || !strings.Contains(errs, "filesystem being rescued") {
			t.Errorf("--dev %s --all into a new directory on its mount: exit %d, want %d\n%s%s", dev, code, exitRequest, stdout, errs)
		}
		elsewhere := filepath.Join(t.TempDir(), "x")
		r := extractJSON(t, exitOK, "--dev", dev, "--inode", ino, "--out", elsewhere)
		if r.Extracted[0].SHA256 != o.SHA256 {
			t.Errorf("--dev %s: sha256 %s, manifest %s", dev, r.Extracted[0].SHA256, o.SHA256)
		}
	}
}

// TestExtractFullDisk: an output disk without room ends with exit 10, says
// so, and leaves no partial file.
func TestExtractFullDisk(t *testing.T) {
	img := fixtures.Get(t, "ext4-4k-freeze")
	o, _ := img.Orphan("data/big.vmdk")
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", dir).CombinedOutput(); err != nil {
		t.Fatalf("mount tmpfs: %v: %s", err, out)
	}
	t.Cleanup(func() { exec.Command("umount", dir).Run() })
	code, out, errs := runCLI("extract", "--dev", img.Path, "--inode", strconv.FormatUint(o.Inode, 10), "--out", filepath.Join(dir, "big"))
	if code != exitOutput || !strings.Contains(errs, "full") || !strings.Contains(errs, "removed") {
		t.Fatalf("exit %d, want %d\n%s%s", code, exitOutput, out, errs)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Fatalf("left behind: %v", ents)
	}
}

// TestExtractProgress: the progress line has bytes, rate and ETA, and is
// cleared when the copy ends.
func TestExtractProgress(t *testing.T) {
	var out strings.Builder
	a := &app{stderr: &out}
	var done atomic.Int64
	done.Store(300 << 20)
	stop := a.extractProgress(&done, 1<<30)
	time.Sleep(700 * time.Millisecond)
	stop()
	s := out.String()
	if !strings.Contains(s, "300 MiB of 1024 MiB") || !strings.Contains(s, "MiB/s") || !strings.Contains(s, "ETA") || !strings.HasSuffix(s, "\r\033[K") {
		t.Fatalf("progress output %q", s)
	}
}

// TestExtractSharesTheDevice: extract takes no lock that keeps other
// readers out: it works while another process holds a shared lock on the
// image, and on a block device someone holds open with O_EXCL (as a mount
// or another tool would).
func TestExtractSharesTheDevice(t *testing.T) {
	img := fixtures.Get(t, "ext4-4k-freeze")
	o, _ := img.Orphan("data/small.bin")
	ino := strconv.FormatUint(o.Inode, 10)
	f, err := os.Open(img.Path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := unix.Flock(int(f.Fd()), unix.LOCK_SH|unix.LOCK_NB); err != nil {
		t.Fatal(err)
	}
	r := extractJSON(t, exitOK, "--dev", img.Path, "--inode", ino, "--out", filepath.Join(t.TempDir(), "x"))
	if r.Extracted[0].SHA256 != o.SHA256 {
		t.Fatalf("sha256 %s, manifest %s", r.Extracted[0].SHA256, o.SHA256)
	}
	loop := loopmnt.Attach(t, img.Path, true)
	excl, err := os.OpenFile(loop, os.O_RDONLY|unix.O_EXCL, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer excl.Close()
	r = extractJSON(t, exitOK, "--dev", loop, "--inode", ino, "--out", filepath.Join(t.TempDir(), "y"))
	if r.Extracted[0].SHA256 != o.SHA256 {
		t.Fatalf("from %s held O_EXCL: sha256 %s, manifest %s", loop, r.Extracted[0].SHA256, o.SHA256)
	}
}

// TestOutPath: --all's placement never follows a symbolic link or leaves
// the output directory, and falls back to #INO.
func TestOutPath(t *testing.T) {
	dir, elsewhere := t.TempDir(), t.TempDir()
	if err := os.Symlink(elsewhere, filepath.Join(dir, "data")); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "file"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	taken := map[string]bool{filepath.Join(dir, "srv", "taken"): true}
	for _, c := range []struct{ path, want, orig string }{
		{"/srv/db/orders.db", "srv/db/orders.db", "/srv/db/orders.db"},
		{"/data/x", "#7", ""},      // through a symlink
		{"/file/x", "#7", ""},      // through a file
		{"/srv/taken", "#7", ""},   // another orphan's
		{"/../../etc/x", "#7", ""}, // would leave dir
		{"", "#7", ""},
		{"/", "#7", ""},
	} {
		out, orig := outPath(dir, 7, c.path, taken)
		if out != filepath.Join(dir, c.want) || orig != c.orig {
			t.Errorf("outPath(%q) = %s, %q; want %s, %q", c.path, out, orig, filepath.Join(dir, c.want), c.orig)
		}
	}
	if ents, _ := os.ReadDir(elsewhere); len(ents) != 0 {
		t.Fatalf("wrote through the symbolic link: %v", ents)
	}
}
