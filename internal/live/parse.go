// Package live finds the deleted files that running processes (and loop
// devices) still hold on this system, and copies them out while they are
// still there. Everything it learns comes from /proc and /sys: the parsers
// in this file are pure over the text those files hold; scan.go does the
// reading, copy.go the copying, freeze.go stopping and resuming holders.
//
// It never writes to a held file: sources are opened O_RDONLY.
package live

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/ext4relink/ext4relink/internal/devio"
	"golang.org/x/sys/unix"
)

// deletedSuffix is what the kernel's d_path appends to the name of a
// dentry that has been unlinked (fs/d_path.c).
const deletedSuffix = " (deleted)"

// TrimDeleted splits a /proc/PID/fd link target or maps path into the name
// the file had and whether the kernel marks it deleted.
func TrimDeleted(target string) (path string, deleted bool) {
	if p, ok := strings.CutSuffix(target, deletedSuffix); ok {
		return p, true
	}
	return target, false
}

// Internal reports whether a path names a file that was never in any
// directory a user could see: memfd_create files, shared anonymous memory
// (/dev/zero mappings) and System V shared memory all live on the kernel's
// internal shmem mount and always show as deleted.
func Internal(path string) bool {
	return strings.HasPrefix(path, "/memfd:") || strings.HasPrefix(path, "/SYSV") ||
		path == "/dev/zero" || strings.HasPrefix(path, "/dev/zero ") ||
		strings.HasPrefix(path, "anon_inode:") || strings.HasPrefix(path, "/anon_hugepage")
}

// MapEntry is one line of /proc/PID/maps that names a file.
type MapEntry struct {
	Start, End uint64 // the mapped address range
	Perms      string // e.g. "rw-s"
	Offset     uint64 // file offset of Start
	Dev        uint64 // st_dev of the file (unix.Mkdev)
	Inode      uint64
	Path       string // without " (deleted)"
	Deleted    bool
}

// Range is the name of the mapping under /proc/PID/map_files.
func (m MapEntry) Range() string { return fmt.Sprintf("%x-%x", m.Start, m.End) }

// ParseMaps parses /proc/PID/maps (proc(5)): "start-end perms offset
// major:minor inode path", the numbers in hex except the inode. Lines that
// name no file (anonymous memory, [heap], [vdso]) and lines that do not
// parse are left out.
func ParseMaps(data []byte) []MapEntry {
	var out []MapEntry
	for _, line := range strings.Split(string(data), "\n") {
		if e, ok := parseMapsLine(line); ok {
			out = append(out, e)
		}
	}
	return out
}

func parseMapsLine(line string) (MapEntry, bool) {
	var e MapEntry
	rest := line
	var f [5]string
	for i := range f {
		rest = strings.TrimLeft(rest, " ")
		var ok bool
		f[i], rest, ok = strings.Cut(rest, " ")
		if !ok && i < 4 {
			return e, false
		}
	}
	path := strings.TrimLeft(rest, " ")
	if path == "" || path[0] == '[' || f[4] == "0" {
		return e, false
	}
	start, end, ok := strings.Cut(f[0], "-")
	if !ok {
		return e, false
	}
	var err [5]error
	e.Start, err[0] = strconv.ParseUint(start, 16, 64)
	e.End, err[1] = strconv.ParseUint(end, 16, 64)
	e.Offset, err[2] = strconv.ParseUint(f[2], 16, 64)
	e.Inode, err[3] = strconv.ParseUint(f[4], 10, 64)
	e.Dev, err[4] = parseMajMin(f[3], 16)
	for _, x := range err {
		if x != nil {
			return MapEntry{}, false
		}
	}
	e.Perms = f[1]
	e.Path, e.Deleted = TrimDeleted(path)
	return e, true
}

// parseMajMin parses "major:minor" in the given base into a dev_t.
func parseMajMin(s string, base int) (uint64, error) {
	ma, mi, ok := strings.Cut(s, ":")
	if !ok {
		return 0, fmt.Errorf("%q is not major:minor", s)
	}
	a, err1 := strconv.ParseUint(ma, base, 32)
	b, err2 := strconv.ParseUint(mi, base, 32)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("%q is not major:minor", s)
	}
	return unix.Mkdev(uint32(a), uint32(b)), nil
}

// MountInfo is one mount of /proc/PID/mountinfo (devio parses the format).
type MountInfo = devio.MountEntry

// ParseMountinfo parses /proc/PID/mountinfo; lines that do not parse are
// left out.
func ParseMountinfo(data []byte) []MountInfo { return devio.ParseMountinfo(data) }

// UeventDevName returns DEVNAME from a /sys/dev/block/MAJ:MIN/uevent file
// ("loop12", "mapper/..." is never there: dm devices say "dm-3").
func UeventDevName(data []byte) string {
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "DEVNAME="); ok {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// ProcStat is what ext4relink needs from /proc/PID/stat.
type ProcStat struct {
	Comm  string
	State byte // R, S, D, T (stopped), t (traced), Z, ...
}

// Stopped reports whether the process is stopped by a signal or a tracer.
func (s ProcStat) Stopped() bool { return s.State == 'T' || s.State == 't' }

// ParseStat parses the start of /proc/PID/stat: "pid (comm) state ...".
// comm may itself hold spaces and parentheses: it ends at the last ')'.
func ParseStat(data []byte) (ProcStat, bool) {
	s := string(data)
	open, close := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
	if open < 0 || close < open || close+2 >= len(s) {
		return ProcStat{}, false
	}
	return ProcStat{Comm: s[open+1 : close], State: s[close+2]}, true
}

// Source names what to copy: a descriptor (PID:FD), a mapping
// (PID:map:START-END, as /proc/PID/map_files names it) or a loop device
// whose backing file was deleted (loop:loopN or /dev/loopN).
type Source struct {
	PID   int
	FD    int    // -1 unless a descriptor
	Map   string // START-END, hex, for a mapping
	Loop  string // /dev/loopN for a loop device
	Input string // as given
}

// String is the form ParseSource reads and live prints.
func (s Source) String() string {
	switch {
	case s.Loop != "":
		return "loop:" + strings.TrimPrefix(s.Loop, "/dev/")
	case s.Map != "":
		return fmt.Sprintf("%d:map:%s", s.PID, s.Map)
	}
	return fmt.Sprintf("%d:%d", s.PID, s.FD)
}

// ParseSource parses the argument of --copy. Numbers are decimal (PIDs and
// descriptors are printed that way everywhere), the map range hex.
func ParseSource(s string) (Source, error) {
	src := Source{FD: -1, Input: s}
	if n, ok := strings.CutPrefix(s, "loop:"); ok {
		s = "/dev/" + n
	}
	if n, ok := strings.CutPrefix(s, "/dev/loop"); ok {
		if !decimal(n) {
			return src, fmt.Errorf("--copy %q: want /dev/loopN or loop:loopN", src.Input)
		}
		src.Loop = s
		return src, nil
	}
	pid, rest, ok := strings.Cut(s, ":")
	if !ok || !decimal(pid) {
		return src, fmt.Errorf("--copy %q: want PID:FD (as 'ext4relink live' prints it, e.g. 1234:7), PID:map:START-END or loop:loopN", src.Input)
	}
	src.PID, _ = strconv.Atoi(pid)
	if r, ok := strings.CutPrefix(rest, "map:"); ok {
		a, b, ok := strings.Cut(r, "-")
		if !ok || !isHex(a) || !isHex(b) {
			return src, fmt.Errorf("--copy %q: want PID:map:START-END with the hex addresses 'ext4relink live' prints", src.Input)
		}
		src.Map = r
		return src, nil
	}
	if !decimal(rest) {
		return src, fmt.Errorf("--copy %q: the descriptor %q is not a decimal number", src.Input, rest)
	}
	src.FD, _ = strconv.Atoi(rest)
	return src, nil
}

// decimal: digits only, no leading zero (but "0" itself), fits an int32.
func decimal(s string) bool {
	if s == "" || len(s) > 9 || (len(s) > 1 && s[0] == '0') {
		return false
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

func isHex(s string) bool {
	if s == "" || len(s) > 16 {
		return false
	}
	_, err := strconv.ParseUint(s, 16, 64)
	return err == nil
}
