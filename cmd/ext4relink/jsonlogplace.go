package main

import "github.com/ext4relink/ext4relink/engine"

// jsonLogPlace is where a commit's journal transaction goes and which
// older logged copies it overwrites (engine.LogPlace): JSON
// "journal_transaction" of relink and undelete.
type jsonLogPlace struct {
	Start        uint64 `json:"start"`                    // journal block of its first block
	Blocks       uint64 `json:"blocks"`                   // journal blocks it takes
	After        uint32 `json:"after_sequence,omitempty"` // the newest committed transaction in the log, which it follows
	Transactions int    `json:"overwritten_transactions"` // older transactions it writes over
	Copies       int    `json:"overwritten_copies"`       // the logged copies they hold
	Oldest       uint32 `json:"overwritten_oldest,omitempty"`
	Newest       uint32 `json:"overwritten_newest,omitempty"`
}

func toJSONLogPlace(lp *engine.LogPlace) *jsonLogPlace {
	if lp == nil {
		return nil
	}
	j := jsonLogPlace(*lp) // same fields: a field added to LogPlace fails here until the schema has it
	return &j
}
