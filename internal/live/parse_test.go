package live

import (
	"os"
	"testing"

	"golang.org/x/sys/unix"
)

func readTestdata(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestParseMaps(t *testing.T) {
	got := ParseMaps(readTestdata(t, "maps.txt"))
	var deleted []MapEntry
	for _, e := range got {
		if e.Deleted {
			deleted = append(deleted, e)
		}
	}
	// The two mappings of live-sample.db, the file with spaces, memfd,
	// /dev/zero and SYSV (left to Internal); the bad-dev line is dropped.
	if len(deleted) != 6 {
		t.Fatalf("%d deleted mappings, want 6: %+v", len(deleted), deleted)
	}
	db := deleted[0]
	if db.Path != "/tmp/live-sample.db" || db.Inode != 9978431 || db.Dev != unix.Mkdev(0xfe, 0) ||
		db.Start != 0x7f28b0bc1000 || db.End != 0x7f28b0bc6000 || db.Perms != "rw-s" || db.Range() != "7f28b0bc1000-7f28b0bc6000" {
		t.Errorf("first deleted mapping %+v", db)
	}
	if deleted[1].Offset != 0x2000 {
		t.Errorf("offset %x, want 2000", deleted[1].Offset)
	}
	sp := deleted[2]
	if sp.Path != "/mnt/with space/big file.img" || sp.Dev != unix.Mkdev(7, 12) || sp.Inode != 12 {
		t.Errorf("path with spaces: %+v", sp)
	}
	var internal int
	for _, e := range deleted {
		if Internal(e.Path) {
			internal++
		}
	}
	if internal != 3 {
		t.Errorf("%d internal (memfd, /dev/zero, SYSV), want 3", internal)
	}
	for _, e := range got {
		if e.Inode == 0 || e.Path == "" || e.Path[0] == '[' {
			t.Errorf("entry without a file kept: %+v", e)
		}
	}
}

func TestParseMountinfo(t *testing.T) {
	got := ParseMountinfo(readTestdata(t, "mountinfo.txt"))
	if len(got) != 9 {
		t.Fatalf("%d mounts, want 9 (broken lines dropped): %+v", len(got), got)
	}
	sp := got[6]
	if sp.MountPoint != "/mnt/with space" || sp.Dev != unix.Mkdev(7, 12) || sp.FSType != "ext4" || sp.Source != "/dev/loop12" || sp.Root != "/" {
		t.Errorf("escaped mount point: %+v", sp)
	}
	if got[5].FSType != "cgroup" || got[5].MountPoint != "/sys/fs/cgroup/cpu" {
		t.Errorf("optional fields before '-': %+v", got[5])
	}
	if !got[8].ReadOnly || got[6].ReadOnly {
		t.Errorf("read-only flags: %+v %+v", got[8], got[6])
	}
	// A bind mount of the subtree /srv/db: the path inside the filesystem.
	m, ok := MountFor(got, unix.Mkdev(7, 12), "/srv/db/orders.db")
	if !ok || m.MountPoint != "/srv/db" {
		t.Fatalf("MountFor picked %+v", m)
	}
	if p := FSPath(m, "/srv/db/orders.db"); p != "/srv/db/orders.db" {
		t.Errorf("FSPath %q", p)
	}
	m, _ = MountFor(got, unix.Mkdev(7, 12), "/mnt/with space/a/b")
	if p := FSPath(m, "/mnt/with space/a/b"); p != "/a/b" {
		t.Errorf("FSPath %q, want /a/b", p)
	}
	root, _ := MountFor(got, unix.Mkdev(254, 0), "/var/log/x")
	if p := FSPath(root, "/var/log/x"); p != "/var/log/x" {
		t.Errorf("FSPath on / %q", p)
	}
	if FSPath(sp, "/elsewhere") != "" {
		t.Error("a path outside the mount got a path inside it")
	}
}

func TestParseSmall(t *testing.T) {
	if n := UeventDevName(readTestdata(t, "uevent.txt")); n != "loop12" {
		t.Errorf("DEVNAME %q", n)
	}
	st, ok := ParseStat(readTestdata(t, "stat.txt"))
	if !ok || st.Comm != "my (odd) cmd" || !st.Stopped() {
		t.Errorf("stat %+v %v", st, ok)
	}
	for _, bad := range []string{"", "12 (x", "12 (x)", "x) ("} {
		if _, ok := ParseStat([]byte(bad)); ok {
			t.Errorf("ParseStat(%q) ok", bad)
		}
	}
	for in, want := range map[string][2]any{
		"/a/b (deleted)":         {"/a/b", true},
		"/a/b":                   {"/a/b", false},
		"/a (deleted) (deleted)": {"/a (deleted)", true},
	} {
		p, d := TrimDeleted(in)
		if p != want[0] || d != want[1] {
			t.Errorf("TrimDeleted(%q) = %q %v", in, p, d)
		}
	}
	if q := ShellQuote("/srv/it's here"); q != `'/srv/it'\''s here'` {
		t.Errorf("ShellQuote %s", q)
	}
	if q := ShellQuote("/dev/loop3"); q != "/dev/loop3" {
		t.Errorf("ShellQuote %s", q)
	}
}

func TestParseSource(t *testing.T) {
	for in, want := range map[string]string{
		"1234:7":           "1234:7",
		"1234:0":           "1234:0",
		"99:map:7f00-7f10": "99:map:7f00-7f10",
		"loop:loop3":       "loop:loop3",
		"/dev/loop12":      "loop:loop12",
	} {
		s, err := ParseSource(in)
		if err != nil || s.String() != want {
			t.Errorf("ParseSource(%q) = %v, %v; want %s", in, s, err, want)
		}
	}
	for _, bad := range []string{"", "1234", "1234:", ":7", "0x10:3", "012:3", "12:03", "-1:3", "12:-3", "12:map:", "12:map:zz-1", "loop:sda", "/dev/sda", "1:2:3", "99999999999:1"} {
		if _, err := ParseSource(bad); err == nil {
			t.Errorf("ParseSource(%q) accepted", bad)
		}
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte("7f28b0bc1000-7f28b0bc6000 rw-s 00000000 fe:00 9978431 /tmp/x (deleted)"))
	f.Add([]byte("26 1 254:0 / / rw,relatime - ext4 /dev/vda rw"))
	f.Fuzz(func(t *testing.T, b []byte) {
		ParseMaps(b)
		ParseMountinfo(b)
		ParseStat(b)
		UeventDevName(b)
		ParseSource(string(b))
	})
}
