package testfs

import (
	"errors"
	"os/exec"
	"testing"
)

// E2fsckFix runs `e2fsck -fy img` (replaying the journal first when it
// needs recovery, as e2fsck's journal recovery does) and returns its
// output and exit code (it fails the test only when e2fsck cannot be run
// at all).
func E2fsckFix(t testing.TB, img string) (string, int) {
	t.Helper()
	out, err := exec.Command("e2fsck", "-fy", img).CombinedOutput()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return string(out), 0
	case errors.As(err, &ee):
		return string(out), ee.ExitCode()
	}
	t.Fatalf("e2fsck -fy %s: %v", img, err)
	return "", 0
}
