package engine

import (
	"strings"
	"time"

	"github.com/ext4relink/ext4relink/journal"
)

// JournalReport is what `ext4relink journal` shows: the journal superblock
// and every transaction the recovery scan found, as a short logdump.
type JournalReport struct {
	Present       bool
	External      bool
	Inode         uint32
	NeedsRecovery bool
	Blocks        uint32 // s_maxlen
	First         uint32 // s_first
	Start         uint32 // s_start (0: empty)
	Sequence      uint32 // s_sequence
	Features      []string
	Transactions  []TxnReport
	Stop          string
	ReplayBlocks  int // distinct filesystem blocks the replay writes
	// ReplayProblem is set when a logged copy the replay needs fails its
	// data checksum: the kernel's recovery (and so any mount) then fails.
	ReplayProblem string
	FastCommit    *FastCommitShort
	Note          string
	BytesRead     uint64 // journal bytes read to build this report
}

// TxnReport is one transaction.
type TxnReport struct {
	Sequence   uint32
	Start      uint64
	DataBlocks int
	Revokes    int
	Committed  bool
	CommitTime time.Time
	Checksum   string
	Replayed   bool
}

// FastCommitShort summarises the fast-commit area.
type FastCommitShort struct {
	ExpectedTID uint32
	Valid       int
	Records     []string
	Stop        string
}

// JournalReport scans the journal (descriptor, revoke and commit blocks
// only) without replaying anything.
func (fs *FS) JournalReport() (*JournalReport, error) {
	st := fs.Journal
	r := &JournalReport{Present: st.Present, External: st.External, NeedsRecovery: st.NeedsRecovery, Transactions: []TxnReport{}}
	if fs.JournalFile() == nil {
		if st.External {
			r.Note = "external journal device: not read"
		}
		return r, nil
	}
	j := fs.JournalFile()
	r.Inode, r.Blocks, r.First, r.Start, r.Sequence = fs.SB.JournalInum, j.SB.MaxLen, j.SB.First, j.SB.Start, j.SB.Sequence
	r.Features = journalFeatures(j)
	l := fs.Log
	if l == nil {
		var err error
		if l, err = j.Scan(); err != nil {
			return nil, err
		}
		if !st.NeedsRecovery && j.SB.Start != 0 {
			r.Note = "needs_recovery is clear: the kernel and e2fsck ignore this log"
		}
	}
	fillLog(r, l)
	if ov := fs.JournalOverlay(); ov != nil {
		r.ReplayBlocks = ov.NumBlocks()
		if err := ov.Verify(); err != nil {
			r.ReplayProblem = err.Error()
		}
	}
	r.BytesRead = j.Stats().Bytes
	return r, nil
}

func fillLog(r *JournalReport, l *journal.Log) {
	for _, t := range l.Transactions {
		r.Transactions = append(r.Transactions, TxnReport{Sequence: t.Sequence, Start: t.Start, DataBlocks: t.DataBlocks,
			Revokes: t.Revokes, Committed: t.Committed, CommitTime: t.CommitTime, Checksum: t.Checksum.String(), Replayed: t.Replay})
	}
	r.Stop = l.Stop.Reason.String()
	if l.Stop.Detail != "" {
		r.Stop += ": " + l.Stop.Detail
	}
	if fc := l.FastCommit; fc != nil {
		s := &FastCommitShort{ExpectedTID: fc.ExpectedTID, Valid: fc.Valid, Stop: fc.Stop}
		for _, t := range fc.Replay() {
			s.Records = append(s.Records, t.String())
		}
		r.FastCommit = s
	}
}

func journalFeatures(j *journal.Journal) []string {
	var out []string
	fm := j.Format
	for _, f := range []struct {
		on   bool
		name string
	}{
		{fm.Incompat&journal.IncompatRevoke != 0, "revoke"}, {fm.Is64Bit(), "64bit"},
		{fm.AsyncCommit(), "async_commit"}, {fm.CsumV1(), "checksum_v1"},
		{fm.Incompat&journal.IncompatCsumV2 != 0, "checksum_v2"}, {fm.CsumV3(), "checksum_v3"},
		{fm.Incompat&journal.IncompatFastCommit != 0, "fast_commit"},
	} {
		if f.on {
			out = append(out, f.name)
		}
	}
	return out
}

// String renders the features for humans.
func (r *JournalReport) FeatureList() string { return strings.Join(r.Features, " ") }
