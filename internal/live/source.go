package live

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"

	"golang.org/x/sys/unix"
)

// source is an opened deleted file, read-only.
type source struct {
	f      *os.File
	dev    uint64 // st_dev and st_ino of the deleted file
	ino    uint64
	rdev   uint64 // the loop device's own number, when read through one
	path   string // the name it had
	size   int64
	blocks int64 // 512-byte sectors allocated (for a loop device: its size)
	block  bool  // read through a loop device: no SEEK_DATA; zero blocks become holes
	pid    int   // the process holding it (0 for a loop device)
}

// openSource opens what src names, read-only, after checking that it is a
// deleted regular file. Nothing is ever written to it.
func openSource(src Source) (*source, error) {
	if src.Loop != "" {
		return openLoop(src)
	}
	if src.PID <= 0 {
		return nil, fmt.Errorf("%w: there is no process %d", ErrNoSource, src.PID)
	}
	base := fmt.Sprintf("/proc/%d", src.PID)
	if _, err := os.Stat(base); err != nil {
		if os.Geteuid() != 0 {
			// /proc mounted with hidepid hides other users' processes.
			return nil, fmt.Errorf("%w: no process %d is visible to this user (has it exited? /proc may hide other users' processes: run ext4relink as root)", ErrNoSource, src.PID)
		}
		return nil, fmt.Errorf("%w: there is no process %d (has it exited? 'ext4relink live' lists the holders)", ErrNoSource, src.PID)
	}
	comm := Comm(src.PID)
	link, what := fmt.Sprintf("%s/fd/%d", base, src.FD), fmt.Sprintf("descriptor %d", src.FD)
	if src.Map != "" {
		link, what = base+"/map_files/"+src.Map, "mapping "+src.Map
	}
	target, err := os.Readlink(link)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, fmt.Errorf("%w: process %d (%s) has no %s ('ext4relink live' lists what it holds)", ErrNoSource, src.PID, comm, what)
	case errors.Is(err, fs.ErrPermission):
		return nil, fmt.Errorf("%w: cannot read %s of process %d (%s): %v (run ext4relink as root)", ErrPermission, what, src.PID, comm, err)
	case err != nil:
		return nil, fmt.Errorf("%w: %s: %v", ErrSource, link, err)
	}
	path, deleted := TrimDeleted(target)
	var st unix.Stat_t
	if err := unix.Stat(link, &st); err != nil {
		return nil, openErr(link, err)
	}
	if err := checkDeleted(&st, path, deleted, fmt.Sprintf("%s of process %d (%s)", what, src.PID, comm)); err != nil {
		return nil, err
	}
	f, err := openNoatime(link)
	if err != nil {
		return nil, openErr(link, err)
	}
	var fst unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &fst); err != nil || fst.Dev != st.Dev || fst.Ino != st.Ino {
		f.Close()
		return nil, fmt.Errorf("%w: %s of process %d changed while it was opened; run the command again", ErrNoSource, what, src.PID)
	}
	return &source{f: f, dev: st.Dev, ino: st.Ino, path: path, size: fst.Size, blocks: fst.Blocks, pid: src.PID}, nil
}

// checkDeleted refuses anything but a regular file without a name.
func checkDeleted(st *unix.Stat_t, path string, deleted bool, what string) error {
	switch {
	case st.Mode&unix.S_IFMT != unix.S_IFREG:
		return fmt.Errorf("%w: %s is %s, not a regular file", ErrNotDeleted, what, path)
	case Internal(path):
		return fmt.Errorf("%w: %s is %s, memory that never had a name in a directory (memfd or shared memory), not a deleted file", ErrNotDeleted, what, path)
	case !deleted || st.Nlink != 0:
		return fmt.Errorf("%w: %s is %s, which is not deleted (it has %d name(s)): copy it with cp", ErrNotDeleted, what, path, st.Nlink)
	}
	return nil
}

// openNoatime opens read-only, without updating the access time where
// the kernel allows it (O_NOATIME needs the owner or CAP_FOWNER).
func openNoatime(p string) (*os.File, error) {
	f, err := os.OpenFile(p, os.O_RDONLY|unix.O_NOATIME, 0)
	if errors.Is(err, fs.ErrPermission) {
		f, err = os.OpenFile(p, os.O_RDONLY, 0)
	}
	return f, err
}

// openLoop opens a loop device whose backing file was deleted.
func openLoop(src Source) (*source, error) {
	name := strings.TrimPrefix(src.Loop, "/dev/")
	l, err := LoopBacking(name)
	if err != nil {
		return nil, err
	}
	if !l.Deleted {
		return nil, fmt.Errorf("%w: the backing file of %s, %s, is not deleted: copy that file", ErrNotDeleted, l.Dev, l.Path)
	}
	f, err := os.OpenFile(l.Dev, os.O_RDONLY, 0)
	if err != nil {
		return nil, openErr(l.Dev, err)
	}
	var st unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &st); err != nil {
		f.Close()
		return nil, openErr(l.Dev, err)
	}
	return &source{f: f, dev: l.BackingDev, ino: l.BackingInode, rdev: st.Rdev, path: l.Path,
		size: l.Size, blocks: (l.Size + 511) / 512, block: true}, nil
}
