package journal_test

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/ext4relink/ext4relink/internal/loopmnt"
	"github.com/ext4relink/ext4relink/internal/testfs"

	"github.com/ext4relink/ext4relink/fixtures"
	"github.com/ext4relink/ext4relink/journal"
)

// kernelCrashImage formats an image, mounts it with opts, writes and
// syncs some files and copies the backing file while still mounted: a
// genuine crash image whose journal the running kernel wrote.
func kernelCrashImage(t *testing.T, opts string, mkfs ...string) string {
	t.Helper()
	base := mkfsImage(t, mkfs...)
	m := loopmnt.Must(t, base, opts)
	defer m.Unmount()
	dir := m.Dir
	for i := range 40 {
		d := filepath.Join(dir, fmt.Sprintf("d%d", i%4))
		os.MkdirAll(d, 0o755)
		b := make([]byte, 1000*i+17)
		for k := range b {
			b[k] = byte(i + k)
		}
		if err := os.WriteFile(filepath.Join(d, fmt.Sprintf("f%d", i)), b, 0o644); err != nil {
			t.Fatal(err)
		}
		if i%7 == 0 {
			testfs.Syncfs(t, dir)
		}
	}
	os.Remove(filepath.Join(dir, "d1", "f5"))
	testfs.Syncfs(t, dir)
	crash := filepath.Join(t.TempDir(), "crash.img")
	if err := fixtures.CopySparse(base, crash); err != nil {
		t.Fatal(err)
	}
	if err := m.Unmount(); err != nil {
		t.Fatal(err)
	}
	return crash
}

// TestKernelChecksumV1 checks the checksum v1 (COMPAT_CHECKSUM) reader
// against logs the kernel wrote: ext4 without metadata_csum mounted with
// journal_checksum (synchronous commits) and with journal_async_commit.
// Every transaction must carry a valid crc32_be, and the replay must match
// debugfs jr.
func TestKernelChecksumV1(t *testing.T) {
	for _, c := range []struct{ name, opts string }{
		{"journal_checksum", "journal_checksum"},
		{"journal_async_commit", "journal_async_commit,data=writeback"},
	} {
		t.Run(c.name, func(t *testing.T) {
			p := kernelCrashImage(t, c.opts, "-t", "ext4", "-O", "^metadata_csum", "-b", "1024")
			im := openImage(t, p)
			if !needsRecovery(im) {
				t.Fatal("the copy does not need recovery")
			}
			j := im.load(t)
			if !j.Format.CsumV1() {
				t.Fatalf("journal features %+v: no checksum v1", j.Format)
			}
			if c.opts != "journal_checksum" && !j.Format.AsyncCommit() {
				t.Fatalf("journal features %+v: no async commit", j.Format)
			}
			ov, err := j.Recover()
			if err != nil {
				t.Fatal(err)
			}
			txs := ov.Log.Replayed()
			if len(txs) == 0 {
				t.Fatal("nothing to replay")
			}
			data := 0
			for _, tx := range txs {
				if tx.Checksum != journal.CsumValid {
					t.Errorf("transaction %d: v1 checksum %v", tx.Sequence, tx.Checksum)
				}
				data += tx.DataBlocks
			}
			if st := j.Stats(); st.Reads < uint64(data) {
				t.Errorf("the v1 scan read %d blocks for %d data blocks", st.Reads, data)
			}
			t.Logf("%d transactions, %d data blocks, stop: %v", len(txs), data, ov.Log.Stop.Reason)
			compareWithJR(t, im, j, ov, replayedByDebugfs(t, p, im, j), jrExpect{})
		})
	}
}
