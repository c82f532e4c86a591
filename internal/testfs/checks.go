package testfs

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// SHA256 is the hex sha256 of b.
func SHA256(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// FileSHA256 is the hex sha256 of the file at path.
func FileSHA256(t testing.TB, path string) string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// E2fsck runs `e2fsck -fn [extra...] img` and returns its output and exit
// code (it fails the test only when e2fsck cannot be run at all).
func E2fsck(t testing.TB, img string, extra ...string) (string, int) {
	t.Helper()
	out, err := exec.Command("e2fsck", append(append([]string{"-fn"}, extra...), img)...).CombinedOutput()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return string(out), 0
	case errors.As(err, &ee):
		return string(out), ee.ExitCode()
	}
	t.Fatalf("e2fsck -fn %s: %v", img, err)
	return "", 0
}

// E2fsckClean fails the test unless `e2fsck -fn [extra...] img` exits 0.
func E2fsckClean(t testing.TB, img string, extra ...string) {
	t.Helper()
	if out, code := E2fsck(t, img, extra...); code != 0 {
		t.Fatalf("e2fsck -fn %s: exit %d\n%s", img, code, out)
	}
}

// E2fsckSilent fails the test unless `e2fsck -fn img` exits 0 and prints
// nothing but its version, its passes and the summary: no optimisation
// offer either ("extent tree could be shorter"), which exit 0 allows.
func E2fsckSilent(t testing.TB, img string) {
	t.Helper()
	out, code := E2fsck(t, img)
	if code != 0 {
		t.Fatalf("e2fsck -fn %s: exit %d\n%s", img, code, out)
	}
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		if !strings.HasPrefix(l, "e2fsck ") && !strings.HasPrefix(l, "Pass ") && !strings.HasPrefix(l, img+": ") {
			t.Fatalf("e2fsck -fn %s has something to say:\n%s", img, out)
		}
	}
}
