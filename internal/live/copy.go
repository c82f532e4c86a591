package live

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"sync"
	"syscall"
	"time"

	"github.com/ext4relink/ext4relink/internal/outfile"
	"golang.org/x/sys/unix"
)

// CopyOptions says where and how to copy.
type CopyOptions struct {
	Out    string // the output file
	Force  bool   // replace an existing output
	Freeze bool   // stop the holders (SIGSTOP) for the copy
	// Holders are further processes that hold the same file (from Scan),
	// stopped too with Freeze; the source's own PID always is.
	Holders []int
	// Note receives what the user should hear while it happens (stderr).
	Note func(format string, args ...any)
	// Progress, when set, is called now and then during the copy with the
	// bytes done (holes included) and the size.
	Progress func(done, size int64)
}

// CopyResult is what a copy did.
type CopyResult struct {
	Source       string // the --copy argument
	Path         string // the name the file had
	Inode        uint64
	Out          string
	Size         int64
	DataBytes    int64 // bytes read from data regions (the rest are holes)
	Blocks       int64 // the output's 512-byte sectors allocated
	SourceBlocks int64 // the held file's
	SHA256       string
	Verified     bool // the output was read back with the same sha256
	Frozen       []int
	// AlreadyStopped holders were stopped before (job control, a
	// debugger) and were left stopped.
	AlreadyStopped []int
	// Changed: without --freeze, the file's size or times moved while it
	// was copied, so the copy may mix old and new data.
	Changed bool
	// MountedRW: the loop device being copied is mounted read-write
	// there, so the filesystem inside may change during the copy.
	MountedRW string
	SameFS    bool
}

// chunk is the read size: large reads, one buffer.
const chunk = 1 << 20

// sameFSMargin is the room left free on the holder's own filesystem
// beyond the copy's size: at least this, or 2% of the filesystem.
const sameFSMargin = 64 << 20

// testHook, when set (by tests), runs after each chunk copied.
var testHook func(copied int64)

// Copy copies the deleted file src names to opt.Out: sparse (holes stay
// holes), through a temporary file renamed into place once its sha256 has
// been read back and matches. The source is opened read-only. With Freeze
// the holders are stopped for the copy and always resumed: on success,
// error, panic, and SIGINT, SIGTERM or SIGHUP to ext4relink (handled for
// the copy's duration).
func Copy(src Source, opt CopyOptions) (res *CopyResult, err error) {
	s, err := openSource(src)
	if err != nil {
		return nil, err
	}
	defer s.f.Close()
	if src.Loop != "" && opt.Freeze {
		return nil, fmt.Errorf("%w: %s is written by the kernel for whatever uses the loop device, not by a process --freeze could stop; unmount it, or remount it read-only (mount -o remount,ro), then copy", ErrFreeze, src.Loop)
	}
	res = &CopyResult{Source: src.String(), Path: s.path, Inode: s.ino, Out: opt.Out, SourceBlocks: s.blocks}
	if s.block {
		res.MountedRW = mountedRW(s.rdev)
	}
	if res.SameFS, err = checkOutput(s, opt); err != nil {
		return nil, err
	}
	tmp, err := os.CreateTemp(filepath.Dir(opt.Out), "."+filepath.Base(opt.Out)+".ext4relink-*")
	if err != nil {
		return nil, fmt.Errorf("%w: cannot create a file next to %s: %v", ErrOutput, opt.Out, err)
	}
	committed := false
	defer func() {
		if !committed {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	fr := &Freezer{}
	defer fr.Resume() // also during a panic
	ctx, stopSignals := onSignals(fr)
	defer stopSignals()
	if opt.Freeze {
		if err := freezeAll(fr, s, opt); err != nil {
			return nil, err
		}
		res.Frozen, res.AlreadyStopped = fr.Stopped(), fr.AlreadyStopped
	}
	var before unix.Stat_t
	unix.Fstat(int(s.f.Fd()), &before)
	if !s.block {
		s.size, s.blocks = before.Size, before.Blocks
		res.SourceBlocks = s.blocks
	}
	sum, data, err := copyData(ctx, s, tmp, opt.Progress)
	resumed := fr.Resume()
	if len(resumed) > 0 && opt.Note != nil {
		opt.Note("resumed %v (SIGCONT)", resumed)
	}
	if err != nil {
		return nil, cleanupErr(err, tmp.Name(), opt.Out)
	}
	res.Size, res.DataBytes, res.SHA256 = s.size, data, hex.EncodeToString(sum)
	res.Changed = !opt.Freeze && !s.block && changed(s.f, &before)
	if err := finish(tmp, res); err != nil {
		return nil, cleanupErr(err, tmp.Name(), opt.Out)
	}
	if err := context.Cause(ctx); err != nil {
		return nil, cleanupErr(err, tmp.Name(), opt.Out)
	}
	if err := place(tmp.Name(), opt.Out, opt.Force); err != nil {
		return nil, cleanupErr(err, tmp.Name(), opt.Out)
	}
	committed = true
	tmp.Close()
	syncDir(filepath.Dir(opt.Out))
	return res, nil
}

// mountedRW is where device rdev is mounted read-write, or "".
func mountedRW(rdev uint64) string {
	for _, m := range ParseMountinfo(readFile("/proc/self/mountinfo")) {
		if m.Dev == rdev && !m.ReadOnly {
			return m.MountPoint
		}
	}
	return ""
}

// place renames the finished copy to out; without force never over a file
// that appeared since the output was checked (RENAME_NOREPLACE, or a hard
// link where the filesystem lacks it).
func place(tmp, out string, force bool) error {
	err := outfile.Place(tmp, out, force)
	switch {
	case err == nil:
		return nil
	case !force && errors.Is(err, fs.ErrExist):
		return fmt.Errorf("%w: %s appeared while the copy was made; choose another --out, or give --force to replace it", ErrOutputExists, out)
	}
	return fmt.Errorf("%w: %v", ErrOutput, err) // err names both paths
}

// onSignals catches SIGINT, SIGTERM and SIGHUP for the copy's duration: the
// holders are resumed at once and the copy is cancelled. The returned func
// restores the default handling.
func onSignals(fr *Freezer) (context.Context, func()) {
	ctx, cancel := context.WithCancelCause(context.Background())
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	done := make(chan struct{})
	go func() {
		select {
		case sig := <-sigs:
			fr.Resume()
			// A second signal kills ext4relink as usual, should a read
			// or write hang.
			signal.Stop(sigs)
			cancel(fmt.Errorf("%w by signal (%v); the holders were resumed", ErrInterrupted, sig))
		case <-done:
		}
	}()
	return ctx, func() {
		signal.Stop(sigs)
		close(done)
		cancel(nil)
	}
}

// freezeAll stops the source's process and every other holder.
func freezeAll(fr *Freezer, s *source, opt CopyOptions) error {
	pids := []int{s.pid}
	for _, p := range opt.Holders {
		if p != 0 && !slices.Contains(pids, p) {
			pids = append(pids, p)
		}
	}
	for _, p := range pids {
		if opt.Note != nil {
			opt.Note("stopping %d (%s) with SIGSTOP for the copy; should ext4relink itself be killed, resume it with 'kill -CONT %d'", p, Comm(p), p)
		}
		if err := fr.Stop(p); err != nil {
			fr.Resume()
			return err
		}
	}
	return nil
}

// checkOutput refuses an existing output (without Force), and an output
// on the holder's own filesystem without room to spare. It reports
// whether the output is on that filesystem.
func checkOutput(s *source, opt CopyOptions) (bool, error) {
	if fi, err := os.Lstat(opt.Out); err == nil {
		if fi.IsDir() {
			return false, fmt.Errorf("%w: %s is a directory; give the output file's name", ErrOutputExists, opt.Out)
		}
		if !fi.Mode().IsRegular() && fi.Mode()&os.ModeSymlink == 0 {
			return false, fmt.Errorf("%w: %s exists and is not a regular file (%v); the copy is written to a new file, choose another --out", ErrOutputExists, opt.Out, fi.Mode().Type())
		}
		if !opt.Force {
			return false, fmt.Errorf("%w: %s exists; choose another --out, or give --force to replace it", ErrOutputExists, opt.Out)
		}
	}
	dir := filepath.Dir(opt.Out)
	var st unix.Stat_t
	var sf unix.Statfs_t
	if err := unix.Stat(dir, &st); err != nil {
		return false, fmt.Errorf("%w: the output directory %s: %v", ErrOutput, dir, err)
	}
	if err := unix.Statfs(dir, &sf); err != nil {
		return false, fmt.Errorf("%w: statfs %s: %v", ErrOutput, dir, err)
	}
	if s.block && st.Dev == s.rdev {
		return false, fmt.Errorf("%w: %s is on the filesystem inside %s, the very device being copied: every block written there would change what is being read. Write the copy to another disk", ErrNoRoom, dir, filepath.Base(s.f.Name()))
	}
	if st.Dev != s.dev && !sameFsid(s, &sf) {
		return false, nil
	}
	need := s.blocks*512 + max(int64(sameFSMargin), int64(sf.Blocks)*sf.Bsize/50)
	free := int64(sf.Bavail) * sf.Bsize
	if free < need {
		return true, fmt.Errorf("%w: %s is on the filesystem that holds the deleted file, which has %s available to ordinary writes; the copy needs %s plus a margin of %s. "+
			"The held blocks are not free space, so the copy cannot overwrite them; but it takes as much space again on the filesystem the holder (and the rest of the system) is still writing to: "+
			"filling it makes the holder's own writes fail with ENOSPC (a database or a VM, the very thing being rescued, may then crash or corrupt its data), and eats the reserve that keeps the system running. "+
			"Write the copy to another disk (a USB disk, a network filesystem)",
			ErrNoRoom, dir, human(free), human(s.blocks*512), human(need-s.blocks*512))
	}
	return true, nil
}

// sameFsid reports whether statfs says the output directory is on the
// held file's filesystem although the device numbers differ (btrfs
// subvolumes have their own).
func sameFsid(s *source, out *unix.Statfs_t) bool {
	var in unix.Statfs_t
	if s.block || unix.Fstatfs(int(s.f.Fd()), &in) != nil {
		return false
	}
	return in.Fsid != (unix.Fsid{}) && in.Fsid == out.Fsid && in.Type == out.Type
}

// copyData copies s into w, sparse, and returns the sha256 of the whole
// content (holes read as zeros) and the bytes of data copied.
func copyData(ctx context.Context, s *source, w *os.File, progress func(done, size int64)) ([]byte, int64, error) {
	c := &copier{ctx: ctx, s: s, w: w, h: sha256.New(), buf: make([]byte, chunk), progress: progress, last: time.Now()}
	for _, r := range c.dataRanges() {
		if err := c.copyRange(r[0], r[1]); err != nil {
			return nil, c.data, err
		}
	}
	if err := c.hashZeros(s.size); err != nil {
		return nil, c.data, err
	}
	if err := w.Truncate(s.size); err != nil {
		return nil, c.data, outputErr(err, s.size)
	}
	return c.h.Sum(nil), c.data, nil
}

type copier struct {
	ctx    context.Context
	s      *source
	w      *os.File
	h      hash.Hash
	buf    []byte
	hashed int64 // the content up to here is in h
	data   int64

	progress func(done, size int64)
	last     time.Time // of the last progress call
}

// dataRanges lists the data regions below the size, by SEEK_DATA and
// SEEK_HOLE; the whole file when the filesystem does not tell.
func (c *copier) dataRanges() [][2]int64 {
	size, fd := c.s.size, int(c.s.f.Fd())
	if c.s.block {
		return [][2]int64{{0, size}}
	}
	var out [][2]int64
	for off := int64(0); off < size; {
		data, err := unix.Seek(fd, off, unix.SEEK_DATA)
		if errors.Is(err, unix.ENXIO) {
			break
		}
		hole := size
		if err != nil {
			data = off
		} else if h, err := unix.Seek(fd, data, unix.SEEK_HOLE); err == nil {
			hole = min(h, size)
		}
		if data >= size {
			break
		}
		out = append(out, [2]int64{data, hole})
		off = hole
	}
	return out
}

// copyRange copies [from, to) at the same offsets.
func (c *copier) copyRange(from, to int64) error {
	for pos := from; pos < to; {
		if err := context.Cause(c.ctx); err != nil {
			return err
		}
		n := int(min(int64(len(c.buf)), to-pos))
		got, err := c.s.f.ReadAt(c.buf[:n], pos)
		if err != nil && !(errors.Is(err, io.EOF) && got > 0) {
			if errors.Is(err, io.EOF) {
				return nil // the file shrank while it was copied
			}
			return fmt.Errorf("%w: reading %s at byte %d: %v", ErrSource, c.s.f.Name(), pos, err)
		}
		b := c.buf[:got]
		if err := c.hashZeros(pos); err != nil {
			return err
		}
		c.h.Write(b)
		c.hashed = pos + int64(got)
		if err := c.write(b, pos); err != nil {
			return err
		}
		pos += int64(got)
		c.data += int64(got)
		if testHook != nil {
			testHook(c.data)
		}
		if c.progress != nil && time.Since(c.last) > 500*time.Millisecond {
			c.progress(pos, c.s.size)
			c.last = time.Now()
		}
	}
	return nil
}

// write writes b at off; through a loop device, 4 KiB blocks of zeros are
// left as holes.
func (c *copier) write(b []byte, off int64) error {
	if !c.s.block {
		_, err := c.w.WriteAt(b, off)
		return outputErr(err, off)
	}
	const g = 4096
	var zero [g]byte
	for i := 0; i < len(b); {
		j := i
		for j < len(b) && !bytes.Equal(b[j:min(j+g, len(b))], zero[:min(g, len(b)-j)]) {
			j += g
		}
		if j > i {
			if _, err := c.w.WriteAt(b[i:min(j, len(b))], off+int64(i)); err != nil {
				return outputErr(err, off+int64(i))
			}
		}
		i = j + g
	}
	return nil
}

// zeros is made on first use, not when any command starts.
var zeros = sync.OnceValue(func() []byte { return make([]byte, 64<<10) })

// hashZeros hashes the hole from c.hashed up to off.
func (c *copier) hashZeros(off int64) error {
	z := zeros()
	for c.hashed < off {
		n := min(int64(len(z)), off-c.hashed)
		c.h.Write(z[:n])
		c.hashed += n
	}
	return context.Cause(c.ctx)
}

func outputErr(err error, at int64) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, unix.ENOSPC) || errors.Is(err, unix.EDQUOT) {
		return fmt.Errorf("%w: the output disk is full (at byte %d of the copy): %v", ErrOutput, at, err)
	}
	return fmt.Errorf("%w: writing the output at byte %d: %v", ErrOutput, at, err)
}

// cleanupErr removes the partial output and says so.
func cleanupErr(err error, tmp, out string) error {
	os.Remove(tmp)
	if errors.Is(err, ErrOutput) {
		return fmt.Errorf("%w; the partial copy (%s) was removed, %s was not written, and the held file is untouched: free space there or choose another --out", err, tmp, out)
	}
	return fmt.Errorf("%w; the partial copy was removed and the held file is untouched", err)
}

// finish flushes the output, reads it back and compares its sha256, and
// records its allocation.
func finish(tmp *os.File, res *CopyResult) error {
	if err := tmp.Sync(); err != nil {
		return outputErr(err, res.Size)
	}
	fd := int(tmp.Fd())
	unix.Fadvise(fd, 0, 0, unix.FADV_DONTNEED) // read it back from the disk, not the cache
	h := sha256.New()
	if _, err := io.Copy(h, io.NewSectionReader(tmp, 0, 1<<62)); err != nil {
		return fmt.Errorf("%w: reading the copy back: %v", ErrOutput, err)
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != res.SHA256 {
		return fmt.Errorf("%w: the copy reads back with sha256 %s, but %s was written", ErrVerify, got, res.SHA256)
	}
	res.Verified = true
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err == nil {
		res.Blocks = st.Blocks
	}
	return nil
}

// changed reports whether the held file moved while it was copied.
func changed(f *os.File, before *unix.Stat_t) bool {
	var after unix.Stat_t
	if unix.Fstat(int(f.Fd()), &after) != nil {
		return true
	}
	return after.Size != before.Size || after.Mtim != before.Mtim || after.Ctim != before.Ctim
}

func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
}

// human prints a byte count in binary units.
func human(n int64) string {
	const u = "KMGTPE"
	if n < 1024 {
		return fmt.Sprintf("%d bytes", n)
	}
	f, i := float64(n)/1024, 0
	for f >= 1024 && i < len(u)-1 {
		f /= 1024
		i++
	}
	return fmt.Sprintf("%.1f %ciB", f, u[i])
}
