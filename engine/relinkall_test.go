package engine

import (
	"fmt"
	"testing"

	"github.com/ext4relink/ext4relink/fixtures"
	"github.com/ext4relink/ext4relink/internal/testfs"
)

// TestRelinkAllLeak: --all on the orphans one process leaked (bench-leak-N:
// N small files created, held open, unlinked). Every one is relinked into
// /lost+found, e2fsck -fn is clean and the kernel reads every file back
// with its sha256. At 3,000, /lost+found (four linear blocks from mke2fs,
// room for about a thousand such names) has to grow: the entries go into
// blocks the plan allocated and mapped itself.
func TestRelinkAllLeak(t *testing.T) {
	for _, n := range []int{300, 3000} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			img := fixtures.Get(t, fmt.Sprintf("bench-leak-%d", n))
			p, plan, want := relinkAllFiles(t, img)
			if len(want) != n {
				t.Fatalf("relinked %d files, want %d", len(want), n)
			}
			if grew := len(plan.Allocated) > 0; grew != (n > 1000) {
				t.Fatalf("/lost+found allocated %d block(s) for %d names", len(plan.Allocated), n)
			}
			testfs.E2fsckClean(t, p)
			checkContents(t, p, want)
		})
	}
}
