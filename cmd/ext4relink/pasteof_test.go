package main

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/ext4relink/ext4relink/fixtures"
	"github.com/ext4relink/ext4relink/internal/testfs"
)

// TestPastEOFOutput: list names a file caught mid-write as past-eof with
// its block count; the relink's text says how many blocks (and bytes) past
// the old size were freed or kept, and its JSON carries past_eof.
func TestPastEOFOutput(t *testing.T) {
	img := fixtures.Get(t, "ext4-4k-freeze")
	o, ok := img.Orphan("data/big.vmdk")
	if !ok {
		t.Fatal("no data/big.vmdk orphan in the fixture")
	}
	const size = 1<<20 + 5 // 257 blocks; the file had 769
	cut := func() string {
		p := testfs.Replayed(t, img)
		testfs.Debugfs(t, p, fmt.Sprintf("sif <%d> size %d", o.Inode, size), true)
		return p
	}
	p := cut()
	code, out, errs := runCLI("list", "--dev", p)
	if code != exitOK || !strings.Contains(out, "past-eof (512 written blocks past the size)") {
		t.Fatalf("list: exit %d\n%s%s", code, out, errs)
	}
	ino := fmt.Sprint(o.Inode)
	code, out, errs = runCLI("--dev", p, "--inode", ino, "--name", "/big.vmdk", "--dry-run")
	if code != exitOK || !strings.Contains(out, "512 block(s) (2097152 bytes) written past the old size 1048581 would be freed") ||
		!strings.Contains(out, "use --keep-past-eof to keep them") {
		t.Fatalf("dry run: exit %d\n%s%s", code, out, errs)
	}
	for _, c := range []struct {
		args   []string
		action string
		bytes  float64
	}{
		{nil, "trimmed", 512 * 4096},
		{[]string{"--keep-past-eof"}, "kept", float64(769*4096 - size)},
	} {
		q := cut()
		code, out, errs = runCLI(append([]string{"--dev", q, "--inode", ino, "--name", "/big.vmdk", "--json"}, c.args...)...)
		if code != exitOK {
			t.Fatalf("%v: exit %d\n%s%s", c.args, code, out, errs)
		}
		var rep struct {
			Relinked []struct {
				PastEOF map[string]any `json:"past_eof"`
			} `json:"relinked"`
			Verified bool `json:"verified"`
		}
		if err := json.Unmarshal([]byte(out), &rep); err != nil {
			t.Fatalf("%v: %v\n%s", c.args, err, out)
		}
		if len(rep.Relinked) != 1 || !rep.Verified {
			t.Fatalf("%v: %s", c.args, out)
		}
		pe := rep.Relinked[0].PastEOF
		if pe["action"] != c.action || pe["blocks"] != float64(512) || pe["bytes"] != c.bytes {
			t.Fatalf("%v: past_eof %v, want %s 512 blocks, %v bytes", c.args, pe, c.action, c.bytes)
		}
	}
}
