package engine

import (
	"fmt"
	"strings"
	"testing"

	"github.com/ext4relink/ext4relink/fixtures"
	"github.com/ext4relink/ext4relink/internal/testfs"
)

// TestInlineDirectoryConversion fills a real inline directory (the kernel
// made it, ext4-inline's "tinyfull") until it has to become a block
// directory, one relink at a time, and requires e2fsck -fn to stay clean
// and the kernel to read every file back.
func TestInlineDirectoryConversion(t *testing.T) {
	img := fixtures.Get(t, "ext4-inline")
	p := img.Copy(t)
	want := map[string]string{}
	converted := false
	for _, o := range relinkable(img) {
		path := fmt.Sprintf("tinyfull/a-long-name-so-that-the-inline-space-runs-out-%d", o.Inode)
		plan, err := relinkImage(t, p, Request{Inode: uint32(o.Inode), Name: "/" + path})
		if err != nil {
			t.Fatalf("relink %d: %v", o.Inode, err)
		}
		if strings.Contains(plan.Relinks[0].DirChange, "moved to a new block") {
			converted = true
		}
		want[path] = o.SHA256
	}
	t.Logf("%d relinked into tinyfull, converted %v", len(want), converted)
	if !converted {
		t.Fatal("the inline directory never had to be converted")
	}
	testfs.E2fsckClean(t, p)
	st := testfs.Stat(t, p, img.Dirs["tinyfull"])
	if strings.Contains(st, "Size of inline data") {
		t.Fatalf("tinyfull is still inline:\n%s", st)
	}
	checkContents(t, p, want)
	rwSession(t, p, want)
}
