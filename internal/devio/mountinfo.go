package devio

import (
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// MountEntry is one line of /proc/PID/mountinfo (proc(5)): "ID parent
// major:minor root mountpoint options [optional...] - fstype source
// superoptions". The one parser of that format: device checks and `live`
// both read mounts through it.
type MountEntry struct {
	Dev        uint64 // st_dev of files on this mount
	Root       string // the directory of the filesystem mounted here ("/" unless a bind mount of a subtree)
	MountPoint string
	ReadOnly   bool // the mount is read-only (per-mount options)
	// SuperReadOnly says the superblock is read-only (superoptions): no
	// mount of the filesystem can write, whatever its own options say.
	SuperReadOnly bool
	FSType        string
	Source        string // e.g. /dev/sda2
}

// ParseMountinfo parses a whole mountinfo file; lines that do not parse
// are left out.
func ParseMountinfo(data []byte) []MountEntry {
	var out []MountEntry
	for rest := string(data); rest != ""; {
		var line string
		line, rest, _ = strings.Cut(rest, "\n")
		if m, ok := ParseMountinfoLine(line); ok {
			out = append(out, m)
		}
	}
	return out
}

// ParseMountinfoLine parses one line of mountinfo.
func ParseMountinfoLine(line string) (MountEntry, bool) {
	f := strings.Fields(line)
	sep := -1
	for i := 6; i < len(f); i++ {
		if f[i] == "-" {
			sep = i
			break
		}
	}
	if sep < 0 || len(f) < sep+3 {
		return MountEntry{}, false
	}
	maj, min, ok := strings.Cut(f[2], ":")
	if !ok {
		return MountEntry{}, false
	}
	ma, err1 := strconv.ParseUint(maj, 10, 32)
	mi, err2 := strconv.ParseUint(min, 10, 32)
	if err1 != nil || err2 != nil {
		return MountEntry{}, false
	}
	m := MountEntry{Dev: unix.Mkdev(uint32(ma), uint32(mi)), Root: unescape(f[3]), MountPoint: unescape(f[4]),
		ReadOnly: hasOption(f[5], "ro"), FSType: f[sep+1], Source: unescape(f[sep+2])}
	if len(f) > sep+3 {
		m.SuperReadOnly = hasOption(f[sep+3], "ro")
	}
	return m, true
}

func hasOption(opts, want string) bool {
	for _, o := range strings.Split(opts, ",") {
		if o == want {
			return true
		}
	}
	return false
}

// unescape decodes the octal escapes (\040 for a space) mountinfo uses.
func unescape(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if v, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(v))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
