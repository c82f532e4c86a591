package main

// The JSON schema of relink --json (and of the skipped orphans extract
// --json lists) lives here; package types (engine.Relinked,
// engine.CreatedDir, engine.Skipped, engine.PastEOF, ext4fs.Change) carry
// no tags. Typed values are written as their String().

import "github.com/ext4relink/ext4relink/engine"

// jsonRelinkReport is what relink --json prints (relinkReport).
type jsonRelinkReport struct {
	DryRun         bool                  `json:"dry_run"`
	Relinked       []jsonRelinked        `json:"relinked"`
	Created        []jsonCreatedDir      `json:"created,omitempty"` // --parents
	Skipped        []jsonSkipped         `json:"skipped,omitempty"`
	Blocks         []jsonChange          `json:"blocks"`
	Journal        string                `json:"journal"`
	Commit         string                `json:"commit"`                        // "journal" or "ordered"
	Log            *jsonLogPlace         `json:"journal_transaction,omitempty"` // commit "journal"
	Verified       bool                  `json:"verified"`
	Undo           *jsonUndo             `json:"undo,omitempty"`
	Remaining      []jsonRemainingOrphan `json:"remaining"`
	EarlierRelinks []uint32              `json:"earlier_relinks,omitempty"`
	Section        *jsonSection          `json:"section,omitempty"`
}

// jsonRelinked is one orphan brought back (engine.Relinked).
type jsonRelinked struct {
	Inode       uint32       `json:"inode"`
	Path        string       `json:"path"`
	Parent      uint32       `json:"parent"`
	Type        string       `json:"type"`
	Size        uint64       `json:"size"`
	Source      string       `json:"source"`
	Position    int          `json:"position,omitempty"`
	Slot        int          `json:"slot,omitempty"`
	DirChange   string       `json:"dir_change"`
	AlreadyDone bool         `json:"already_done,omitempty"`
	PastEOF     *jsonPastEOF `json:"past_eof,omitempty"`
	// OriginalPath (--original) is the path the file had; Why says why it
	// was relinked elsewhere (Path) instead.
	OriginalPath string `json:"original_path,omitempty"`
	Why          string `json:"why,omitempty"`
}

// jsonCreatedDir is a directory --parents creates (engine.CreatedDir).
type jsonCreatedDir struct {
	Path      string `json:"path"`
	Inode     uint32 `json:"inode"`
	Parent    uint32 `json:"parent"`
	DirChange string `json:"dir_change"`
}

// jsonPastEOF is what became of the blocks past i_size (engine.PastEOF).
type jsonPastEOF struct {
	Action    string `json:"action"` // "trimmed" or "kept"
	Blocks    uint64 `json:"blocks"`
	Bytes     uint64 `json:"bytes"`
	OldSize   uint64 `json:"old_size"`
	NewSize   uint64 `json:"new_size"`
	Unwritten uint64 `json:"unwritten_blocks,omitempty"`
	MapBlocks uint64 `json:"map_blocks,omitempty"`
}

// jsonSkipped is an orphan left alone, and why (engine.Skipped).
type jsonSkipped struct {
	Inode  uint32 `json:"inode"`
	Reason string `json:"reason"`
}

// jsonChange is one block written (ext4fs.Change, without its content).
type jsonChange struct {
	Block uint64   `json:"block"`
	What  []string `json:"what"`
}

// jsonRemainingOrphan is one orphan a run leaves on the list.
type jsonRemainingOrphan struct {
	Inode    uint32 `json:"inode"`
	Type     string `json:"type"`
	Size     uint64 `json:"size"`
	Links    uint16 `json:"links"`
	State    string `json:"state"`
	Source   string `json:"source"`
	Position int    `json:"position,omitempty"`
	Slot     int    `json:"slot,omitempty"`
}

// jsonUndo says where --undo saved the old blocks (undoReport).
type jsonUndo struct {
	File   string `json:"file"`
	Blocks int    `json:"blocks"`
}

func toJSONRelinkReport(r relinkReport) jsonRelinkReport {
	j := jsonRelinkReport{
		DryRun: r.DryRun, Journal: r.Journal, Commit: r.Commit, Verified: r.Verified,
		EarlierRelinks: r.EarlierRelinks, Section: toJSONSection(r.Section),
		Skipped: toJSONSkipped(r.Skipped), Log: toJSONLogPlace(r.Log),
	}
	if r.Relinked != nil {
		j.Relinked = make([]jsonRelinked, 0, len(r.Relinked))
	}
	for _, x := range r.Relinked {
		j.Relinked = append(j.Relinked, toJSONRelinked(x))
	}
	for _, d := range r.Created {
		j.Created = append(j.Created, jsonCreatedDir(d)) // same fields: a field added to CreatedDir fails here until the schema has it
	}
	if r.Blocks != nil {
		j.Blocks = make([]jsonChange, 0, len(r.Blocks))
	}
	for _, c := range r.Blocks {
		j.Blocks = append(j.Blocks, jsonChange{Block: c.Block, What: c.What})
	}
	if r.Undo != nil {
		j.Undo = &jsonUndo{File: r.Undo.File, Blocks: r.Undo.Blocks}
	}
	if r.Remaining != nil {
		j.Remaining = make([]jsonRemainingOrphan, 0, len(r.Remaining))
	}
	for _, o := range r.Remaining {
		j.Remaining = append(j.Remaining, jsonRemainingOrphan{
			Inode: o.Inode, Type: o.Type.String(), Size: o.Size, Links: o.Links,
			State: o.State.String(), Source: o.Source.String(), Position: o.Position, Slot: o.Slot,
		})
	}
	return j
}

func toJSONRelinked(r engine.Relinked) jsonRelinked {
	j := jsonRelinked{
		Inode: r.Inode, Path: r.Path, Parent: r.Parent, Type: r.Type.String(), Size: r.Size,
		Source: r.Source.String(), Position: r.Position, Slot: r.Slot, DirChange: r.DirChange,
		AlreadyDone: r.AlreadyDone, OriginalPath: r.OriginalPath, Why: r.Why,
	}
	if p := r.PastEOF; p != nil {
		j.PastEOF = &jsonPastEOF{Action: p.Action, Blocks: p.Blocks, Bytes: p.Bytes, OldSize: p.OldSize,
			NewSize: p.NewSize, Unwritten: p.Unwritten, MapBlocks: p.MapBlocks}
	}
	return j
}

// toJSONSkipped keeps nil nil (omitted) and an empty list empty.
func toJSONSkipped(s []engine.Skipped) []jsonSkipped {
	if s == nil {
		return nil
	}
	out := make([]jsonSkipped, 0, len(s))
	for _, x := range s {
		out = append(out, jsonSkipped{Inode: x.Inode, Reason: x.Reason})
	}
	return out
}
