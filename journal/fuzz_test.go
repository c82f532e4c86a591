package journal

import (
	"bytes"
	"encoding/binary"
	"flag"
	"io"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/ext4relink/ext4relink/fixtures"
	"github.com/ext4relink/ext4relink/internal/testfs"
	"github.com/ext4relink/ext4relink/super"
)

// Fuzz targets, seeded from the fixtures when they are built (the seeds in
// testdata/fuzz are used regardless). Run each with
//
//	go test -run='^$' -fuzz=FuzzX -fuzztime=20s ./journal/

// TestMain lowers the fuzzer's minimisation budget (60 s by default per
// new input) unless -test.fuzzminimizetime is given: the log inputs of
// FuzzRecover are tens of kilobytes, and minimising each new one for a
// minute would leave a 20-second fuzzing run with almost no executions.
func TestMain(m *testing.M) {
	flag.Parse()
	set := false
	flag.Visit(func(f *flag.Flag) { set = set || f.Name == "test.fuzzminimizetime" })
	if !set {
		flag.Set("test.fuzzminimizetime", "2s")
	}
	os.Exit(m.Run())
}

// fixtureJournal returns journal blocks 0..n-1 of a built fixture, or nil.
func fixtureJournal(tb testing.TB, name string, n int) [][]byte {
	img, err := fixtures.Load(fixtures.CacheDir(), name)
	if err != nil {
		return nil
	}
	sb := testfs.Superblock(tb, img.Path)
	phys := journalMap(tb, img.Path)
	var out [][]byte
	for k := 0; k < n && k < len(phys); k++ {
		out = append(out, testfs.Block(tb, img.Path, sb, phys[k]))
	}
	return out
}

// journalMap maps the journal inode (8) of an image with debugfs stat:
// journal block k lives in filesystem block phys[k] (up to the first hole).
func journalMap(tb testing.TB, path string) (phys []uint64) {
	runs, ok := testfs.StatRuns(testfs.Stat(tb, path, 8))
	if !ok {
		return nil
	}
	for _, r := range runs {
		if r.Logical != uint64(len(phys)) {
			break
		}
		for k := range r.Len {
			phys = append(phys, r.Physical+k)
		}
	}
	return phys
}

// seedBlocks returns fixture journal blocks of the given type.
func seedBlocks(tb testing.TB, typ uint32) [][]byte {
	var out [][]byte
	for _, n := range []string{"ext4-1k-journal", "ext4-bigalloc", "ext3-1k-journal"} {
		for _, b := range fixtureJournal(tb, n, 100) {
			if h, _ := DecodeHeader(b); h.Valid() && h.BlockType == typ {
				out = append(out, b)
			}
		}
	}
	return out
}

// formats the byte-oriented fuzzers pick from.
var fuzzFormats = []uint32{0, Incompat64Bit, IncompatCsumV2, IncompatCsumV2 | Incompat64Bit,
	IncompatCsumV3, IncompatCsumV3 | Incompat64Bit, IncompatRevoke | IncompatAsyncCommit}

func fuzzFormat(sel uint8, size int) Format {
	return Format{BlockSize: size, Incompat: fuzzFormats[int(sel)%len(fuzzFormats)], Compat: uint32(sel>>7) & CompatChecksum}
}

func FuzzSuperblock(f *testing.F) {
	for _, n := range []string{"ext4-4k-journal", "ext4-fastcommit", "ext3-1k-journal", "ext4-32bit"} {
		if js := fixtureJournal(f, n, 1); len(js) == 1 {
			f.Add(js[0][:SuperblockSize], uint32(len(js[0])), uint64(1<<20))
		}
	}
	f.Add(make([]byte, SuperblockSize), uint32(1024), uint64(1024))
	f.Fuzz(func(t *testing.T, b []byte, bs uint32, total uint64) {
		sb, err := DecodeSuperblock(b)
		if err != nil {
			return
		}
		if !bytes.Equal(sb.Encode(), b[:SuperblockSize]) {
			t.Fatal("round trip")
		}
		if sb.Validate(bs, total) == nil {
			fm := sb.Format()
			if fm.TagBytes() < 8 || fm.TagBytes() > 16 || sb.First == 0 || sb.First >= sb.MaxLen {
				t.Fatal("validated nonsense")
			}
			sb.SetChecksum()
			if !sb.VerifyChecksum() {
				t.Fatal("SetChecksum does not verify")
			}
		}
	})
}

func FuzzDescriptor(f *testing.F) {
	for _, b := range seedBlocks(f, BlockDescriptor) {
		f.Add(b, uint8(5))
		f.Add(b, uint8(0))
	}
	f.Add(make([]byte, 1024), uint8(1))
	f.Fuzz(func(t *testing.T, b []byte, sel uint8) {
		fm := fuzzFormat(sel, len(b))
		d, err := DecodeDescriptor(b, fm)
		if err != nil {
			return
		}
		if !bytes.Equal(d.Encode(), b) {
			t.Fatal("round trip")
		}
		if !reflect.DeepEqual(d.Tags, refTags(b, fm)) {
			t.Fatal("tags differ from the reference walk")
		}
		// The scan's in-place reading agrees with the decoder.
		if descriptorChecksumOK(b, fm, 7) != d.VerifyChecksum(7) {
			t.Fatal("descriptorChecksumOK differs from VerifyChecksum")
		}
		for _, tg := range d.Tags {
			if tg.Off < HeaderSize || tg.Off+fm.TagBytes() > len(b)-fm.tailSize() {
				t.Fatalf("tag at %d outside the block", tg.Off)
			}
			if home, flags, csum := decodeTag(b, tg.Off, fm); home != tg.Block(fm) || flags != tg.FlagBits() || csum != tg.Checksum {
				t.Fatalf("decodeTag at %d: %d %#x %#x; Tag %+v", tg.Off, home, flags, csum, tg)
			}
			tg.VerifyData(fm, 1, 2, b)
		}
		d.SetChecksum(7)
		if !d.VerifyChecksum(7) {
			t.Fatal("SetChecksum does not verify")
		}
	})
}

func FuzzRevoke(f *testing.F) {
	for _, b := range seedBlocks(f, BlockRevoke) {
		f.Add(b, uint8(5))
	}
	r, _ := NewRevoke(fuzzFormat(1, 1024), 3, []uint64{1, 2, 3})
	f.Add(r.Encode(), uint8(1))
	f.Fuzz(func(t *testing.T, b []byte, sel uint8) {
		fm := fuzzFormat(sel, len(b))
		r, err := DecodeRevoke(b, fm)
		if err != nil {
			return
		}
		if !bytes.Equal(r.Encode(), b) {
			t.Fatal("round trip")
		}
		if len(r.Records) > 0 && len(r.Records)*fm.revokeRecordSize()+RevokeHeaderSize > int(r.Count) {
			t.Fatal("records beyond r_count")
		}
		r.SetChecksum(9)
		if !r.VerifyChecksum(9) {
			t.Fatal("SetChecksum does not verify")
		}
	})
}

func FuzzCommit(f *testing.F) {
	for _, b := range seedBlocks(f, BlockCommit) {
		f.Add(b, uint8(5), uint32(0))
	}
	f.Add(make([]byte, 64), uint8(0), uint32(0))
	f.Fuzz(func(t *testing.T, b []byte, sel uint8, sum uint32) {
		fm := fuzzFormat(sel, len(b))
		c, err := DecodeCommit(b, fm)
		if err != nil {
			return
		}
		if !bytes.Equal(c.Encode(), b) {
			t.Fatal("round trip")
		}
		c.VerifyV1(sum)
		_ = c.Time()
		c.SetChecksum(11)
		if !c.VerifyChecksum(11) {
			t.Fatal("SetChecksum does not verify")
		}
	})
}

// FuzzFastCommit drives the kernel's fast-commit scan over up to four
// blocks cut from the input.
func FuzzFastCommit(f *testing.F) {
	if js := fixtureJournal(f, "ext4-fastcommit", 2000); len(js) > 0 {
		sb, err := DecodeSuperblock(js[0])
		if err == nil && sb.Format().FastCommit() {
			first := int(sb.MaxLen - sb.FastCommitBlocks() + 1)
			if first+2 <= len(js) {
				f.Add(append(append([]byte(nil), js[first]...), js[first+1]...), uint16(len(js[0])), uint32(5))
			}
		}
	}
	f.Add(make([]byte, 1024), uint16(1024), uint32(0))
	f.Fuzz(func(t *testing.T, b []byte, bs uint16, tid uint32) {
		size := int(bs)%4096 + 16
		s := &fcScanner{expected: tid, inodeSize: 256}
		for off := 0; off*size < len(b) && off < 4; off++ {
			blk := b[off*size : min(len(b), (off+1)*size)]
			ParseFastCommitBlock(blk, uint64(off))
			ret, err := s.block(blk, off, uint64(off))
			if err != nil || ret == fcReplayStop {
				break
			}
		}
		if s.numTags > len(s.tags) {
			t.Fatalf("%d valid tags of %d", s.numTags, len(s.tags))
		}
		a := &FastCommitArea{Tags: s.tags, Valid: s.numTags}
		for _, tg := range a.Replay() {
			_ = tg.String()
		}
		_ = a.Pending()
	})
}

// memDev is a sparse in-memory device.
type memDev struct {
	bs     int
	blocks map[uint64][]byte
}

func (m *memDev) ReadAt(p []byte, off int64) (int, error) {
	n := 0
	for n < len(p) {
		blk, in := uint64(off+int64(n))/uint64(m.bs), int(off+int64(n))%m.bs
		k := min(len(p)-n, m.bs-in)
		if b, ok := m.blocks[blk]; ok {
			copy(p[n:n+k], b[in:])
		} else {
			clear(p[n : n+k])
		}
		n += k
	}
	return n, nil
}

// FuzzRecover builds a small journal (1 KiB blocks, the minimal 1024-block
// log, optionally a 16-block fast-commit area) whose superblock comes from
// a fixture, puts the fuzzed log blocks at a fuzzed start and the fuzzed
// fast-commit blocks in the area, and runs the whole recovery and writer.
func FuzzRecover(f *testing.F) {
	var sbRaw []byte
	if js := fixtureJournal(f, "ext4-1k-journal", 1); len(js) == 1 {
		sbRaw = js[0]
	} else {
		s := &Superblock{Header: Header{Magic: Magic, BlockType: BlockSuperblockV2}, BlockSize: 1024,
			MaxLen: 1024, First: 1, Sequence: 1, FeatureIncompat: IncompatCsumV3, ChecksumType: ChecksumCRC32C}
		s.SetChecksum()
		sbRaw = append(s.Encode(), make([]byte, 0)...)
	}
	for _, n := range []string{"ext4-1k-journal", "ext3-1k-journal", "ext4-metabg"} {
		// Small seeds: the fuzzer minimises every new input, which is
		// slow for large ones.
		js := fixtureJournal(f, n, 10)
		if len(js) < 2 {
			continue
		}
		var log []byte
		for _, b := range js[1:] {
			log = append(log, b...)
		}
		f.Add(log, []byte(nil), uint16(1), uint8(0))
		f.Add(log, []byte(nil), uint16(1000), uint8(1))
	}
	f.Add(make([]byte, 2048), make([]byte, 1024), uint16(5), uint8(2))
	f.Fuzz(func(t *testing.T, log, fc []byte, start uint16, opts uint8) {
		const bs = 1024
		sb, err := DecodeSuperblock(sbRaw)
		if err != nil {
			t.Skip()
		}
		sb.MaxLen = 1024
		if opts&2 != 0 {
			sb.FeatureIncompat |= IncompatFastCommit
			sb.NumFCBlocks = 16
			sb.MaxLen += 16
		}
		if opts&4 != 0 {
			sb.FeatureIncompat |= IncompatAsyncCommit
		}
		if opts&8 != 0 {
			sb.FeatureIncompat &^= IncompatCsumV3 | IncompatCsumV2
			sb.FeatureCompat |= CompatChecksum
		}
		if opts&16 != 0 {
			sb.FeatureIncompat ^= Incompat64Bit
		}
		sb.Start = uint32(start) % (sb.MaxLen + 8)
		if len(log) >= 12 {
			sb.Sequence = binary.BigEndian.Uint32(log[8:])
		}
		sb.SetChecksum()
		dev := &memDev{bs: bs, blocks: map[uint64][]byte{}}
		// journal block k lives at device block k+100
		put := func(jb uint64, b []byte) {
			blk := make([]byte, bs)
			copy(blk, b)
			dev.blocks[jb+100] = blk
		}
		put(0, sb.Encode())
		last := uint64(sb.MaxLen)
		if sb.Format().FastCommit() {
			last -= uint64(sb.FastCommitBlocks())
		}
		pos := uint64(sb.Start)
		for i := 0; i*bs < len(log) && i < 64; i++ {
			if pos >= uint64(sb.MaxLen) || pos == 0 {
				break
			}
			put(pos, log[i*bs:min(len(log), (i+1)*bs)])
			if pos++; pos >= last {
				pos = uint64(sb.First)
			}
		}
		for i := 0; i*bs < len(fc) && i < 16 && sb.Format().FastCommit(); i++ {
			put(last+1+uint64(i), fc[i*bs:min(len(fc), (i+1)*bs)])
		}
		bmap := func(jb uint64) (uint64, error) {
			if jb >= uint64(sb.MaxLen) {
				return 0, io.EOF
			}
			return jb + 100, nil
		}
		j, err := Load(dev, bs, bmap, uint64(sb.MaxLen))
		if err != nil {
			return
		}
		j.InodeSize = 256
		checkReference(t, j, true)
		ov, err := j.Recover()
		if err != nil {
			if _, ok := err.(*super.FormatError); !ok {
				if !strings.Contains(err.Error(), "journal block") {
					t.Fatalf("untyped error %T: %v", err, err)
				}
			}
			return
		}
		l := ov.Log
		if !l.Empty && int32(l.End-l.FirstSequence) < 0 {
			t.Fatalf("end %d before start %d", l.End, l.FirstSequence)
		}
		for _, b := range ov.Blocks() {
			for _, c := range ov.Copies(b) {
				if c.JBlock >= j.TotalLen || c.JBlock < j.First {
					t.Fatalf("copy at journal block %d", c.JBlock)
				}
			}
			if _, _, err := ov.ReadBlock(b); err != nil {
				t.Fatal(err)
			}
		}
		_ = ov.Verify()
		_ = ov.Pending()
		_ = ov.CheckRange(1 << 20)
		if _, err := j.SuperblockBytes(0, l.NextSequence()); err != nil {
			t.Fatal(err)
		}
		ws, err := j.EncodeTransaction(l.NextSequence(), []LoggedBlock{{FSBlock: 7, Data: make([]byte, bs)}}, j.Last-1, time.Unix(1, 0))
		if err != nil || len(ws) != 3 || ws[1].JBlock != j.First {
			t.Fatalf("EncodeTransaction: %v %v", ws, err)
		}
	})
}
