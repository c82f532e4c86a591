package journal_test

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/ext4relink/ext4relink/fixtures"
	"github.com/ext4relink/ext4relink/internal/testfs"
	"github.com/ext4relink/ext4relink/journal"
	"github.com/ext4relink/ext4relink/super"
)

// jblock reads journal block jb of an image through debugfs' block map.
func (im *image) jblock(t testing.TB, jb uint64) []byte {
	t.Helper()
	return im.block(t, im.jmap[jb])
}

func TestCrc32BEKnownVector(t *testing.T) {
	// CRC-32/BZIP2 (MSB-first 0x04C11DB7, init and xorout ~0) of "123456789".
	if got := ^journal.Crc32BE(^uint32(0), []byte("123456789")); got != 0xFC891918 {
		t.Fatalf("crc32_be=%#x", got)
	}
	b := []byte("journal checksum v1")
	if journal.Crc32BE(journal.Crc32BE(5, b[:7]), b[7:]) != journal.Crc32BE(5, b) {
		t.Fatal("crc32_be does not chain")
	}
}

// TestJournalSuperblocks decodes every fixture's journal superblock,
// checks it against debugfs' view, validates it and round-trips it.
func TestJournalSuperblocks(t *testing.T) {
	for _, n := range fixtures.Names() {
		t.Run(n, func(t *testing.T) {
			im := openImage(t, fixtures.Get(t, n).Path)
			raw := im.jblock(t, 0)
			sb, err := journal.DecodeSuperblock(raw)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(sb.Encode(), raw[:journal.SuperblockSize]) {
				t.Fatal("encode(decode(b)) != b")
			}
			if err := sb.Validate(im.sb.BlockSize(), im.nblocks); err != nil {
				t.Fatal(err)
			}
			out := testfs.Debugfs(t, im.path, "logdump")
			want := fmt.Sprintf("Journal starts at block %d, transaction %d", sb.Start, sb.Sequence)
			if !strings.Contains(out, want) {
				t.Errorf("debugfs logdump does not say %q:\n%s", want, out)
			}
			fm := sb.Format()
			if fm.CsumV2or3() {
				if !sb.VerifyChecksum() {
					t.Fatal("checksum does not verify")
				}
				raw[0x200] ^= 1 // in s_users: covered by nothing but the checksum
				bad, _ := journal.DecodeSuperblock(raw)
				if bad.VerifyChecksum() {
					t.Fatal("checksum verifies after a byte flip")
				}
				if err := bad.Validate(im.sb.BlockSize(), im.nblocks); !errors.Is(err, super.ErrChecksum) {
					t.Fatalf("Validate of a flipped superblock: %v", err)
				}
			}
		})
	}
}

// TestLogBlocksRoundTrip decodes every descriptor, revoke and commit block
// the scan finds in the fixtures, compares the walk with debugfs logdump
// (an independent reader) and round-trips each block.
func TestLogBlocksRoundTrip(t *testing.T) {
	fixtures.SkipIfAsked(t)
	kinds := map[uint32]int{}
	for _, n := range fixtures.Names() {
		t.Run(n, func(t *testing.T) {
			im := openImage(t, fixtures.Get(t, n).Path)
			j := im.load(t)
			l, err := j.Scan()
			if err != nil {
				t.Fatal(err)
			}
			var mine []string
			for _, m := range l.Metadata {
				mine = append(mine, fmt.Sprintf("Found expected sequence %d, type %d (%s) at block %d",
					m.Sequence, m.Type, journal.BlockTypeName(m.Type), m.JBlock))
			}
			if got := logdumpSummary(t, im.path); strings.Join(got, "\n") != strings.Join(mine, "\n") {
				t.Errorf("logdump:\n%s\nscan:\n%s", strings.Join(got, "\n"), strings.Join(mine, "\n"))
			}
			fm, seed := j.Format, j.Seed()
			for _, m := range l.Metadata {
				raw := im.jblock(t, m.JBlock)
				var enc []byte
				var ok bool
				switch m.Type {
				case journal.BlockDescriptor:
					d, err := journal.DecodeDescriptor(raw, fm)
					if err != nil {
						t.Fatal(err)
					}
					enc, ok = d.Encode(), d.VerifyChecksum(seed)
					last := d.Tags[len(d.Tags)-1]
					if last.FlagBits()&journal.FlagLastTag == 0 || d.Tags[0].FlagBits()&journal.FlagSameUUID != 0 {
						t.Errorf("block %d: tag flags %#x..%#x", m.JBlock, d.Tags[0].Flags, last.Flags)
					}
					if d.Tags[0].UUID != [16]byte{} {
						// jbd2 copies journal->j_uuid, never set for inode journals.
						t.Errorf("block %d: first tag UUID %x, want zero", m.JBlock, d.Tags[0].UUID)
					}
					d2 := *d
					d2.SetChecksum(seed)
					if d2.Checksum != d.Checksum {
						t.Errorf("block %d: SetChecksum %#x, on disk %#x", m.JBlock, d2.Checksum, d.Checksum)
					}
				case journal.BlockRevoke:
					r, err := journal.DecodeRevoke(raw, fm)
					if err != nil {
						t.Fatal(err)
					}
					enc, ok = r.Encode(), r.VerifyChecksum(seed)
					if len(r.Records) == 0 {
						t.Errorf("block %d: empty revoke block", m.JBlock)
					}
				case journal.BlockCommit:
					c, err := journal.DecodeCommit(raw, fm)
					if err != nil {
						t.Fatal(err)
					}
					enc, ok = c.Encode(), c.VerifyChecksum(seed)
					c2 := *c
					c2.SetChecksum(seed)
					if c2.Chksum[0] != c.Chksum[0] {
						t.Errorf("block %d: SetChecksum %#x, on disk %#x", m.JBlock, c2.Chksum[0], c.Chksum[0])
					}
				}
				kinds[m.Type]++
				if !ok {
					t.Errorf("block %d (%s): checksum does not verify", m.JBlock, journal.BlockTypeName(m.Type))
				}
				if !bytes.Equal(enc, raw) {
					t.Errorf("block %d (%s): encode(decode(b)) != b", m.JBlock, journal.BlockTypeName(m.Type))
				}
			}
			if fc := l.FastCommit; fc != nil {
				checkFastCommitAgainstLogdump(t, im, fc)
			}
		})
	}
	if kinds[journal.BlockDescriptor] == 0 || kinds[journal.BlockCommit] == 0 || kinds[journal.BlockRevoke] == 0 {
		t.Errorf("the fixtures did not exercise every block type: %v", kinds)
	}
}

// checkFastCommitAgainstLogdump compares the records the fast-commit scan
// accepted with what debugfs logdump prints for the area.
func checkFastCommitAgainstLogdump(t *testing.T, im *image, fc *journal.FastCommitArea) {
	t.Helper()
	out := testfs.Debugfs(t, im.path, "logdump")
	i := strings.Index(out, "*** Fast Commit Area ***")
	if i < 0 {
		if len(fc.Tags) > 0 {
			t.Errorf("logdump shows no fast-commit area; the scan found %d records", len(fc.Tags))
		}
		return
	}
	var got []string
	for _, l := range strings.Split(strings.TrimSpace(out[i:]), "\n")[1:] {
		if !strings.HasPrefix(l, "tag ") {
			break
		}
		// logdump prints fc_dname with %s although it is not
		// NUL-terminated, so bytes of the next record leak into the name.
		got = append(got, strings.Map(func(r rune) rune {
			if r < 0x20 {
				return -1
			}
			return r
		}, l))
	}
	var mine []string
	for _, tg := range fc.Tags {
		mine = append(mine, "tag "+tg.String())
	}
	if strings.Join(got, "\n") != strings.Join(mine, "\n") {
		t.Errorf("fast-commit records: logdump\n%s\nscan\n%s", strings.Join(got, "\n"), strings.Join(mine, "\n"))
	}
}
