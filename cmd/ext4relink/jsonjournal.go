package main

// The JSON schema of journal --json lives here; package types
// (engine.JournalReport, engine.TxnReport, engine.FastCommitShort) carry no
// tags.

import (
	"time"

	"github.com/ext4relink/ext4relink/engine"
)

// jsonJournal is the journal superblock and its transactions
// (engine.JournalReport).
type jsonJournal struct {
	Present       bool            `json:"present"`
	External      bool            `json:"external,omitempty"`
	Inode         uint32          `json:"inode,omitempty"`
	NeedsRecovery bool            `json:"needs_recovery"`
	Blocks        uint32          `json:"blocks,omitempty"`   // s_maxlen
	First         uint32          `json:"first,omitempty"`    // s_first
	Start         uint32          `json:"start"`              // s_start (0: empty)
	Sequence      uint32          `json:"sequence,omitempty"` // s_sequence
	Features      []string        `json:"features,omitempty"`
	Transactions  []jsonTxn       `json:"transactions"`
	Stop          string          `json:"stop,omitempty"`
	ReplayBlocks  int             `json:"replay_blocks"`
	ReplayProblem string          `json:"replay_problem,omitempty"`
	FastCommit    *jsonFastCommit `json:"fast_commit,omitempty"`
	Note          string          `json:"note,omitempty"`
	BytesRead     uint64          `json:"bytes_read"`
}

// jsonTxn is one transaction (engine.TxnReport).
type jsonTxn struct {
	Sequence   uint32    `json:"sequence"`
	Start      uint64    `json:"start"`
	DataBlocks int       `json:"data_blocks"`
	Revokes    int       `json:"revokes"`
	Committed  bool      `json:"committed"`
	CommitTime time.Time `json:"commit_time,omitzero"`
	Checksum   string    `json:"checksum"`
	Replayed   bool      `json:"replayed"`
}

// jsonFastCommit summarises the fast-commit area (engine.FastCommitShort).
type jsonFastCommit struct {
	ExpectedTID uint32   `json:"expected_tid"`
	Valid       int      `json:"valid_records"`
	Records     []string `json:"records,omitempty"`
	Stop        string   `json:"stop,omitempty"`
}

func toJSONJournal(r *engine.JournalReport) *jsonJournal {
	j := &jsonJournal{
		Present: r.Present, External: r.External, Inode: r.Inode, NeedsRecovery: r.NeedsRecovery,
		Blocks: r.Blocks, First: r.First, Start: r.Start, Sequence: r.Sequence, Features: r.Features,
		Stop: r.Stop, ReplayBlocks: r.ReplayBlocks, ReplayProblem: r.ReplayProblem, Note: r.Note,
		BytesRead: r.BytesRead,
	}
	if r.Transactions != nil {
		j.Transactions = make([]jsonTxn, 0, len(r.Transactions))
	}
	for _, t := range r.Transactions {
		j.Transactions = append(j.Transactions, jsonTxn(t)) // same fields: a field added to TxnReport fails here until the schema has it
	}
	if f := r.FastCommit; f != nil {
		j.FastCommit = &jsonFastCommit{ExpectedTID: f.ExpectedTID, Valid: f.Valid, Records: f.Records, Stop: f.Stop}
	}
	return j
}
