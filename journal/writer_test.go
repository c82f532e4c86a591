package journal_test

import (
	"bytes"
	"encoding/binary"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ext4relink/ext4relink/internal/loopmnt"

	"github.com/ext4relink/ext4relink/fixtures"
	"github.com/ext4relink/ext4relink/internal/testfs"
	"github.com/ext4relink/ext4relink/journal"
	"github.com/ext4relink/ext4relink/super"
)

// mkfsImage formats a fresh 64 MiB image in a temporary directory.
func mkfsImage(t *testing.T, args ...string) string {
	t.Helper()
	if os.Getenv(fixtures.SkipEnv) == "1" {
		t.Skipf("%s=1: real-filesystem test skipped on request", fixtures.SkipEnv)
	}
	p := filepath.Join(t.TempDir(), "fs.img")
	if err := os.WriteFile(p, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(p, 64<<20); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("mke2fs", append(append([]string{"-q", "-F"}, args...), p)...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("mke2fs %v: %v\n%s", args, err, out)
	}
	return p
}

// cleanFixture returns a copy of a fixture with an empty journal, made
// fsck-clean by e2fsck -fy (freeze images carry orphans on their list).
func cleanFixture(t *testing.T, name string) string {
	t.Helper()
	p := fixtures.Get(t, name).Copy(t)
	exec.Command("e2fsck", "-fy", p).Run()
	testfs.E2fsckClean(t, p)
	return p
}

// freeBlocks asks debugfs for n free blocks.
func freeBlocks(t *testing.T, p string, n int) []uint64 {
	t.Helper()
	out := testfs.Debugfs(t, p, "ffb "+strconv.Itoa(n)+" 2000")
	var bs []uint64
	for _, f := range strings.Fields(strings.TrimPrefix(strings.TrimSpace(out), "Free blocks found:")) {
		v, err := strconv.ParseUint(f, 10, 64)
		if err != nil {
			t.Fatalf("ffb: %q", out)
		}
		bs = append(bs, v)
	}
	if len(bs) != n {
		t.Fatalf("ffb found %d of %d free blocks", len(bs), n)
	}
	return bs
}

// setNeedsRecovery sets INCOMPAT_RECOVER in the primary superblock.
func setNeedsRecovery(t *testing.T, p string) {
	t.Helper()
	sb := testfs.Superblock(t, p)
	sb.FeatureIncompat |= super.IncompatRecover
	sb.SetChecksum()
	writeAt(t, p, super.Offset, sb.Encode())
}

// kernelReplay mounts the image (the kernel replays the journal) and
// unmounts it.
func kernelReplay(t *testing.T, p string) {
	t.Helper()
	if err := loopmnt.Must(t, p, "rw").Unmount(); err != nil {
		t.Fatal(err)
	}
}

type writerCase struct {
	name    string
	image   func(t *testing.T) string
	compat  uint32 // journal features to add
	incomp  uint32
	extra   int  // extra blocks, to need several descriptors
	wrap    bool // start the transaction near the end of the log so that it wraps
	kernel  bool // also let the kernel replay it
	jcsumV2 bool
}

// TestWriter logs a transaction with EncodeTransaction and SuperblockBytes
// into images with an empty journal, sets needs_recovery, and checks it
// with debugfs logdump, with Recover, and by replaying it with debugfs jr,
// e2fsck -fy and the kernel, followed by e2fsck -fn.
func TestWriter(t *testing.T) {
	cases := []writerCase{
		{name: "ext4-4k-freeze (csum v3, 64bit, 4k)", image: func(t *testing.T) string { return cleanFixture(t, "ext4-4k-freeze") }, kernel: true},
		{name: "ext4-32bit (csum v3, 32bit, 1k) wrapping, 3 descriptors", image: func(t *testing.T) string { return cleanFixture(t, "ext4-32bit") }, extra: 150, wrap: true, kernel: true},
		{name: "ext4-fulldir-1k (no csum, 64bit, 1k)", image: func(t *testing.T) string { return cleanFixture(t, "ext4-fulldir-1k") }, extra: 90, kernel: true},
		{name: "mkfs ext3 4k (no features)", image: func(t *testing.T) string { return mkfsImage(t, "-t", "ext3") }, kernel: true},
		{name: "mkfs ext3 1k, csum v2, wrapping", image: func(t *testing.T) string { return mkfsImage(t, "-t", "ext3", "-b", "1024") },
			incomp: journal.IncompatCsumV2, jcsumV2: true, extra: 120, wrap: true, kernel: true},
		{name: "mkfs ext3 1k, csum v1 (COMPAT_CHECKSUM)", image: func(t *testing.T) string { return mkfsImage(t, "-t", "ext3", "-b", "1024") },
			compat: journal.CompatChecksum, extra: 200, kernel: true},
		{name: "mkfs ext3 4k, csum v1 + async commit, wrapping", image: func(t *testing.T) string { return mkfsImage(t, "-t", "ext3") },
			compat: journal.CompatChecksum, incomp: journal.IncompatAsyncCommit, wrap: true, kernel: true},
		{name: "mkfs ext4 ^metadata_csum,^64bit (8-byte tags)", image: func(t *testing.T) string { return mkfsImage(t, "-t", "ext4", "-O", "^metadata_csum,^64bit") }, extra: 10, kernel: true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { runWriterCase(t, c) })
	}
}

func runWriterCase(t *testing.T, c writerCase) {
	base := c.image(t)
	im := openImage(t, base)
	j := im.load(t)
	if c.compat != 0 || c.incomp != 0 {
		sb := *j.SB
		sb.FeatureCompat |= c.compat
		sb.FeatureIncompat |= c.incomp
		if c.jcsumV2 {
			sb.ChecksumType = journal.ChecksumCRC32C
		}
		sb.SetChecksum()
		writeAt(t, base, int64(j.SuperblockFSBlock())*int64(im.sb.BlockSize()), sb.Encode())
		im = openImage(t, base)
		j = im.load(t)
	}
	l, err := j.Scan()
	if err != nil || !l.Empty {
		t.Fatalf("journal not empty: %v %+v", err, l.Stop)
	}
	bs := int(im.sb.BlockSize())
	rng := rand.New(rand.NewPCG(uint64(bs), uint64(c.extra)))
	random := func() []byte {
		b := make([]byte, bs)
		for i := range b {
			b[i] = byte(rng.Uint32())
		}
		return b
	}
	free := freeBlocks(t, base, 2+c.extra)
	var blocks []journal.LoggedBlock
	for _, fb := range free {
		blocks = append(blocks, journal.LoggedBlock{FSBlock: fb, Data: random()})
	}
	// A block that starts with the jbd2 magic must be escaped.
	binary.BigEndian.PutUint32(blocks[1].Data, journal.Magic)
	// An existing block with one unused byte changed: the boot area of block 0.
	boot := im.block(t, 0)
	boot[700] ^= 0x5A
	blocks = append(blocks, journal.LoggedBlock{FSBlock: 0, Data: boot})

	seq := l.NextSequence()
	start := j.First
	if c.wrap {
		start = j.Last - 3
	}
	when := time.Unix(1700000000, 123456789)
	writes, err := j.EncodeTransaction(seq, blocks, start, when)
	if err != nil {
		t.Fatal(err)
	}
	if c.wrap && writes[len(writes)-1].JBlock >= start {
		t.Fatalf("transaction at %d did not wrap", start)
	}
	if n := j.TransactionLen(len(blocks)); n != uint64(len(writes)) || writes[len(writes)-1].JBlock != j.Advance(start, n-1) {
		t.Fatalf("TransactionLen %d, Advance to %d; the transaction takes %d blocks, ending at %d", n, j.Advance(start, n-1), len(writes), writes[len(writes)-1].JBlock)
	}
	var wantLog []string
	escaped := 0
	for _, w := range writes {
		if h, _ := journal.DecodeHeader(w.Data); h.Valid() && h.Sequence == seq {
			wantLog = append(wantLog, "Found expected sequence "+strconv.Itoa(int(seq))+", type "+
				strconv.Itoa(int(h.BlockType))+" ("+journal.BlockTypeName(h.BlockType)+") at block "+strconv.FormatUint(w.JBlock, 10))
		}
		if binary.BigEndian.Uint32(w.Data) == 0 && bytes.Equal(w.Data[4:], blocks[1].Data[4:]) {
			escaped++
		}
		writeAt(t, base, int64(im.jmap[w.JBlock])*int64(bs), w.Data)
	}
	if escaped != 1 {
		t.Fatalf("%d escaped copies of the magic block, want 1", escaped)
	}
	sbb, err := j.SuperblockBytes(start, seq)
	if err != nil {
		t.Fatal(err)
	}
	writeAt(t, base, int64(j.SuperblockFSBlock())*int64(bs), sbb)
	setNeedsRecovery(t, base)

	// debugfs logdump sees the transaction.
	if got := logdumpSummary(t, base); strings.Join(got, "\n") != strings.Join(wantLog, "\n") {
		t.Errorf("logdump:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(wantLog, "\n"))
	}
	if len(wantLog) < 2 {
		t.Fatalf("only %d metadata blocks", len(wantLog))
	}

	// Recover reads it back.
	im2 := openImage(t, base)
	j2 := im2.load(t)
	ov, err := j2.Recover()
	if err != nil {
		t.Fatal(err)
	}
	scanStats := j2.Stats()
	if r := ov.Log.Replayed(); len(r) != 1 || r[0].Sequence != seq || !r[0].CommitTime.Equal(when) {
		t.Fatalf("replayed transactions: %+v", r)
	}
	tx := ov.Log.Replayed()[0]
	wantCsum := journal.CsumNone
	if j2.Format.CsumV2or3() || j2.Format.CsumV1() {
		wantCsum = journal.CsumValid
	}
	if tx.Checksum != wantCsum || tx.DataBlocks != len(blocks) {
		t.Fatalf("transaction checksum %v (want %v), %d data blocks (want %d)", tx.Checksum, wantCsum, tx.DataBlocks, len(blocks))
	}
	metaReads := uint64(len(wantLog)) + 2 // superblock, metadata, the block that ends the log
	if j2.Format.CsumV1() {
		metaReads += uint64(len(blocks)) // calc_chksums reads the data blocks during the scan
	}
	if scanStats.Reads != metaReads {
		t.Errorf("Recover read %d blocks, want %d", scanStats.Reads, metaReads)
	}
	var want []uint64
	for _, b := range blocks {
		want = append(want, b.FSBlock)
	}
	slices.Sort(want)
	if !slices.Equal(ov.Blocks(), want) {
		t.Fatalf("overlay blocks %v, want %v", ov.Blocks(), want)
	}
	for _, b := range blocks {
		d, ok, err := ov.ReadBlock(b.FSBlock)
		if err != nil || !ok || !bytes.Equal(d, b.Data) {
			t.Fatalf("ReadBlock(%d): ok=%v err=%v equal=%v", b.FSBlock, ok, err, bytes.Equal(d, b.Data))
		}
	}
	if err := ov.Verify(); err != nil {
		t.Fatal(err)
	}

	// The real tools replay it to the expected bytes and leave a clean fs.
	check := func(tool, p string) {
		t.Helper()
		for _, b := range blocks {
			got := testfs.Block(t, p, im.sb, b.FSBlock)
			w := b.Data
			if b.FSBlock == 0 && bs > 1024 {
				// Block 0 holds the superblock, which the tool rewrites.
				got, w = append(got[:1024:1024], got[2048:]...), append(w[:1024:1024], w[2048:]...)
			}
			if !bytes.Equal(got, w) {
				t.Errorf("%s: block %d not replayed", tool, b.FSBlock)
			}
		}
		if testfs.Superblock(t, p).HasIncompat(super.IncompatRecover) {
			t.Errorf("%s: needs_recovery still set", tool)
		}
		testfs.E2fsckClean(t, p)
	}
	a := copyImage(t, base)
	if out := jr(t, a); strings.Contains(out, "error") {
		t.Fatalf("debugfs jr: %s", out)
	}
	check("debugfs jr", a)
	b := copyImage(t, base)
	if out, err := exec.Command("e2fsck", "-fy", b).CombinedOutput(); err != nil {
		if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() > 1 {
			t.Fatalf("e2fsck -fy: %v\n%s", err, out)
		}
	}
	check("e2fsck -fy", b)
	if c.kernel {
		k := copyImage(t, base)
		kernelReplay(t, k)
		check("kernel", k)
	}
}
