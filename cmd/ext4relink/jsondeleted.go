package main

// The JSON schema of deleted --json, extract --deleted --json and undelete
// --json lives here; package types (engine.DeletedList, engine.DeletedFile,
// engine.Undeleted) carry no tags. Typed values are written as their
// String().

import (
	"time"

	"github.com/ext4relink/ext4relink/engine"
)

// jsonDeletedList is what deleted --json prints (engine.DeletedList).
type jsonDeletedList struct {
	Files        []jsonDeletedFile `json:"files"`
	Transactions int               `json:"transactions"`
	Oldest       time.Time         `json:"oldest_transaction,omitempty"`
	Gone         int               `json:"not_recoverable,omitempty"`
}

// jsonDeletedFile is one file deleted while closed (engine.DeletedFile).
type jsonDeletedFile struct {
	Inode      uint32    `json:"inode"`
	Path       string    `json:"path,omitempty"`
	PathFrom   string    `json:"path_from,omitempty"`
	PathReason string    `json:"path_reason,omitempty"`
	Type       string    `json:"type"`
	Size       uint64    `json:"size"`
	Mode       uint16    `json:"mode"` // permission bits
	UID        uint32    `json:"uid"`
	GID        uint32    `json:"gid"`
	Mtime      time.Time `json:"mtime"`
	Dtime      time.Time `json:"dtime"` // the freed inode's i_dtime
	State      string    `json:"state"`
	Reason     string    `json:"reason,omitempty"`
	Sequence   uint32    `json:"sequence"`
	Committed  time.Time `json:"committed"`
	Blocks     uint64    `json:"blocks"`
	Reused     uint64    `json:"reused_blocks,omitempty"`
}

// jsonDeletedExtractReport is what extract --deleted --json prints
// (deletedExtractReport).
type jsonDeletedExtractReport struct {
	Extracted []jsonDeletedExtracted `json:"extracted"`
	Skipped   []jsonSkipped          `json:"skipped,omitempty"`
	Failed    []jsonExtractFailed    `json:"failed,omitempty"`
	Section   *jsonSection           `json:"section,omitempty"`
}

// jsonDeletedExtracted is one copied deleted file: the copy and the
// file's state.
type jsonDeletedExtracted struct {
	*jsonExtracted
	State string `json:"state"`
}

// jsonUndeleteReport is what undelete --json prints (undeleteReport).
type jsonUndeleteReport struct {
	DryRun    bool           `json:"dry_run"`
	Undeleted *jsonUndeleted `json:"undeleted"`
	Blocks    []jsonChange   `json:"blocks"`
	Journal   string         `json:"journal"`
	Log       *jsonLogPlace  `json:"journal_transaction,omitempty"`
	Verified  bool           `json:"verified"`
	Undo      *jsonUndo      `json:"undo,omitempty"`
	Section   *jsonSection   `json:"section,omitempty"`
}

// jsonUndeleted is the file an undelete puts back (engine.Undeleted).
type jsonUndeleted struct {
	Inode       uint32 `json:"inode"`
	Path        string `json:"path"`
	Parent      uint32 `json:"parent"`
	Type        string `json:"type"`
	Size        uint64 `json:"size"`
	Blocks      uint64 `json:"blocks"`   // blocks marked in use again (data and map)
	Restored    int    `json:"restored"` // map blocks written back from their journal copies
	Sequence    uint32 `json:"sequence"` // the transaction holding the live copy
	State       string `json:"state"`
	DirChange   string `json:"dir_change"`
	AlreadyDone bool   `json:"already_done,omitempty"`
	SHA256      string `json:"sha256"`
}

func toJSONDeletedList(l *engine.DeletedList) jsonDeletedList {
	j := jsonDeletedList{Transactions: l.Transactions, Oldest: l.Oldest, Gone: l.Gone}
	if l.Files != nil {
		j.Files = make([]jsonDeletedFile, 0, len(l.Files))
	}
	for _, d := range l.Files {
		jd := jsonDeletedFile{
			Inode: d.Inode, Path: d.Path, PathReason: d.PathReason, Type: d.Type.String(), Size: d.Size,
			Mode: d.Mode, UID: d.UID, GID: d.GID, Mtime: d.Mtime, Dtime: d.Dtime, State: d.State.String(),
			Reason: d.Reason, Sequence: d.Sequence, Committed: d.Committed, Blocks: d.Blocks, Reused: d.Reused,
		}
		if d.PathFrom != 0 {
			jd.PathFrom = d.PathFrom.String()
		}
		j.Files = append(j.Files, jd)
	}
	return j
}

func toJSONDeletedExtractReport(r *deletedExtractReport) *jsonDeletedExtractReport {
	j := &jsonDeletedExtractReport{Skipped: toJSONSkipped(r.Skipped), Section: toJSONSection(r.Section)}
	if r.Extracted != nil {
		j.Extracted = make([]jsonDeletedExtracted, 0, len(r.Extracted))
	}
	for _, x := range r.Extracted {
		j.Extracted = append(j.Extracted, jsonDeletedExtracted{jsonExtracted: toJSONExtracted(x.Report), State: x.State.String()})
	}
	for _, f := range r.Failed {
		j.Failed = append(j.Failed, jsonExtractFailed(f))
	}
	return j
}

func toJSONUndeleteReport(r undeleteReport) jsonUndeleteReport {
	j := jsonUndeleteReport{DryRun: r.DryRun, Journal: r.Journal, Verified: r.Verified, Section: toJSONSection(r.Section), Log: toJSONLogPlace(r.Log)}
	if u := r.Undeleted; u != nil {
		j.Undeleted = &jsonUndeleted{
			Inode: u.Inode, Path: u.Path, Parent: u.Parent, Type: u.Type.String(), Size: u.Size, Blocks: u.Blocks,
			Restored: u.Restored, Sequence: u.Sequence, State: u.State.String(), DirChange: u.DirChange,
			AlreadyDone: u.AlreadyDone, SHA256: u.SHA256,
		}
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
	return j
}
