package inode

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"testing"
	"time"

	"github.com/ext4relink/ext4relink/fixtures"
	"github.com/ext4relink/ext4relink/internal/layout"
	"github.com/ext4relink/ext4relink/internal/testfs"
	"github.com/ext4relink/ext4relink/super"
)

func TestLayoutTables(t *testing.T) {
	var in Inode
	if err := layout.Check(in.baseFields(), GoodOldSize); err != nil {
		t.Fatal(err)
	}
	if !layout.Covered(in.baseFields(), GoodOldSize) {
		t.Fatal("base table does not cover 128 bytes")
	}
	all := append(in.baseFields(), in.extraFields()...)
	if err := layout.Check(all, ExtraKnownEnd); err != nil {
		t.Fatal(err)
	}
	if !layout.Covered(all, ExtraKnownEnd) || ExtraKnownEnd != 160 {
		t.Fatal("base+extra tables do not cover 160 bytes")
	}
	var h ExtentHeader
	var e Extent
	var x ExtentIdx
	var xe XattrEntry
	for name, f := range map[string][]layout.Field{"header": h.fields(), "extent": e.fields(), "idx": x.fields()} {
		if err := layout.Check(f, 12); err != nil || !layout.Covered(f, 12) {
			t.Fatalf("%s: %v", name, err)
		}
	}
	if err := layout.Check(xe.fields(), XattrEntrySize); err != nil || !layout.Covered(xe.fields(), XattrEntrySize) {
		t.Fatalf("xattr entry: %v", err)
	}
}

// TestExtraFieldsFollowExtraIsize: fields past 128+i_extra_isize are not
// decoded, and Encode leaves those bytes alone.
func TestExtraFieldsFollowExtraIsize(t *testing.T) {
	for _, size := range []int{128, 160, 256, 512, 1024} {
		b := make([]byte, size)
		for k := range b {
			b[k] = byte(k*7 + 3)
		}
		if size > 128 {
			b[0x80], b[0x81] = 8, 0 // i_extra_isize 8: i_checksum_hi and i_ctime_extra only
		}
		in, err := Decode(b)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(in.Encode(), b) {
			t.Fatalf("size %d: round trip differs", size)
		}
		if size > 128 && (in.MtimeExtra != 0 || in.CtimeExtra == 0 || !in.HasChecksumHi()) {
			t.Fatalf("size %d: extra fields decoded wrongly: %+v", size, in)
		}
		if size == 128 && (in.ExtraIsize != 0 || in.HasChecksumHi()) {
			t.Fatal("128-byte inode has extra fields")
		}
		in.MtimeExtra = 0xdeadbeef // not present: must not be written
		if !bytes.Equal(in.Encode(), b) {
			t.Fatalf("size %d: absent field written", size)
		}
	}
	if _, err := Decode(make([]byte, 100)); !errors.Is(err, super.ErrCorrupt) {
		t.Fatalf("short inode: %v", err)
	}
}

func TestBlocksAndSize(t *testing.T) {
	in, _ := Decode(make([]byte, 256))
	for _, n := range []uint64{0, 8, 1<<32 - 1, 1 << 32, 1<<48 - 1, 1 << 50} {
		if err := in.SetBlocks(n, true, 4096); err != nil {
			t.Fatal(err)
		}
		if got := in.BlocksCount(true, 4096); got != n {
			t.Fatalf("blocks %d read back as %d (flags %#x)", n, got, in.Flags)
		}
	}
	if err := in.SetBlocks(1<<32, false, 4096); !errors.Is(err, super.ErrUnsupported) {
		t.Fatalf("no huge_file: %v", err)
	}
	in.SetSize(1<<40 + 5)
	if in.Size() != 1<<40+5 || in.SizeHigh != 1<<8 {
		t.Fatal("size")
	}
}

func TestTimes(t *testing.T) {
	in, _ := Decode(make([]byte, 256))
	in.ExtraIsize = 32
	for _, ts := range []time.Time{time.Unix(0, 0), time.Unix(1<<31+5, 999999999), time.Unix(-5, 7), time.Unix(1<<33+17, 12345)} {
		in.SetMtime(ts)
		in.SetCtime(ts)
		in.SetAtime(ts)
		for _, got := range []time.Time{in.ModTime(), in.ChangeTime(), in.AccessTime()} {
			if !got.Equal(ts) {
				t.Fatalf("%v read back as %v", ts, got)
			}
		}
	}
	small, _ := Decode(make([]byte, 128))
	small.SetMtime(time.Unix(100, 5))
	if !small.ModTime().Equal(time.Unix(100, 0)) {
		t.Fatal("128-byte inode kept nanoseconds")
	}
}

func TestFileType(t *testing.T) {
	in := &Inode{}
	for mode, ft := range map[uint16]uint8{ModeReg: FtRegFile, ModeDir: FtDir, ModeChr: FtChrdev, ModeBlk: FtBlkdev,
		ModeFifo: FtFifo, ModeSock: FtSock, ModeLnk: FtSymlink, 0: FtUnknown, 0xE000: FtUnknown} {
		in.Mode = mode | 0o644
		if in.FileType() != ft {
			t.Fatalf("mode %#o: file type %d, want %d", in.Mode, in.FileType(), ft)
		}
		if ft != FtUnknown && ModeOfFileType(ft) != mode {
			t.Fatalf("file type %d: mode %#o, want %#o", ft, ModeOfFileType(ft), mode)
		}
	}
	for _, ft := range []uint8{FtUnknown, 8, 255} {
		if m := ModeOfFileType(ft); m != 0 {
			t.Errorf("file type %d: mode %#o, want 0", ft, m)
		}
	}
}

// TestFixtures runs every codec against every fixture: decode/encode round
// trips of real inodes and tree blocks, checksums, Validate, the block map
// against debugfs, and the content against the manifest's sha256.
func TestFixtures(t *testing.T) {
	for _, name := range fixtures.Names() {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			x := load(t, name)
			for _, ino := range x.interesting() {
				checkInode(t, x, ino)
			}
			checkOrphanContent(t, x)
			checkDirContent(t, x)
		})
	}
}

func checkInode(t *testing.T, x *fx, ino uint64) {
	in, raw := x.inode(t, ino)
	if !bytes.Equal(in.Encode(), raw) {
		t.Fatalf("inode %d: encode(decode) differs", ino)
	}
	if len(raw) == 128 && in.HasChecksumHi() {
		t.Fatalf("inode %d: 128-byte inode claims i_checksum_hi", ino)
	}
	if err := in.Validate(x.fs, uint32(ino)); err != nil {
		t.Fatalf("inode %d: %v", ino, err)
	}
	checkChecksum(t, x, in, raw, ino)
	checkMap(t, x, in, ino)
}

func checkChecksum(t *testing.T, x *fx, in *Inode, raw []byte, ino uint64) {
	if !in.VerifyChecksum(x.sb, uint32(ino)) {
		t.Fatalf("inode %d: checksum does not verify", ino)
	}
	if !x.sb.HasMetadataCsum() {
		return
	}
	if st := testfs.StatField(t, testfs.Stat(t, x.path, ino), "Inode checksum"); uint32(st) != in.StoredChecksum() {
		t.Fatalf("inode %d: checksum %#x, debugfs says %#x", ino, in.StoredChecksum(), st)
	}
	for _, off := range []int{0x08, 0x30, len(raw) - 1} {
		bad := append([]byte(nil), raw...)
		bad[off] ^= 0x40
		b, _ := Decode(bad)
		if b.VerifyChecksum(x.sb, uint32(ino)) {
			t.Fatalf("inode %d: checksum still verifies with byte %#x flipped", ino, off)
		}
		if err := b.Validate(x.fs, uint32(ino)); !errors.Is(err, super.ErrChecksum) {
			t.Fatalf("inode %d: Validate with byte %#x flipped: %v", ino, off, err)
		}
	}
	in2, _ := Decode(raw)
	in2.ChecksumLo, in2.ChecksumHi = 0, 0
	in2.SetChecksum(x.sb, uint32(ino))
	if !bytes.Equal(in2.Encode(), raw) {
		t.Fatalf("inode %d: SetChecksum does not reproduce the stored checksum", ino)
	}
}

func checkMap(t *testing.T, x *fx, in *Inode, ino uint64) {
	m, err := MapInode(in, x.fs, uint32(ino), x.read)
	if err != nil {
		t.Fatalf("inode %d: map: %v", ino, err)
	}
	if m.Format == FormatFastSymlink {
		// debugfs `blocks` reads a fast symlink's target as block numbers.
		if len(m.Runs) != 0 || len(m.Meta) != 0 {
			t.Fatalf("inode %d: fast symlink with a block map", ino)
		}
		return
	}
	meta := debugfsMeta(t, x.path, ino)
	if got, want := sortedCopy(m.Meta), sortedCopy(meta); !equalU64(got, want) {
		t.Fatalf("inode %d: metadata blocks %v, debugfs %v", ino, got, want)
	}
	// `debugfs blocks` interleaves the index/indirect blocks with the data.
	want := without(testfs.Blocks(t, x.path, ino), meta)
	if got := m.DataBlocks(); !equalU64(got, want) {
		t.Fatalf("inode %d (%s): %d blocks, debugfs %d; first difference at %d", ino, m.Format, len(got), len(want), firstDiff(got, want))
	}
	for _, b := range m.Meta {
		raw, _ := x.read(b)
		switch m.Format {
		case FormatExtents:
			n, err := DecodeExtentNode(raw)
			if err != nil || !bytes.Equal(n.Encode(), raw) {
				t.Fatalf("inode %d: tree block %d does not round trip (%v)", ino, b, err)
			}
			if !n.VerifyChecksum(x.fs.MetadataCsum, in.Seed(x.fs.CsumSeed, uint32(ino))) {
				t.Fatalf("inode %d: tree block %d checksum", ino, b)
			}
		case FormatIndirect:
			if !bytes.Equal(EncodeIndirectBlock(DecodeIndirectBlock(raw)), raw) {
				t.Fatalf("inode %d: indirect block %d does not round trip", ino, b)
			}
		}
	}
	for _, r := range m.Runs {
		if p, _, ok := m.Map(r.Logical + r.Len - 1); !ok || p != r.Physical+uint64(r.Len)-1 {
			t.Fatalf("inode %d: Map(%d) = %d %v", ino, r.Logical+r.Len-1, p, ok)
		}
	}
}

func sum(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

func checkOrphanContent(t *testing.T, x *fx) {
	for _, o := range x.img.Orphans {
		in, _ := x.inode(t, o.Inode)
		var got []byte
		var err error
		switch o.Kind {
		case "file":
			got, err = Content(in, x.fs, uint32(o.Inode), x.read)
		case "symlink":
			got, err = Symlink(in, x.fs, uint32(o.Inode), x.read)
		default:
			continue
		}
		if err != nil {
			t.Fatalf("%s (inode %d): %v", o.Path, o.Inode, err)
		}
		if m, err := MapInode(in, x.fs, uint32(o.Inode), x.read); err == nil {
			t.Logf("%s: inode %d %s, %d runs, %d meta blocks, depth %d", o.Path, o.Inode, m.Format, len(m.Runs), len(m.Meta), m.Depth)
		}
		if sum(got) != o.SHA256 || int64(len(got)) != o.Size {
			t.Fatalf("%s (inode %d, %s): %d bytes, sha256 %s; want %d bytes, %s", o.Path, o.Inode,
				Format(in, x.fs), len(got), sum(got), o.Size, o.SHA256)
		}
	}
}

// checkDirContent compares directory content with what debugfs dumps.
func checkDirContent(t *testing.T, x *fx) {
	for path, ino := range x.img.Dirs {
		in, _ := x.inode(t, ino)
		got, err := Content(in, x.fs, uint32(ino), x.read)
		if err != nil {
			t.Fatalf("directory %s (inode %d): %v", path, ino, err)
		}
		if want := testfs.Cat(t, x.path, ino); !bytes.Equal(got, want) {
			t.Fatalf("directory %s (inode %d, %s): %d bytes, debugfs dumps %d", path, ino, Format(in, x.fs), len(got), len(want))
		}
	}
}

func TestSmallHelpers(t *testing.T) {
	in, _ := Decode(make([]byte, 256))
	in.UIDLo, in.UIDHigh, in.GIDLo, in.GIDHigh = 1, 2, 3, 4
	if in.UID() != 2<<16|1 || in.GID() != 4<<16|3 {
		t.Fatal("uid/gid")
	}
	if _, ok := in.BirthTime(); ok {
		t.Fatal("i_crtime without i_extra_isize")
	}
	in.ExtraIsize, in.Crtime, in.CrtimeExtra = 32, 100, 5<<2
	if bt, ok := in.BirthTime(); !ok || !bt.Equal(time.Unix(100, 5)) {
		t.Fatalf("birth time %v", bt)
	}
	if IndirectLimit(1024) != 12+256+256*256+256*256*256 || IndirectLimit(65536) != 1<<32 {
		t.Fatal("indirect limit")
	}
	in.Flags = ExtentsFl | IndexFl
	if !in.HasFlag(ExtentsFl|IndexFl) || in.HasFlag(InlineDataFl) {
		t.Fatal("HasFlag")
	}
}

// TestEmptyExtentRoot: the root ext4_ext_tree_init writes maps nothing and
// takes appends.
func TestEmptyExtentRoot(t *testing.T) {
	p := MapParams{BlockSize: 4096, FirstDataBlock: 0, BlocksCount: 1000}
	root := NewExtentRoot()
	m, err := MapExtents(root[:], p, nil)
	if err != nil || len(m.Runs) != 0 {
		t.Fatalf("empty root: %v %v", m, err)
	}
	g, err := AppendExtent(root[:], 0, 500, p, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	g, err = AppendExtent(g.IBlock[:], 1, 501, p, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	m, _ = MapExtents(g.IBlock[:], p, nil)
	if len(m.Runs) != 1 || m.Runs[0] != (Run{Logical: 0, Len: 2, Physical: 500}) {
		t.Fatalf("runs %+v", m.Runs)
	}
}

// TestSetInlineDataSameSize rewrites tinyfull's value in place.
func TestSetInlineDataSameSize(t *testing.T) {
	x := load(t, "ext4-inline")
	ino := uint32(x.img.Dirs["tinyfull"])
	in, raw := x.inode(t, uint64(ino))
	data, err := InlineData(in, ino)
	if err != nil {
		t.Fatal(err)
	}
	data[len(data)-1] ^= 0xFF
	if err := SetInlineData(in, ino, data); err != nil {
		t.Fatal(err)
	}
	got, _ := InlineData(in, ino)
	out := in.Encode()
	if !bytes.Equal(got, data) || !bytes.Equal(out[:len(out)-1], raw[:len(raw)-1]) {
		t.Fatal("same-size value was not rewritten in place")
	}
}
