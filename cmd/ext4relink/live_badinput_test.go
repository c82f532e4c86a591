package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/ext4relink/ext4relink/internal/testfs"
)

// TestLiveBadInput: every refusal is a clear message with its documented
// exit code, as text and as --json, and the held file is never touched.
func TestLiveBadInput(t *testing.T) {
	a, b := newExt4(t, 64), newExt4(t, 64)
	p := filepath.Join(a.Dir, "held")
	sum, _, _ := writeSparse(t, p, 4<<20, region{0, 4 << 20})
	h := startHolder(t, "hold", p)
	before := statOf(t, h.src())
	alive, err := os.Create(filepath.Join(a.Dir, "alive"))
	if err != nil {
		t.Fatal(err)
	}
	defer alive.Close()
	existing := filepath.Join(b.Dir, "existing")
	os.WriteFile(existing, []byte("keep me"), 0o600)
	out := filepath.Join(b.Dir, "out")
	pid := fmt.Sprint(h.pid)
	for _, c := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"--copy", "999999999:3", "--out", out}, exitRequest, "there is no process 999999999"},
		{[]string{"--copy", pid + ":77", "--out", out}, exitRequest, "has no descriptor 77"},
		{[]string{"--copy", pid + ":map:1000-2000", "--out", out}, exitRequest, "has no mapping 1000-2000"},
		{[]string{"--copy", pid + ":0", "--out", out}, exitRequest, "not a regular file"},
		{[]string{"--copy", fmt.Sprintf("%d:%d", os.Getpid(), alive.Fd()), "--out", out}, exitRequest, "which is not deleted"},
		{[]string{"--copy", "loop:loop999999", "--out", out}, exitRequest, "no loop device /dev/loop999999"},
		{[]string{"--copy", h.copyArg(), "--out", existing}, exitRequest, "exists; choose another --out, or give --force"},
		{[]string{"--copy", h.copyArg(), "--out", b.Dir}, exitRequest, "is a directory"},
		{[]string{"--copy", h.copyArg(), "--out", "/dev/null", "--force"}, exitRequest, "not a regular file"},
		{[]string{"--copy", h.copyArg(), "--out", filepath.Join(b.Dir, "no", "such", "dir")}, exitOutput, "the output directory"},
		{[]string{"--copy", h.copyArg(), "--out", filepath.Join(a.Dir, "same")}, exitRequest, "fail with ENOSPC"},
		{[]string{"--copy", h.copyArg()}, exitUsage, "--out is required"},
		{[]string{"--all"}, exitUsage, "--out is required"},
		{[]string{"--copy", "x:3", "--out", out}, exitUsage, "want PID:FD"},
		{[]string{"--copy", pid + ":03", "--out", out}, exitUsage, "not a decimal number"},
		{[]string{"--copy", h.copyArg(), "--all", "--out", out}, exitUsage, "not both"},
		{[]string{"--freeze"}, exitUsage, "go with --copy"},
		{[]string{"--pid", "0x10"}, exitUsage, "want process IDs"},
		{[]string{"--pid", pid, "--copy", h.copyArg(), "--out", out}, exitUsage, "names its process already"},
		{[]string{"--out", out}, exitUsage, "go with --copy"},
		{[]string{"--dev", "/dev/null"}, exitUsage, "unknown flag"},
		{[]string{"--copy", h.copyArg(), "--copy", h.copyArg(), "--out", out}, exitUsage, "more than once"},
	} {
		args := append([]string{"live"}, c.args...)
		code, stdout, stderr := runCLI(args...)
		if code != c.code || !strings.Contains(stderr, c.want) || stdout != "" {
			t.Errorf("%v: exit %d, want %d with %q; stdout %q stderr %q", c.args, code, c.code, c.want, stdout, stderr)
		}
		code, stdout, _ = runCLI(append(args, "--json")...)
		var r errorReport
		if err := json.Unmarshal([]byte(stdout), &r); err != nil || code != c.code || r.ExitCode != c.code || !strings.Contains(r.Error, c.want) {
			t.Errorf("%v --json: exit %d, %+v (%v) from %q", c.args, code, r, err, stdout)
		}
	}
	if got, _ := os.ReadFile(existing); string(got) != "keep me" {
		t.Errorf("the existing output was changed: %q", got)
	}
	for _, p := range []string{out, filepath.Join(a.Dir, "same")} {
		if _, err := os.Lstat(p); err == nil {
			t.Errorf("%s was written by a refused copy", p)
		}
	}
	noTemps(t, a.Dir)
	noTemps(t, b.Dir)
	sourceUntouched(t, h, before, sum)

	// --force replaces the existing output.
	c := liveCopyJSON(t, exitOK, "--copy", h.copyArg(), "--out", existing, "--force")
	if c.SHA256 != sum || testfs.FileSHA256(t, existing) != sum {
		t.Errorf("--force: sha256 %s, want %s", c.SHA256, sum)
	}
}

// TestLiveSameFSWithRoom: on the holder's own filesystem the copy is made
// when there is room for it plus the margin, and says so.
func TestLiveSameFSWithRoom(t *testing.T) {
	a := newExt4(t, 256)
	p := filepath.Join(a.Dir, "held")
	sum, _, _ := writeSparse(t, p, 1<<20, region{0, 1 << 20})
	h := startHolder(t, "hold", p)
	c := liveCopyJSON(t, exitOK, "--copy", h.copyArg(), "--out", filepath.Join(a.Dir, "rescued"))
	if !c.SameFS || c.SHA256 != sum {
		t.Errorf("same filesystem with room: %+v", c)
	}
}

// TestLivePermission: without root, live says so (exit 3) and copies
// nothing. The test binary runs the command as nobody.
func TestLivePermission(t *testing.T) {
	a := newExt4(t, 16)
	p := filepath.Join(a.Dir, "held")
	writeSparse(t, p, 4096, region{0, 4096})
	h := startHolder(t, "hold", p)
	dir := t.TempDir()
	os.Chmod(filepath.Dir(dir), 0o755)
	os.Chmod(dir, 0o777)
	bin := filepath.Join(dir, "ext4relink.test")
	copyFile(t, os.Args[0], bin)
	asNobody := func(args ...string) (int, string, string) {
		cmd := exec.Command(bin, "-test.run=^TestLiveHelperProcess$")
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), helperEnv+"=cli", "EXT4RELINK_LIVE_ARGS="+strings.Join(args, "\n"))
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
		var so, se strings.Builder
		cmd.Stdout, cmd.Stderr = &so, &se
		err := cmd.Run()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		return code, so.String(), se.String()
	}
	out := filepath.Join(dir, "out")
	code, so, se := asNobody("live", "--copy", h.copyArg(), "--out", out)
	if code != exitDevice || !strings.Contains(se, "permission denied") || !strings.Contains(se, "as root") {
		t.Errorf("copy as nobody: exit %d\n%s%s", code, so, se)
	}
	code, so, _ = asNobody("live", "--copy", h.copyArg(), "--out", out, "--json")
	if code != exitDevice || !strings.Contains(so, `"exit_code": 3`) {
		t.Errorf("copy as nobody --json: exit %d\n%s", code, so)
	}
	if _, err := os.Lstat(out); err == nil {
		t.Error("an output was written")
	}
	code, so, se = asNobody("live")
	if code != exitDevice || !strings.Contains(se, "run ext4relink as root") {
		t.Errorf("live as nobody: exit %d\n%s%s", code, so, se)
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	in, err := os.Open(from)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.OpenFile(to, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestLiveValueFlags: live's value flags are in valueFlags, so that
// "ext4relink --copy 1:2 live" finds the command word.
func TestLiveValueFlags(t *testing.T) {
	a := &app{stdout: io.Discard, stderr: io.Discard}
	a.live([]string{"--help"})
	for _, fl := range a.flagSets {
		for _, name := range []string{"copy", "out", "pid"} {
			if fl.Lookup(name) == nil || !valueFlags[name] {
				t.Errorf("--%s: not a live flag, or not in valueFlags", name)
			}
		}
	}
	if cmd, _ := splitCommand([]string{"--out", "live", "live"}); cmd != "live" {
		t.Errorf("splitCommand took the value of --out for the command: %q", cmd)
	}
}
