package main

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ext4relink/ext4relink/fixtures"
	"github.com/ext4relink/ext4relink/internal/loopmnt"
	"github.com/ext4relink/ext4relink/internal/testfs"
)

// needTools fails the test (never skips silently) when a command the
// real-filesystem test needs is missing, unless EXT4RELINK_SKIP_REALFS=1.
func needTools(t *testing.T, cmds ...string) {
	t.Helper()
	if os.Getenv(fixtures.SkipEnv) == "1" {
		t.Skipf("%s=1: real-filesystem test skipped on request", fixtures.SkipEnv)
	}
	if os.Getuid() != 0 {
		t.Fatalf("needs root (loop devices, mount); set %s=1 to skip explicitly", fixtures.SkipEnv)
	}
	for _, c := range cmds {
		if _, err := exec.LookPath(c); err != nil {
			t.Fatalf("%s not found (sfdisk is in package fdisk; .ci/run installs it); set %s=1 to skip explicitly", c, fixtures.SkipEnv)
		}
	}
}

// partDisk is a genuine kernel-made crash image inside partition 2 of a
// partitioned raw disk: a file deleted while open, the whole disk copied
// while the filesystem was mounted and the file still open.
type partDisk struct {
	path        string
	label       string // "dos" or "gpt"
	start, size int64  // partition 2, bytes
	sum         string // sha256 of the deleted file
	fileSize    int64
}

// makePartDisk partitions a sparse 64 MiB disk with sfdisk (partition 1:
// 8 MiB, filled with a pattern so that changes to it show; partition 2:
// the rest, ext4), creates and deletes an open file on partition 2 and
// copies the whole disk while it is mounted.
func makePartDisk(t *testing.T, label string) *partDisk {
	t.Helper()
	dir := t.TempDir()
	live := filepath.Join(dir, "live.raw")
	mustRun(t, "truncate", "-s", "64M", live)
	script := "label: " + label + "\nstart=2048, size=16384, type=%s\nstart=18432, type=%s\n"
	if label == "gpt" {
		script = fmt.Sprintf(script, "C12A7328-F81F-11D2-BA4B-00A0C93EC3B8", "0FC63DAF-8483-4772-8E79-3D69D8477DE4")
	} else {
		script = fmt.Sprintf(script, "ef", "83")
	}
	cmd := exec.Command("sfdisk", "-q", live)
	cmd.Stdin = strings.NewReader(script)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("sfdisk: %v\n%s", err, out)
	}
	loop, parts := loopmnt.AttachPartitioned(t, live, false, 2)
	pattern := bytes.Repeat([]byte("partition one, not to be touched "), 8388608/33+1)[:8388608]
	if err := os.WriteFile(parts[1], pattern, 0); err != nil {
		t.Fatal(err)
	}
	mustRun(t, "mkfs.ext4", "-q", "-F", parts[2])
	m := loopmnt.MountDev(t, parts[2], "")
	data := make([]byte, 300000)
	rand.Read(data)
	fp := filepath.Join(m.Dir, "victim.db")
	if err := os.WriteFile(fp, data, 0o644); err != nil {
		t.Fatal(err)
	}
	held, err := os.Open(fp)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(fp); err != nil {
		t.Fatal(err)
	}
	testfs.Syncfs(t, m.Dir)
	for _, p := range parts {
		fsyncDev(t, p)
	}
	fsyncDev(t, loop)
	d := &partDisk{path: filepath.Join(t.TempDir(), "disk.raw"), label: label, start: 18432 * 512, fileSize: int64(len(data))}
	// Copy the whole disk while the filesystem is mounted, the file open.
	mustRun(t, "cp", "--sparse=always", live, d.path)
	held.Close()
	if err := m.Unmount(); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(d.path)
	if err != nil {
		t.Fatal(err)
	}
	// Partition 2 as sfdisk (an independent reader) sees it.
	var sf struct {
		PartitionTable struct {
			SectorSize int64 `json:"sectorsize"`
			Partitions []struct{ Start, Size int64 }
		}
	}
	if err := json.Unmarshal([]byte(mustRun(t, "sfdisk", "--json", d.path)), &sf); err != nil || len(sf.PartitionTable.Partitions) != 2 {
		t.Fatalf("sfdisk --json %s: %v %+v", d.path, err, sf)
	}
	p2, ss := sf.PartitionTable.Partitions[1], max(sf.PartitionTable.SectorSize, 512)
	if p2.Start*ss != d.start || (p2.Start+p2.Size)*ss > st.Size() {
		t.Fatalf("sfdisk says partition 2 is %+v", p2)
	}
	d.size = p2.Size * ss
	s := sha256.Sum256(data)
	d.sum = hex.EncodeToString(s[:])
	return d
}

// fsyncDev flushes a block device's own page cache (what the partition
// writes went through) down to the loop device's backing file.
func fsyncDev(t *testing.T, dev string) {
	t.Helper()
	f, err := os.OpenFile(dev, os.O_RDONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
}

func (d *partDisk) copy(t *testing.T) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "disk.raw")
	mustRun(t, "cp", "--sparse=always", d.path, p)
	return p
}

// outside is the sha256 of every byte of the disk outside partition 2.
func (d *partDisk) outside(t *testing.T, path string) string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, io.NewSectionReader(f, 0, d.start)); err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(h, io.NewSectionReader(f, d.start+d.size, 1<<40)); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// orphan lists the copy with extra options and returns the one orphan.
func (d *partDisk) orphan(t *testing.T, path string, opts ...string) int {
	t.Helper()
	code, out, errs := runCLI(append([]string{"list", "--dev", path, "--json"}, opts...)...)
	if code != exitOK {
		t.Fatalf("list %v: exit %d: %s", opts, code, errs)
	}
	var got []struct {
		Inode int   `json:"inode"`
		Size  int64 `json:"size"`
		State string
	}
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].Size != d.fileSize || got[0].State != "deleted-open" {
		t.Fatalf("list %v: %+v, want one deleted-open orphan of %d bytes", opts, got, d.fileSize)
	}
	return got[0].Inode
}

// checkRelinked runs e2fsck -fn on partition 2 of path and reads the file
// back through a kernel mount.
func (d *partDisk) checkRelinked(t *testing.T, path string) {
	t.Helper()
	_, parts := loopmnt.AttachPartitioned(t, path, false, 2)
	testfs.E2fsckClean(t, parts[2])
	m := loopmnt.MountDev(t, parts[2], "ro")
	if got := fileSum(t, filepath.Join(m.Dir, "back.db")); got != d.sum {
		t.Fatalf("back.db: sha256 %s, want %s", got, d.sum)
	}
	if err := m.Unmount(); err != nil {
		t.Fatal(err)
	}
}

func TestPartitionedDisk(t *testing.T) {
	needTools(t, "sfdisk", "losetup", "partx", "mkfs.ext4", "e2fsck", "e2undo", "mount", "cp", "truncate")
	for _, label := range []string{"dos", "gpt"} {
		t.Run(label, func(t *testing.T) {
			d := makePartDisk(t, label)
			kind := map[string]string{"dos": "an MBR", "gpt": "a GPT"}[label]

			// --dev on the whole image: a refusal naming the table and the partitions.
			code, _, errs := runCLI("list", "--dev", d.path)
			want := fmt.Sprintf("%s holds %s partition table, not a filesystem: 1: start 1048576, 8 MiB, ", d.path, kind)
			if code != exitDevice || !strings.Contains(errs, want) || !strings.Contains(errs, "; 2: start 9437184, ") ||
				!strings.Contains(errs, ", ext4 — use --partition 2") {
				t.Fatalf("list without --partition: exit %d\n%s", code, errs)
			}
			undoPath := filepath.Join(t.TempDir(), "never.e2undo")
			code, _, errs = runCLI("--dev", d.path, "--all", "--undo", undoPath)
			if _, err := os.Stat(undoPath); code != exitDevice || !strings.Contains(errs, "use --partition 2") || err == nil {
				t.Fatalf("--all --undo without --partition: exit %d (undo file left: %v)\n%s", code, err == nil, errs)
			}
			code, out, _ := runCLI("list", "--dev", d.path, "--json")
			if code != exitDevice {
				t.Fatalf("list --json without --partition: exit %d, want %d", code, exitDevice)
			}
			var jerr struct {
				ExitCode       int `json:"exit_code"`
				Structure      string
				PartitionTable struct {
					Table      string
					Partitions []struct{ Content string }
				} `json:"partition_table"`
			}
			if err := json.Unmarshal([]byte(out), &jerr); err != nil || jerr.ExitCode != exitDevice || jerr.Structure != "" ||
				len(jerr.PartitionTable.Partitions) != 2 || jerr.PartitionTable.Partitions[1].Content != "ext4" {
				t.Fatalf("list --json without --partition: %v %+v\n%s", err, jerr, out)
			}
			code, out, errs = runCLI("partitions", "--dev", d.path, "--json")
			var rep struct {
				Table      string
				Partitions []struct {
					Number  int
					Start   int64
					Size    int64
					Content string
				}
			}
			if code != exitOK || json.Unmarshal([]byte(out), &rep) != nil || len(rep.Partitions) != 2 ||
				rep.Partitions[1].Content != "ext4" || rep.Partitions[1].Start != d.start || rep.Partitions[1].Size != d.size {
				t.Fatalf("partitions: exit %d %+v\n%s%s", code, rep, out, errs)
			}

			// Bad values: exit 2, naming them.
			for _, c := range [][]string{{"--partition", "3"}, {"--partition", "0"}, {"--partition", "x"}, {"--offset", "1000"},
				{"--offset", "1099511627776"}, {"--partition", "2", "--offset", "9437184"}} {
				code, _, errs := runCLI(append([]string{"list", "--dev", d.path}, c...)...)
				if code != exitUsage || !strings.Contains(errs, c[len(c)-1]) && !strings.Contains(errs, "not both") {
					t.Errorf("list %v: exit %d: %s", c, code, errs)
				}
			}

			ino := d.orphan(t, d.path, "--partition", "2")
			if code, out, errs := runCLI("journal", "--dev", d.path, "--partition", "2"); code != exitOK || !strings.Contains(out, "journal inode 8") {
				t.Errorf("journal --partition 2: exit %d\n%s%s", code, out, errs)
			}
			code, out, errs = runCLI("--dev", d.path, "--partition", "2", "--all", "--dry-run", "--json")
			var plan struct {
				DryRun  bool `json:"dry_run"`
				Section struct {
					Start, Size int64
					Partition   int
				}
			}
			if code != exitOK || json.Unmarshal([]byte(out), &plan) != nil || !plan.DryRun ||
				plan.Section.Start != d.start || plan.Section.Size != d.size || plan.Section.Partition != 2 {
				t.Errorf("--all --dry-run --json: exit %d %+v\n%s%s", code, plan, out, errs)
			}
			if got := d.orphan(t, d.path, "--offset", strconv.FormatInt(d.start, 10)); got != ino {
				t.Fatalf("--offset finds inode %d, --partition %d", got, ino)
			}

			// Copy it out with --partition 2.
			xout := filepath.Join(t.TempDir(), "back.db")
			if code, out, errs := runCLI("extract", "--dev", d.path, "--partition", "2", "--inode", strconv.Itoa(ino), "--out", xout); code != exitOK || fileSum(t, xout) != d.sum {
				t.Errorf("extract --partition 2: exit %d\n%s%s", code, out, errs)
			}

			// Relink with --partition 2.
			img := d.copy(t)
			before := d.outside(t, img)
			code, out, errs = runCLI("--dev", img, "--partition", "2", "--inode", strconv.Itoa(ino), "--name", "/back.db")
			if code != exitOK {
				t.Fatalf("relink --partition 2: exit %d\n%s%s", code, out, errs)
			}
			if !strings.Contains(out, "losetup -r -f --show -o 9437184 --sizelimit") {
				t.Errorf("the e2fsck hint does not point at the partition:\n%s", out)
			}
			if d.outside(t, img) != before {
				t.Fatal("bytes outside partition 2 changed")
			}
			d.checkRelinked(t, img)

			// With --offset, and an undo file that plain e2undo applies at the offset.
			img = d.copy(t)
			whole := fileSum(t, img)
			undo := filepath.Join(t.TempDir(), "relink.e2undo")
			off := strconv.FormatInt(d.start, 10)
			code, out, errs = runCLI("--dev", img, "--offset", off, "--inode", strconv.Itoa(ino), "--name", "/back.db", "--undo", undo)
			if code != exitOK {
				t.Fatalf("relink --offset: exit %d\n%s%s", code, out, errs)
			}
			if d.outside(t, img) != before {
				t.Fatal("bytes outside partition 2 changed")
			}
			mustRun(t, "e2undo", undo, img)
			if fileSum(t, img) != whole {
				t.Fatal("e2undo did not restore the disk image")
			}
			if code, out, errs = runCLI("--dev", img, "--offset", off, "--inode", strconv.Itoa(ino), "--name", "/back.db"); code != exitOK {
				t.Fatalf("relink --offset after e2undo: exit %d\n%s%s", code, out, errs)
			}
			d.checkRelinked(t, img)

			// A block device without partition devices (losetup without
			// -P): --partition works on it, read-only here.
			plainLoop := loopmnt.Attach(t, d.path, true)
			if got := d.orphan(t, plainLoop, "--partition", "2"); got != ino {
				t.Fatalf("list --dev %s --partition 2: inode %d, want %d", plainLoop, got, ino)
			}

			// The whole disk as a block device with partition devices.
			img = d.copy(t)
			loop, parts := loopmnt.AttachPartitioned(t, img, true, 2)
			code, _, errs = runCLI("list", "--dev", loop)
			if code != exitDevice || !strings.Contains(errs, "1: "+parts[1]+", start 1048576") ||
				!strings.Contains(errs, "2: "+parts[2]+", start 9437184") || !strings.Contains(errs, "use --dev "+parts[2]) {
				t.Fatalf("list --dev %s: exit %d\n%s", loop, code, errs)
			}
			code, _, errs = runCLI("list", "--dev", loop, "--partition", "2")
			if code != exitUsage || !strings.Contains(errs, "use --dev "+parts[2]+" instead of --partition") {
				t.Fatalf("list --dev %s --partition 2: exit %d\n%s", loop, code, errs)
			}
			code, _, errs = runCLI("list", "--dev", loop, "--offset", off)
			if code != exitUsage || !strings.Contains(errs, "use --dev "+parts[2]+" instead of --offset") {
				t.Fatalf("list --dev %s --offset %s: exit %d\n%s", loop, off, code, errs)
			}
			if got := d.orphan(t, parts[2]); got != ino {
				t.Fatalf("list --dev %s: inode %d, want %d", parts[2], got, ino)
			}
			// The image is attached: writing inside it is refused.
			code, _, errs = runCLI("--dev", img, "--partition", "2", "--inode", strconv.Itoa(ino), "--name", "/back.db")
			if code != exitBusy || !strings.Contains(errs, loop) {
				t.Fatalf("relink while attached to %s: exit %d\n%s", loop, code, errs)
			}
		})
	}
}

// TestPartitionedDiskMounted: a partition of the image mounted through
// losetup -P is named as the mount, by partition device.
func TestPartitionedDiskMounted(t *testing.T) {
	needTools(t, "sfdisk", "losetup", "partx", "mkfs.ext4", "mount", "cp", "truncate")
	d := makePartDisk(t, "gpt")
	_, parts := loopmnt.AttachPartitioned(t, d.path, false, 2)
	m := loopmnt.MountDev(t, parts[2], "")
	code, _, errs := runCLI("--dev", d.path, "--partition", "2", "--all")
	if code != exitBusy || !strings.Contains(errs, "mounted read-write at "+m.Dir) || !strings.Contains(errs, parts[2]+", partition 2 of ") {
		t.Fatalf("exit %d\n%s", code, errs)
	}
	if err := m.Unmount(); err != nil {
		t.Fatal(err)
	}
	// The partition attached by offset (losetup -o) and mounted.
	off := strconv.FormatInt(d.start, 10)
	loop := strings.TrimSpace(mustRun(t, "losetup", "--find", "--show", "-o", off, "--sizelimit", strconv.FormatInt(d.size, 10), d.path))
	t.Cleanup(func() { exec.Command("losetup", "-d", loop).Run() })
	m = loopmnt.MountDev(t, loop, "ro")
	code, _, errs = runCLI("--dev", d.path, "--offset", off, "--all")
	if code != exitBusy || !strings.Contains(errs, "mounted read-only at "+m.Dir+" (through "+loop+", whose backing file is this image at offset "+off+")") {
		t.Fatalf("exit %d\n%s", code, errs)
	}
}

// TestPartitioned4KSectors: a GPT written for 4096-byte sectors (sfdisk on
// a loop device with --sector-size 4096) is found in the image file (where
// the 512-byte probe finds no header) and on the block device (BLKSSZGET).
func TestPartitioned4KSectors(t *testing.T) {
	needTools(t, "sfdisk", "losetup", "partx", "mkfs.ext4", "truncate")
	img := filepath.Join(t.TempDir(), "disk4k.raw")
	mustRun(t, "truncate", "-s", "64M", img)
	loop := strings.TrimSpace(mustRun(t, "losetup", "--find", "--show", "--sector-size", "4096", img))
	t.Cleanup(func() { exec.Command("losetup", "-d", loop).Run() })
	cmd := exec.Command("sfdisk", "-q", loop)
	cmd.Stdin = strings.NewReader("label: gpt\nstart=256, size=2048, type=C12A7328-F81F-11D2-BA4B-00A0C93EC3B8\nstart=2304, type=0FC63DAF-8483-4772-8E79-3D69D8477DE4\n")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("sfdisk %s: %v\n%s", loop, err, out)
	}
	if _, err := os.Stat(loop + "p2"); err != nil {
		mustRun(t, "partx", "-a", loop)
	}
	for i := 0; i < 100; i++ {
		if _, err := os.Stat(loop + "p2"); err == nil {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	mustRun(t, "mkfs.ext4", "-q", "-F", loop+"p2")
	fsyncDev(t, loop+"p2")

	code, out, errs := runCLI("partitions", "--dev", img)
	if code != exitOK || !strings.Contains(out, "GPT partition table, 4096-byte sectors") || !strings.Contains(out, "ext4   --dev "+img+" --partition 2") {
		t.Fatalf("partitions --dev %s: exit %d\n%s%s", img, code, out, errs)
	}
	code, out, errs = runCLI("list", "--dev", img, "--partition", "2")
	if code != exitOK || !strings.Contains(out, "partition 2 (GPT)") || !strings.Contains(out, "No orphans") {
		t.Fatalf("list --partition 2: exit %d\n%s%s", code, out, errs)
	}
	code, _, errs = runCLI("list", "--dev", img)
	if code != exitDevice || !strings.Contains(errs, "2: start 9437184, ") || !strings.Contains(errs, "use --partition 2") {
		t.Fatalf("list without --partition: exit %d\n%s", code, errs)
	}
	code, out, errs = runCLI("partitions", "--dev", loop)
	if code != exitOK || !strings.Contains(out, "4096-byte sectors") || !strings.Contains(out, "--dev "+loop+"p2") {
		t.Fatalf("partitions --dev %s: exit %d\n%s%s", loop, code, out, errs)
	}
}
