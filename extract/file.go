package extract

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"sync/atomic"

	"github.com/ext4relink/ext4relink/inode"
	"github.com/ext4relink/ext4relink/internal/devio"
	"github.com/ext4relink/ext4relink/internal/outfile"
	"github.com/ext4relink/ext4relink/super"
	"golang.org/x/sys/unix"
)

// Source is one inode to copy out and what reading it needs. Map may be
// given (a map rebuilt from elsewhere, e.g. a journal copy of the inode);
// when nil it is read from the inode through Read, strictly, or salvaging
// a damaged extent tree with IgnoreErrors.
type Source struct {
	Ino    uint32
	Inode  *inode.Inode
	FS     inode.FS       // the filesystem facts the codecs need
	Read   inode.ReadFunc // one block (tree blocks, symlink targets)
	Blocks BlockReader    // many blocks (file data)
	Map    *inode.BlockMap
}

// WriteOptions say how to write the output.
type WriteOptions struct {
	Force        bool // replace an existing output (never a directory)
	NoPreserve   bool // do not copy mode, owner and times
	IgnoreErrors bool // unreadable parts become holes, listed in Report.Missing
	// NoDirSync leaves flushing the output directory (the new name) to the
	// caller, who writes many files into it and calls SyncDir once.
	NoDirSync bool
	Done      *atomic.Int64
}

// Report is what one extraction did.
type Report struct {
	Inode     uint32
	Type      string // "file" or "symlink"
	Out       string
	Size      uint64
	SHA256    string // of the content (of the target, for a symlink)
	DataBytes uint64
	Target    string // a symlink's target
	Missing   []Missing
	// OriginalPath is the path the file had, from the filesystem's root,
	// when the caller named the copy after it (extract --all).
	OriginalPath string
	Replaced     bool // --force replaced an existing file
	Preserved    bool // mode, owner and times copied
	Verified     bool
	Warnings     []string
	result       *Result
}

// Partial reports whether parts of the file could not be read.
func (r *Report) Partial() bool { return len(r.Missing) > 0 }

// Sentinels of the output side; both wrap devio.ErrRequest (nothing was
// written): the CLI maps them to "refused".
var (
	ErrExists    = fmt.Errorf("%w: the output exists", devio.ErrRequest)
	ErrSamePlace = fmt.Errorf("%w: the output is on the filesystem being read", devio.ErrRequest)
)

// Write copies src to the path out: a regular file (sparse) or a symlink.
// It writes a temporary name in out's directory, flushes it, reads it back,
// and renames it to out only then, so out never holds a partial copy. An
// existing out is refused unless o.Force. Directories and special files
// are refused. On any failure the temporary file is removed.
func Write(src Source, out string, o WriteOptions) (*Report, error) {
	in := src.Inode
	if err := checkType(src.Ino, in); err != nil {
		return nil, err
	}
	replaced, err := checkOut(out, o.Force)
	if err != nil {
		return nil, err
	}
	var rep *Report
	var tmp string
	if in.IsSymlink() {
		rep, tmp, err = writeSymlink(src, out)
	} else {
		rep, tmp, err = writeFile(src, out, o)
	}
	if err != nil {
		return nil, err
	}
	rep.Inode, rep.Out, rep.Replaced = src.Ino, out, replaced
	if !o.NoPreserve {
		rep.Warnings = preserve(tmp, in)
		rep.Preserved = len(rep.Warnings) == 0
		if !in.IsSymlink() {
			syncPath(tmp) // the owner, mode and times just set
		}
	}
	defer inflight.Delete(tmp)
	if err := rename(tmp, out, o.Force); err != nil {
		os.Remove(tmp)
		return nil, err
	}
	if !o.NoDirSync {
		SyncDir(filepath.Dir(out))
	}
	return rep, nil
}

func checkType(ino uint32, in *inode.Inode) error {
	switch {
	case in.Flags&inode.EncryptFl != 0:
		return super.Errorf(super.ErrUnsupported, fmt.Sprintf("inode %d", ino), super.NoBlock, -1,
			"the file is encrypted (fscrypt); its blocks hold ciphertext that only the kernel with the key can read: relink it instead (ext4relink --inode %d --name PATH) and read it on a system that has the key", ino)
	case in.IsDir():
		return fmt.Errorf("%w: inode %d is a directory; extract copies files and symbolic links, one at a time (give each file's --path, or mount a copy of the image read-only to copy a tree). A deleted directory holds no names (rmdir removes only empty ones), so there is nothing in it to copy: relink it (ext4relink --inode %d --name PATH) if the directory itself matters", devio.ErrRequest, ino, ino)
	case in.IsReg(), in.IsSymlink():
		return nil
	}
	return super.Errorf(super.ErrUnsupported, fmt.Sprintf("inode %d", ino), super.NoBlock, -1,
		"it is a device, FIFO or socket (mode %#o), which holds no data to copy", in.Mode)
}

// checkOut refuses an output that exists (unless force; a directory
// always) and an output directory that does not exist.
func checkOut(out string, force bool) (exists bool, err error) {
	dir := filepath.Dir(out)
	if st, err := os.Stat(dir); err != nil || !st.IsDir() {
		return false, fmt.Errorf("%w: cannot write %s: its directory %s does not exist or is not a directory", devio.ErrRequest, out, dir)
	}
	st, err := os.Lstat(out)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("%w: %w", ErrOutput, err)
	case st.IsDir():
		return true, fmt.Errorf("%w: %s is a directory; give a file name (or, with --all, the directory to fill)", ErrExists, out)
	case !force:
		return true, fmt.Errorf("%w: %s already exists; choose another --out, or pass --force to replace it", ErrExists, out)
	case !st.Mode().IsRegular():
		// A symbolic link (/dev/stdout), a device or a FIFO: renaming over
		// it would replace the name, not write through it.
		return true, fmt.Errorf("%w: %s is not a regular file (%s); --force replaces only regular files: choose a plain file name", ErrExists, out, st.Mode().Type())
	}
	return true, nil
}

// writeFile copies a regular file into a temporary file next to out.
func writeFile(src Source, out string, o WriteOptions) (*Report, string, error) {
	f, err := os.CreateTemp(filepath.Dir(out), "."+filepath.Base(out)+".ext4relink-*")
	if err != nil {
		return nil, "", fmt.Errorf("%w: %w", ErrOutput, err)
	}
	tmp := f.Name()
	inflight.Store(tmp, true)
	rep, err := copyInto(f, src, o)
	if err == nil {
		err = flushAndVerify(f, rep)
	}
	if cerr := f.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("%w: %w", ErrOutput, cerr)
	}
	if err != nil {
		os.Remove(tmp)
		inflight.Delete(tmp)
		return nil, "", explainOutput(err, tmp)
	}
	return rep, tmp, nil
}

// explainOutput says what a full output disk means for the user.
func explainOutput(err error, tmp string) error {
	if errors.Is(err, unix.ENOSPC) || errors.Is(err, unix.EDQUOT) {
		return fmt.Errorf("%w; the output disk is full (or over quota): the partial copy %s was removed. Free space there or choose an --out on a disk with room (the file's size is in 'ext4relink list')", err, tmp)
	}
	if errors.Is(err, ErrOutput) || errors.Is(err, ErrVerify) {
		return fmt.Errorf("%w; the partial copy %s was removed", err, tmp)
	}
	return err
}

func copyInto(f *os.File, src Source, o WriteOptions) (*Report, error) {
	in := src.Inode
	rep := &Report{Type: "file", Size: in.Size()}
	if inode.Format(in, src.FS) == inode.FormatInline {
		data, err := inode.ReadInline(in, src.Ino)
		if err != nil {
			return nil, err
		}
		if _, err := f.Write(data); err != nil {
			return nil, fmt.Errorf("%w: %w", ErrOutput, err)
		}
		res := &Result{Size: uint64(len(data)), DataBytes: uint64(len(data)), pieces: []piece{{0, len(data), crcOf(data)}}}
		res.SHA256 = fmt.Sprintf("%x", sha256.Sum256(data))
		return fill(rep, res), nil
	}
	m, lost, err := fileMap(src, o.IgnoreErrors)
	if err != nil {
		return nil, err
	}
	res, err := CopyData(f, m, src.Blocks, in.Size(), Options{BlockSize: src.FS.BlockSize, IgnoreErrors: o.IgnoreErrors, Done: o.Done, ReadBack: true})
	if err != nil {
		return nil, err
	}
	res.Missing = mergeMissing(append(res.Missing, lostBytes(lost, uint64(src.FS.BlockSize), in.Size())...))
	return fill(rep, res), nil
}

func crcOf(b []byte) uint32 { return crc32.Checksum(b, castagnoli) }

func fill(rep *Report, res *Result) *Report {
	rep.Size, rep.SHA256, rep.DataBytes, rep.Missing = res.Size, res.SHA256, res.DataBytes, res.Missing
	rep.result = res
	return rep
}

// fileMap returns the data map: given, strict, or salvaged.
func fileMap(src Source, ignore bool) (*inode.BlockMap, []inode.Lost, error) {
	if src.Map != nil {
		return src.Map, nil, nil
	}
	in := src.Inode
	switch f := inode.Format(in, src.FS); {
	case ignore && f == inode.FormatExtents:
		return inode.SalvageExtents(in.Block[:], src.FS.Params(src.Ino, in), src.Read)
	case ignore && f == inode.FormatIndirect:
		return inode.SalvageIndirect(in.Block[:], src.FS.Params(src.Ino, in), src.Read)
	}
	m, err := inode.MapInode(in, src.FS, src.Ino, src.Read)
	return m, nil, err
}

// lostBytes turns lost logical block ranges into byte ranges below size.
func lostBytes(lost []inode.Lost, bs, size uint64) []Missing {
	var out []Missing
	for _, l := range lost {
		s, e := l.Start*bs, min(l.End*bs, size)
		if s >= e {
			continue
		}
		out = append(out, Missing{Start: s, End: e, Reason: fmt.Sprintf("tree block %d: %v", l.Block, l.Err)})
	}
	return out
}

func mergeMissing(m []Missing) []Missing {
	sort.Slice(m, func(i, j int) bool { return m[i].Start < m[j].Start })
	var out []Missing
	for _, x := range m {
		if n := len(out); n > 0 && out[n-1].End >= x.Start && out[n-1].Reason == x.Reason {
			out[n-1].End = max(out[n-1].End, x.End)
			continue
		}
		out = append(out, x)
	}
	return out
}

// flushAndVerify writes the file to its disk and reads back what the copy
// did not already read back while it ran (Options.ReadBack): everything of
// an inline file, the pieces an output filesystem could not flush by range.
func flushAndVerify(f *os.File, rep *Report) error {
	if err := f.Sync(); err != nil {
		return fmt.Errorf("%w: flushing %s: %w", ErrOutput, f.Name(), err)
	}
	res := rep.result
	if res.checked < len(res.pieces) {
		// Best effort: on filesystems that keep the pages (tmpfs) the
		// read back comes from memory.
		unix.Fadvise(int(f.Fd()), 0, 0, unix.FADV_DONTNEED)
	}
	if err := res.verifyFrom(f, res.checked); err != nil {
		return err
	}
	rep.Verified = true
	return nil
}

// writeSymlink makes the symbolic link under a temporary name next to out.
func writeSymlink(src Source, out string) (*Report, string, error) {
	target, err := inode.Symlink(src.Inode, src.FS, src.Ino, src.Read)
	if err != nil {
		return nil, "", err
	}
	var tmp string
	for i := 0; ; i++ {
		tmp = filepath.Join(filepath.Dir(out), fmt.Sprintf(".%s.ext4relink-%d-%d", filepath.Base(out), os.Getpid(), i))
		err = os.Symlink(string(target), tmp)
		if err == nil {
			inflight.Store(tmp, true)
		}
		if !errors.Is(err, os.ErrExist) || i > 100 {
			break
		}
	}
	if err != nil {
		return nil, "", fmt.Errorf("%w: cannot create the symbolic link %s (does the output filesystem support symbolic links? FAT does not): %w", ErrOutput, tmp, err)
	}
	back, err := os.Readlink(tmp)
	if err != nil || back != string(target) {
		os.Remove(tmp)
		inflight.Delete(tmp)
		return nil, "", fmt.Errorf("%w: the symbolic link %s reads back as %q, not %q", ErrVerify, tmp, back, target)
	}
	rep := &Report{Type: "symlink", Size: uint64(len(target)), SHA256: fmt.Sprintf("%x", sha256.Sum256(target)), Target: string(target), Verified: true}
	return rep, tmp, nil
}

// rename moves tmp to out: atomically refusing an existing out unless
// force (renameat2 RENAME_NOREPLACE, or link+unlink where the output
// filesystem lacks it).
func rename(tmp, out string, force bool) error {
	err := outfile.Place(tmp, out, force)
	switch {
	case err == nil:
		return nil
	case !force && errors.Is(err, os.ErrExist):
		return fmt.Errorf("%w: %s appeared while copying; choose another --out, or pass --force to replace it", ErrExists, out)
	}
	return fmt.Errorf("%w: %w", ErrOutput, err) // err names both paths
}

// inflight holds the temporary names being written, for RemoveTemps.
var inflight sync.Map

// RemoveTemps removes every temporary file a Write in progress has made
// and returns their names: for an interrupt (SIGINT, SIGTERM), so that no
// partial copy is left behind.
func RemoveTemps() []string {
	var out []string
	inflight.Range(func(k, _ any) bool {
		if os.Remove(k.(string)) == nil {
			out = append(out, k.(string))
		}
		return true
	})
	return out
}

// SyncDir flushes a directory, so that the names made in it survive a
// crash.
func SyncDir(dir string) { syncPath(dir) }

func syncPath(p string) {
	if d, err := os.Open(p); err == nil {
		d.Sync()
		d.Close()
	}
}

// preserve copies owner, mode and times from the inode; what cannot be
// set (not root, a filesystem without owners) is returned as warnings.
func preserve(path string, in *inode.Inode) []string {
	var warn []string
	if err := os.Lchown(path, int(in.UID()), int(in.GID())); err != nil {
		warn = append(warn, fmt.Sprintf("owner %d:%d not kept: %v", in.UID(), in.GID(), err))
	}
	if !in.IsSymlink() {
		// After chown, which clears set-user-ID and set-group-ID.
		if err := unix.Chmod(path, uint32(in.Mode&07777)); err != nil {
			warn = append(warn, fmt.Sprintf("mode %04o not kept: %v", in.Mode&07777, err))
		}
	}
	ts := []unix.Timespec{unix.NsecToTimespec(in.AccessTime().UnixNano()), unix.NsecToTimespec(in.ModTime().UnixNano())}
	if err := unix.UtimesNanoAt(unix.AT_FDCWD, path, ts, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		warn = append(warn, fmt.Sprintf("times not kept: %v", err))
	}
	return warn
}
