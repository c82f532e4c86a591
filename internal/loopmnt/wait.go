package loopmnt

import (
	"os/exec"
	"strings"
	"testing"
	"time"
)

// WaitDetached waits (up to 10 s) until no loop device is attached to
// img any more: `losetup -d` returns before the kernel lets go of the
// backing file, and a tool that refuses an attached image (ext4relink
// opening it for writing) would otherwise race the detach.
func WaitDetached(t testing.TB, img string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		out, err := exec.Command("losetup", "-j", img).Output()
		if err == nil && strings.TrimSpace(string(out)) == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s is still attached to a loop device after 10 s: %s", img, out)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
