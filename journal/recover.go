package journal

import (
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/ext4relink/ext4relink/super"
)

// ChecksumState says what a checksum check found.
type ChecksumState int

const (
	CsumNone    ChecksumState = iota // no checksum to check (feature off, or a v1 commit without one)
	CsumValid                        // the checksum matched
	CsumInvalid                      // the checksum did not match
)

func (c ChecksumState) String() string {
	switch c {
	case CsumValid:
		return "valid"
	case CsumInvalid:
		return "invalid"
	}
	return "none"
}

// StopReason says why the scan of the log ended.
type StopReason int

const (
	StopNone           StopReason = iota // the journal is empty (s_start == 0): nothing was scanned
	StopNoMagic                          // a block without the jbd2 magic: the normal end of the log
	StopSequence                         // a block of another transaction (stale log)
	StopBlockType                        // a block of a type that cannot appear in the log
	StopCommitChecksum                   // a commit block failed its checksum: that transaction is not replayed (j_failed_commit)
	StopStale                            // after a checksum failure, a commit older than its predecessor: stale log
	StopReadError                        // checksum v1: a data block could not be read
	StopFailedAsync                      // checksum v1 with async commit: a commit after an earlier failed one
)

func (r StopReason) String() string {
	return [...]string{"journal empty", "no magic number (end of log)", "unexpected sequence (end of log)",
		"unexpected block type", "commit block checksum mismatch", "stale commit after checksum mismatch",
		"read error while checksumming", "commit after a failed asynchronous commit"}[r]
}

// Transaction is one transaction found in the log.
type Transaction struct {
	Sequence     uint32
	Start        uint64        // journal block of its first block
	Descriptors  []uint64      // journal blocks of its descriptor blocks
	DataBlocks   int           // data blocks its descriptors describe
	RevokeBlocks []uint64      // journal blocks of its revoke blocks
	Revokes      int           // revoke records in them (0 when a revoke block is invalid)
	Committed    bool          // its commit block was found
	CommitBlock  uint64        // journal block of the commit block (if Committed)
	CommitTime   time.Time     // h_commit_sec, h_commit_nsec (if Committed)
	Checksum     ChecksumState // of the commit block: v2/v3 crc32c, or v1 crc32 over the transaction
	MetaChecksum ChecksumState // of its descriptor and revoke block tails (v2/v3)
	Replay       bool          // the kernel replays it (its sequence is below Log.End)

	tagLo, tagHi int    // its data block tags, numbered in log order
	runLo, runHi int    // the same tags: Log.runs[runLo:runHi]
	wrapped      bool   // a descriptor describes more data blocks than the log holds
	wrapPos      uint64 // the last data block of the first such descriptor
	revokes      []revokeBlock
}

type revokeBlock struct {
	pos uint64
	rv  *Revoke
	err error
}

// Stop tells where and why the scan ended.
type Stop struct {
	Reason   StopReason
	Block    uint64 // journal block the scan read last (the one that ended it)
	Sequence uint32 // the sequence the scan expected there
	Detail   string
}

// MetaBlock is one journal metadata block the scan accepted.
type MetaBlock struct {
	JBlock   uint64
	Type     uint32 // BlockDescriptor, BlockCommit or BlockRevoke
	Sequence uint32
}

// Log is the result of the scan and revoke passes: what the kernel's
// jbd2_journal_recover finds before it replays anything.
type Log struct {
	Empty         bool   // s_start == 0: the journal needs no recovery
	Start         uint64 // s_start
	FirstSequence uint32 // s_sequence
	// End is info->end_transaction: the first sequence not replayed.
	// Transactions with sequence in [FirstSequence, End) are replayed.
	End          uint32
	Transactions []*Transaction
	Stop         Stop
	// FailedCommit is j_failed_commit when HasFailedCommit: a commit block
	// failed its checksum. The kernel reports the filesystem as having
	// errors; e2fsck and debugfs set s_errno in the journal superblock.
	FailedCommit    uint32
	HasFailedCommit bool
	// HeadBlock is info->head_block: where the log ends (newer kernels keep
	// it as s_head when cycling records).
	HeadBlock  uint64
	Revokes    int             // revoke records applied (nr_revokes)
	Metadata   []MetaBlock     // the descriptor, revoke and commit blocks the scan accepted, in log order
	FastCommit *FastCommitArea // nil when the journal has no fast-commit area or is empty

	ntags int               // data block tags in the log
	runs  chunkList[tagRun] // all of them, as runs in log order
	csums sparseU32         // t_checksum of each
}

// seqOf is the sequence of the transaction that logged tag i.
func (l *Log) seqOf(i int) uint32 {
	k := sort.Search(len(l.Transactions), func(k int) bool { return l.Transactions[k].tagHi > i })
	return l.Transactions[k].Sequence
}

// NextSequence is the sequence the kernel and e2fsck continue with after
// this recovery (j_transaction_sequence): End+1, skipping End, whose blocks
// may still sit half-written in the log. For an empty journal it is
// s_sequence+1. Write it as s_sequence when marking the journal empty.
func (l *Log) NextSequence() uint32 {
	if l.Empty {
		return l.FirstSequence + 1
	}
	return l.End + 1
}

// Replayed returns the transactions the kernel replays.
func (l *Log) Replayed() []*Transaction {
	var out []*Transaction
	for _, t := range l.Transactions {
		if t.Replay {
			out = append(out, t)
		}
	}
	return out
}

// errScan marks an error the kernel's recovery would return: nothing is
// replayed and the mount fails.
func scanErr(sentinel error, j *Journal, jblk uint64, format string, args ...any) error {
	fsblk := super.NoBlock
	if b, err := j.bmap(jblk); err == nil && jblk < j.TotalLen {
		fsblk = b
	}
	return super.Errorf(sentinel, fmt.Sprintf("journal block %d", jblk), fsblk, -1, format, args...)
}

// Scan runs the kernel's PASS_SCAN and PASS_REVOKE over the log (see
// fs/jbd2/recovery.c do_one_pass), reading only descriptor, revoke and
// commit blocks, plus, with checksum v1 only, the data blocks whose crc32
// the scan must chain (calc_chksums). Data block tag checksums (v2/v3) are
// checked when blocks are read from the Overlay, as PASS_REPLAY does. When
// the journal has a fast-commit area it is scanned too.
//
// An error means the kernel's recovery would fail without replaying
// anything (a checksum failure that is not a stale tail of the log, a bad
// revoke block, a read error, a failed fast-commit scan); the returned Log
// is then still filled for display.
func (j *Journal) Scan() (*Log, error) {
	sb := j.SB
	l := &Log{Start: uint64(sb.Start), FirstSequence: sb.Sequence}
	if sb.Start == 0 {
		l.Empty, l.End = true, sb.Sequence
		return l, nil
	}
	err := j.scan(l)
	if err == nil {
		err = j.revokePass(l)
	}
	if err == nil {
		err = j.checkWrap(l)
	}
	return l, err
}

// wrap is the kernel's wrap(): once past the end of the log, go back by its
// length (once).
func (j *Journal) wrap(v uint64) uint64 {
	if v >= j.Last {
		v -= j.Last - j.First
	}
	return v
}

func csumStateOf(fm Format, c *Commit, seed, crc uint32) ChecksumState {
	switch {
	case fm.CsumV2or3():
		if c.VerifyChecksum(seed) {
			return CsumValid
		}
		return CsumInvalid
	case fm.CsumV1():
		if c.ChksumType == 0 && c.ChksumSize == 0 && c.Chksum[0] == 0 {
			return CsumNone
		}
		if c.VerifyV1(crc) {
			return CsumValid
		}
		return CsumInvalid
	}
	return CsumNone
}

// revokePass is PASS_REVOKE: the revoke records of every replayed
// transaction. A revoke block with a bad r_count fails the recovery.
func (j *Journal) revokePass(l *Log) error {
	for _, t := range l.Transactions {
		if !t.Replay {
			continue
		}
		for _, r := range t.revokes {
			if r.err != nil {
				var fe *super.FormatError
				if errors.As(r.err, &fe) {
					fe.Struct = fmt.Sprintf("journal revoke block %d", r.pos)
					if fsblk, err := j.bmap(r.pos); err == nil {
						fe.Block = fsblk
					}
				}
				return r.err
			}
			l.Revokes += len(r.rv.Records)
		}
	}
	return nil
}

// checkWrap refuses a replayed descriptor whose data blocks wrap around
// the log more than once: PASS_SCAN and PASS_REPLAY would then disagree on
// where the next block is (only crafted logs can do this).
func (j *Journal) checkWrap(l *Log) error {
	for _, t := range l.Transactions {
		if !t.Replay {
			continue
		}
		if t.wrapped {
			return scanErr(super.ErrCorrupt, j, t.wrapPos,
				"transaction %d describes more data blocks than the log holds", t.Sequence)
		}
	}
	return nil
}

// scanFastCommit is fc_do_one_pass in PASS_SCAN.
func (j *Journal) scanFastCommit(l *Log) error {
	a := &FastCommitArea{First: j.FCFirst, Last: j.FCLast, ExpectedTID: l.End}
	l.FastCommit = a
	isz := int(j.InodeSize)
	if isz == 0 {
		isz = j.Format.BlockSize
	}
	s := &fcScanner{expected: l.End, inodeSize: isz}
	var err error
	for blk := j.FCFirst; blk <= j.FCLast; blk++ {
		b, rerr := j.readLog(blk)
		if rerr != nil {
			err = rerr
			s.stop = "read error: " + rerr.Error()
			break
		}
		a.BlocksRead++
		ret, ferr := s.block(b, int(blk-j.FCFirst), blk)
		if ferr != nil {
			err = super.Errorf(super.ErrCorrupt, "journal fast-commit area", super.NoBlock, -1,
				"fast-commit scan fails with %v: %s", ferr, s.stop)
			if ferr == errFCBadCRC {
				err.(*super.FormatError).Err = super.ErrChecksum
			}
			if ferr == errFCNotSupp {
				err.(*super.FormatError).Err = super.ErrUnsupported
			}
			break
		}
		if ret == fcReplayStop {
			break
		}
	}
	a.Tags, a.Valid, a.Stop, a.Err = s.tags, s.numTags, s.stop, err
	if a.Valid > len(a.Tags) {
		a.Valid = len(a.Tags)
	}
	return err
}
