package journal

import (
	"fmt"
	"time"

	"github.com/ext4relink/ext4relink/super"
)

// LoggedBlock is a filesystem block to log: its home and its new content.
type LoggedBlock struct {
	FSBlock uint64
	Data    []byte
}

// JournalWrite is one block to write into the journal: JBlock is
// journal-relative (map it with Journal.Map).
type JournalWrite struct {
	JBlock uint64
	Data   []byte
}

// Capacity is the number of blocks a transaction may occupy: the log
// without the fast-commit area (j_last - j_first).
func (j *Journal) Capacity() uint64 { return j.Last - j.First }

// EncodeTransaction lays out one complete transaction with sequence seq
// starting at journal block start, the way jbd2's commit writes it:
// descriptor blocks in the journal's own tag format (tag or tag3, 32- or
// 64-bit, v2/v3 tag checksums and tail), each followed by the data blocks it
// describes (escaped when they begin with the jbd2 magic), and a commit
// block stamped commitTime with the journal's commit checksum (v2/v3
// crc32c, or the v1 crc32 when COMPAT_CHECKSUM is set). Positions wrap
// from the end of the log to s_first. It only encodes: the caller writes
// the blocks (commit block last, after a flush) and then the superblock
// from SuperblockBytes(start, seq).
//
// It fails if the transaction does not fit in the log (Capacity), if a
// block has the wrong size, appears twice or needs more than 32 bits
// without the 64-bit feature.
func (j *Journal) EncodeTransaction(seq uint32, blocks []LoggedBlock, start uint64, commitTime time.Time) ([]JournalWrite, error) {
	fm, seed := j.Format, j.seed
	bad := func(format string, args ...any) error {
		return super.Errorf(super.ErrUnsupported, "journal transaction", super.NoBlock, -1, format, args...)
	}
	if start < j.First || start >= j.Last {
		return nil, bad("start block %d is outside the log [%d, %d)", start, j.First, j.Last)
	}
	seen := make(map[uint64]bool, len(blocks))
	for _, b := range blocks {
		if len(b.Data) != fm.BlockSize {
			return nil, bad("block %d: %d bytes of data, want %d", b.FSBlock, len(b.Data), fm.BlockSize)
		}
		if !fm.Is64Bit() && b.FSBlock>>32 != 0 {
			return nil, bad("block %d needs a 64-bit journal", b.FSBlock)
		}
		if seen[b.FSBlock] {
			return nil, bad("block %d is logged twice", b.FSBlock)
		}
		seen[b.FSBlock] = true
	}

	// Pack tags like jbd2_journal_commit_transaction: a descriptor is closed
	// once less than a tag, a UUID and the tail would still fit.
	tb := fm.TagBytes()
	var groups [][]LoggedBlock
	for i := 0; i < len(blocks); {
		space := fm.BlockSize - HeaderSize
		k := i
		for k < len(blocks) {
			space -= tb
			if k == i {
				space -= 16
			}
			k++
			if space < tb+16+fm.tailSize() {
				break
			}
		}
		groups = append(groups, blocks[i:k])
		i = k
	}
	total := uint64(len(groups)) + uint64(len(blocks)) + 1
	if total > j.Capacity() {
		return nil, bad("transaction of %d blocks does not fit in the %d-block log", total, j.Capacity())
	}

	var out []JournalWrite
	pos := start
	put := func(b []byte) {
		out = append(out, JournalWrite{JBlock: pos, Data: b})
		pos = j.wrap(pos + 1)
	}
	crc := ^uint32(0)
	for _, g := range groups {
		d := newDescriptor(fm, seq)
		off := HeaderSize
		data := make([][]byte, len(g))
		for i, lb := range g {
			esc, flag := Escape(lb.Data)
			data[i] = esc
			t := Tag{Off: off, Flags: uint32(flag)}
			if i > 0 {
				t.Flags |= FlagSameUUID
			}
			// The UUID after the first tag stays zero: jbd2 copies
			// journal->j_uuid there, which inode journals never set.
			if i == len(g)-1 {
				t.Flags |= FlagLastTag
			}
			t.SetBlock(fm, lb.FSBlock)
			t.SetDataChecksum(fm, seed, seq, esc)
			d.Tags = append(d.Tags, t)
			off += tb
			if i == 0 {
				off += 16
			}
		}
		d.SetChecksum(seed)
		db := d.Encode()
		if fm.CsumV1() {
			crc = Crc32BE(crc, db)
		}
		put(db)
		for _, b := range data {
			if fm.CsumV1() {
				crc = Crc32BE(crc, b)
			}
			put(b)
		}
	}
	c := &Commit{Header: Header{Magic: Magic, BlockType: BlockCommit, Sequence: seq}, fm: fm,
		CommitSec: uint64(commitTime.Unix()), CommitNsec: uint32(commitTime.Nanosecond())}
	if commitTime.Unix() < 0 {
		c.CommitSec, c.CommitNsec = 0, 0
	}
	if fm.CsumV1() {
		c.ChksumType, c.ChksumSize, c.Chksum[0] = ChecksumCRC32, crc32ChksumSize, crc
	}
	c.SetChecksum(seed)
	put(c.Encode())
	return out, nil
}

// SuperblockBytes returns journal block 0 with s_start = start and
// s_sequence = seq, re-checksummed; the rest of the block is as read.
// Use (first block, seq) after writing a transaction with EncodeTransaction,
// and (0, Log.NextSequence()) to mark the journal empty after a replay, as
// e2fsck and debugfs leave it (the kernel continues with the same sequence).
func (j *Journal) SuperblockBytes(start uint64, seq uint32) ([]byte, error) {
	if start != 0 && (start < j.First || start >= j.Last) {
		return nil, super.Errorf(super.ErrUnsupported, "journal superblock", super.NoBlock, -1,
			"log start %d is outside the log [%d, %d)", start, j.First, j.Last)
	}
	sb := *j.SB
	sb.Start, sb.Sequence = uint32(start), seq
	sb.SetChecksum()
	b := append([]byte(nil), j.sbRaw...)
	copy(b, sb.Encode())
	return b, nil
}

// SuperblockFSBlock is the filesystem block holding the journal superblock.
func (j *Journal) SuperblockFSBlock() uint64 { return j.sbFS }

func (w JournalWrite) String() string {
	return fmt.Sprintf("journal block %d (%d bytes)", w.JBlock, len(w.Data))
}
