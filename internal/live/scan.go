package live

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// HolderKind says how a deleted file is held.
type HolderKind int

const (
	HolderFD   HolderKind = iota // an open file descriptor
	HolderMap                    // a memory mapping (the descriptor may be closed)
	HolderLoop                   // a loop device's backing file
)

func (k HolderKind) String() string {
	switch k {
	case HolderFD:
		return "fd"
	case HolderMap:
		return "map"
	case HolderLoop:
		return "loop"
	}
	return "unknown"
}

// MarshalJSON writes the kind as its name.
func (k HolderKind) MarshalJSON() ([]byte, error) { return []byte(strconv.Quote(k.String())), nil }

// Holder is one thing that keeps a deleted file alive.
type Holder struct {
	Kind    HolderKind
	PID     int
	Command string
	FD      *int
	Map     string // START-END of the mapping (hex)
	Loop    string // /dev/loopN
	// LoopOffset and LoopSize: the part of the backing file the loop
	// device shows (what a copy through it gets).
	LoopOffset int64
	LoopSize   int64
	// Copy is the --copy argument that copies the file through this holder.
	Copy string
}

// File is one deleted file still held, with every holder.
type File struct {
	Major      uint32
	Minor      uint32
	Device     string // /dev name of major:minor, when a block device
	MountPoint string // where its filesystem is mounted
	FSType     string
	Source     string // the mount's source device
	Inode      uint64
	// Size and Blocks (512-byte sectors allocated) come from fstat through
	// a holder; -1 when no holder could be stat'ed (a loop device only).
	Size   int64
	Blocks int64
	Path   string // the name it had, as the holder saw it
	FSPath string // the same, from the root of its filesystem
	// Rescue is the command that brings it back in place after a crash
	// or power cut, from rescue media; empty when the filesystem is not
	// ext2/3/4.
	Rescue  string
	Notes   []string
	Holders []Holder

	dev uint64
}

// Dev is the file's st_dev.
func (f *File) Dev() uint64 { return f.dev }

// Report is everything Scan found.
type Report struct {
	Files []File
	// Unreadable lists processes whose descriptors or mappings could not
	// be read (permission denied: not root).
	Unreadable []int
}

type fileKey struct{ dev, ino uint64 }

// scanner collects holders by (dev, inode).
type scanner struct {
	files      map[fileKey]*File
	unreadable map[int]bool
}

// Scan finds every deleted file held on this system: open descriptors and
// memory mappings of every process, and loop devices whose backing file
// was deleted. It opens no held file.
func Scan() (*Report, error) {
	s := &scanner{files: map[fileKey]*File{}, unreadable: map[int]bool{}}
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil, fmt.Errorf("%w: cannot list processes: %v", ErrSource, err)
	}
	for _, e := range ents {
		if pid, err := strconv.Atoi(e.Name()); err == nil && pid > 0 {
			s.process(pid)
		}
	}
	s.loops()
	mounts := ParseMountinfo(readFile("/proc/self/mountinfo"))
	r := &Report{Files: []File{}}
	for _, f := range s.files {
		f.describe(mounts)
		r.Files = append(r.Files, *f)
	}
	sort.Slice(r.Files, func(i, j int) bool {
		a, b := r.Files[i], r.Files[j]
		if a.dev != b.dev {
			return a.dev < b.dev
		}
		return a.Inode < b.Inode
	})
	for pid := range s.unreadable {
		r.Unreadable = append(r.Unreadable, pid)
	}
	sort.Ints(r.Unreadable)
	return r, nil
}

func readFile(p string) []byte {
	b, _ := os.ReadFile(p)
	return b
}

// Comm is the command name of pid ("" when gone).
func Comm(pid int) string {
	return strings.TrimSpace(string(readFile(fmt.Sprintf("/proc/%d/comm", pid))))
}

// add records a holder of the file st describes.
func (s *scanner) add(st *unix.Stat_t, path string, h Holder) {
	k := fileKey{st.Dev, st.Ino}
	f := s.files[k]
	if f == nil {
		f = &File{dev: st.Dev, Major: unix.Major(st.Dev), Minor: unix.Minor(st.Dev), Inode: st.Ino, Size: -1, Blocks: -1, Path: path}
		s.files[k] = f
	}
	if f.Size < 0 && st.Mode != 0 {
		f.Size, f.Blocks = st.Size, st.Blocks
	}
	for _, o := range f.Holders {
		if h.Kind == HolderMap && o.Kind == HolderMap && o.PID == h.PID {
			return // one mapping per process is enough to name it
		}
	}
	f.Holders = append(f.Holders, h)
}

func (s *scanner) process(pid int) {
	base := fmt.Sprintf("/proc/%d", pid)
	comm := Comm(pid)
	fds, err := os.ReadDir(base + "/fd")
	if errors.Is(err, fs.ErrPermission) {
		s.unreadable[pid] = true
	}
	for _, e := range fds {
		fd, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		link := base + "/fd/" + e.Name()
		st, path, ok := deletedFile(link)
		if !ok {
			continue
		}
		n := fd
		s.add(st, path, Holder{Kind: HolderFD, PID: pid, Command: comm, FD: &n, Copy: fmt.Sprintf("%d:%d", pid, fd)})
	}
	maps, err := os.ReadFile(base + "/maps")
	if errors.Is(err, fs.ErrPermission) {
		s.unreadable[pid] = true
	}
	for _, m := range ParseMaps(maps) {
		if !m.Deleted || Internal(m.Path) {
			continue
		}
		h := Holder{Kind: HolderMap, PID: pid, Command: comm, Map: m.Range(), Copy: fmt.Sprintf("%d:map:%s", pid, m.Range())}
		var st unix.Stat_t
		if err := unix.Stat(base+"/map_files/"+m.Range(), &st); err != nil {
			// map_files needs CAP_SYS_ADMIN: name it from the maps line.
			st = unix.Stat_t{Dev: m.Dev, Ino: m.Inode}
		} else if st.Nlink != 0 || st.Mode&unix.S_IFMT != unix.S_IFREG {
			continue
		}
		s.add(&st, m.Path, h)
	}
}

// deletedFile stats the file behind a /proc magic link and reports it
// when it is a regular file that has no name left (st_nlink 0).
func deletedFile(link string) (*unix.Stat_t, string, bool) {
	target, err := os.Readlink(link)
	if err != nil {
		return nil, "", false
	}
	path, deleted := TrimDeleted(target)
	if !deleted || Internal(path) || !strings.HasPrefix(path, "/") {
		return nil, "", false
	}
	var st unix.Stat_t
	if err := unix.Stat(link, &st); err != nil || st.Nlink != 0 || st.Mode&unix.S_IFMT != unix.S_IFREG {
		return nil, "", false
	}
	return &st, path, true
}

// loops finds loop devices whose backing file was deleted.
func (s *scanner) loops() {
	paths, _ := filepath.Glob("/sys/block/loop*/loop/backing_file")
	for _, p := range paths {
		name := filepath.Base(filepath.Dir(filepath.Dir(p)))
		l, err := LoopBacking(name)
		if err != nil || !l.Deleted {
			continue
		}
		st := unix.Stat_t{Dev: l.BackingDev, Ino: l.BackingInode}
		s.add(&st, l.Path, Holder{Kind: HolderLoop, Loop: l.Dev, LoopOffset: l.Offset, LoopSize: l.Size, Copy: "loop:" + name})
	}
}

// Loop describes a loop device and its backing file.
type Loop struct {
	Dev          string // /dev/loopN
	Path         string // the backing file's name, without " (deleted)"
	Deleted      bool
	BackingDev   uint64 // st_dev and st_ino of the backing file (LOOP_GET_STATUS64)
	BackingInode uint64
	Offset       int64 // where in the backing file the device starts
	Size         int64 // the device's size in bytes
}

// LoopBacking reads what the kernel says about loop device name (loopN).
func LoopBacking(name string) (*Loop, error) {
	sys := "/sys/block/" + name
	b, err := os.ReadFile(sys + "/loop/backing_file")
	if err != nil {
		if _, e := os.Stat(sys); e != nil {
			return nil, fmt.Errorf("%w: there is no loop device /dev/%s", ErrNoSource, name)
		}
		return nil, fmt.Errorf("%w: /dev/%s has no backing file (not attached)", ErrNoSource, name)
	}
	l := &Loop{Dev: "/dev/" + name}
	l.Path, l.Deleted = TrimDeleted(strings.TrimRight(string(b), "\n"))
	sectors, _ := strconv.ParseInt(strings.TrimSpace(string(readFile(sys+"/size"))), 10, 64)
	l.Size = sectors * 512
	f, err := os.OpenFile(l.Dev, os.O_RDONLY, 0)
	if err != nil {
		return nil, openErr(l.Dev, err)
	}
	defer f.Close()
	info, err := unix.IoctlLoopGetStatus64(int(f.Fd()))
	if err != nil {
		return nil, fmt.Errorf("%w: LOOP_GET_STATUS64 on %s: %v", ErrSource, l.Dev, err)
	}
	l.BackingDev, l.BackingInode, l.Offset = info.Device, info.Inode, int64(info.Offset)
	return l, nil
}

// openErr wraps an open error in the sentinel it deserves.
func openErr(what string, err error) error {
	switch {
	case errors.Is(err, fs.ErrPermission):
		return fmt.Errorf("%w: %s: %v (run ext4relink as root)", ErrPermission, what, err)
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("%w: %s does not exist", ErrNoSource, what)
	}
	return fmt.Errorf("%w: %s: %v", ErrSource, what, err)
}

// describe fills in the device name, mount, path inside the filesystem
// and the rescue command.
func (f *File) describe(mounts []MountInfo) {
	f.Device = DevName(f.dev)
	m, ok := MountFor(mounts, f.dev, f.Path)
	if !ok {
		f.Notes = append(f.Notes, "its filesystem is not mounted in this mount namespace (a container's?): the mount point and the path inside the filesystem are unknown")
		return
	}
	f.MountPoint, f.FSType, f.Source = m.MountPoint, m.FSType, m.Source
	f.FSPath = FSPath(m, f.Path)
	dev := f.Device
	if strings.HasPrefix(m.Source, "/dev/") && m.Source != "/dev/root" {
		dev = m.Source
	}
	switch {
	case f.FSType != "ext4" && f.FSType != "ext3" && f.FSType != "ext2":
		f.Notes = append(f.Notes, fmt.Sprintf("on %s, not ext4: once the holders are gone (or after a crash) it is gone for good; copy it now", f.FSType))
	case dev == "" || f.FSPath == "":
		f.Notes = append(f.Notes, "the device or the path inside the filesystem is unknown: no rescue command")
	default:
		f.Rescue = fmt.Sprintf("ext4relink --dev %s --inode %d --name %s", f.devArg(dev), f.Inode, ShellQuote(f.FSPath))
		if _, err := os.Lstat(f.Path); err == nil {
			f.Notes = append(f.Notes, fmt.Sprintf("%s exists again (a new file): after a crash, give --name another path, or the relink is refused", f.Path))
		}
	}
}

// devArg is the rescue command's --dev argument, shell-quoted. A
// filesystem on a loop device is, after a crash, in the loop device's
// backing file (the device itself is gone): then it names that file, with
// --offset when the device starts inside it.
func (f *File) devArg(dev string) string {
	name, ok := strings.CutPrefix(dev, "/dev/")
	if !ok || !strings.HasPrefix(name, "loop") || !decimal(strings.TrimPrefix(name, "loop")) {
		return ShellQuote(dev)
	}
	l, err := LoopBacking(name)
	if err != nil || l.Deleted || l.Path == "" {
		return ShellQuote(dev)
	}
	f.Notes = append(f.Notes, fmt.Sprintf("its filesystem is on %s, whose backing file is %s: after a crash the loop device is gone, so the rescue command reads the image", dev, l.Path))
	if l.Offset != 0 {
		return fmt.Sprintf("%s --offset %d", ShellQuote(l.Path), l.Offset)
	}
	return ShellQuote(l.Path)
}

// DevName is /dev/NAME of a block device number, from
// /sys/dev/block/MAJ:MIN/uevent; "" when there is none (tmpfs, btrfs
// subvolumes, overlayfs have anonymous device numbers).
func DevName(dev uint64) string {
	u := readFile(fmt.Sprintf("/sys/dev/block/%d:%d/uevent", unix.Major(dev), unix.Minor(dev)))
	if n := UeventDevName(u); n != "" {
		return "/dev/" + n
	}
	return ""
}

// MountFor picks the mount of dev that path lies under: the longest mount
// point that is a prefix of path; else any mount of dev.
func MountFor(mounts []MountInfo, dev uint64, path string) (MountInfo, bool) {
	best, found := MountInfo{}, false
	for _, m := range mounts {
		if m.Dev != dev {
			continue
		}
		if !found {
			best, found = m, true
			continue
		}
		bu, mu := under(path, best.MountPoint), under(path, m.MountPoint)
		if mu && (!bu || len(m.MountPoint) > len(best.MountPoint)) {
			best = m
		}
	}
	return best, found
}

// under reports whether path is dir or inside it.
func under(path, dir string) bool {
	if dir == "/" {
		return strings.HasPrefix(path, "/")
	}
	return path == dir || strings.HasPrefix(path, dir+"/")
}

// FSPath turns a path as a process sees it into the path from the root of
// the filesystem (what --name takes): the mount point is replaced by the
// mount's root (a bind mount of a subtree). "" when path is not under it.
func FSPath(m MountInfo, path string) string {
	if !under(path, m.MountPoint) {
		return ""
	}
	rel := strings.TrimPrefix(path, m.MountPoint)
	if m.MountPoint == "/" {
		rel = path
	}
	return filepath.Join("/", m.Root, rel)
}

// ShellQuote quotes s for a POSIX shell when it needs it.
func ShellQuote(s string) string {
	safe := s != ""
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.ContainsRune("/._-+:,=@%", c)) {
			safe = false
		}
	}
	if safe {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
