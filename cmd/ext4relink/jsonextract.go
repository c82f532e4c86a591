package main

// The JSON schema of extract --json lives here; package types
// (extract.Report, extract.Missing, engine.Backup) carry no tags.

import (
	"github.com/ext4relink/ext4relink/engine"
	"github.com/ext4relink/ext4relink/extract"
)

// jsonExtractReport is what extract --json prints (extractReport).
type jsonExtractReport struct {
	Extracted []*jsonExtracted    `json:"extracted"`
	Skipped   []jsonSkipped       `json:"skipped,omitempty"`
	Failed    []jsonExtractFailed `json:"failed,omitempty"`
	Backup    *jsonBackup         `json:"backup_superblock,omitempty"`
	Section   *jsonSection        `json:"section,omitempty"`
}

// jsonExtracted is one copy written (extract.Report).
type jsonExtracted struct {
	Inode        uint32        `json:"inode"`
	Type         string        `json:"type"` // "file" or "symlink"
	Out          string        `json:"out"`
	Size         uint64        `json:"size"`
	SHA256       string        `json:"sha256"` // of the content (of the target, for a symlink)
	DataBytes    uint64        `json:"data_bytes"`
	Target       string        `json:"target,omitempty"` // a symlink's target
	Missing      []jsonMissing `json:"missing,omitempty"`
	OriginalPath string        `json:"original_path,omitempty"`
	Replaced     bool          `json:"replaced,omitempty"`
	Preserved    bool          `json:"preserved"`
	Verified     bool          `json:"verified"`
	Warnings     []string      `json:"warnings,omitempty"`
}

// jsonMissing is a byte range left as a hole (extract.Missing).
type jsonMissing struct {
	Start  uint64 `json:"start"`
	End    uint64 `json:"end"` // exclusive
	Reason string `json:"reason"`
}

// jsonExtractFailed is one orphan extract --all could not copy.
type jsonExtractFailed struct {
	Inode    uint32 `json:"inode"`
	Error    string `json:"error"`
	ExitCode int    `json:"exit_code"`
}

// jsonBackup is the superblock copy read (engine.Backup).
type jsonBackup struct {
	Block       uint64 `json:"block"`
	BlockSize   uint32 `json:"block_size"`
	Group       uint16 `json:"group"`
	LogReplayed bool   `json:"log_replayed"`
}

func toJSONExtractReport(r *extractReport) *jsonExtractReport {
	j := &jsonExtractReport{Skipped: toJSONSkipped(r.Skipped), Backup: toJSONBackup(r.Backup), Section: toJSONSection(r.Section)}
	if r.Extracted != nil {
		j.Extracted = make([]*jsonExtracted, 0, len(r.Extracted))
	}
	for _, x := range r.Extracted {
		j.Extracted = append(j.Extracted, toJSONExtracted(x))
	}
	for _, f := range r.Failed {
		j.Failed = append(j.Failed, jsonExtractFailed(f)) // same fields: a field added to extractFailure fails here until the schema has it
	}
	return j
}

func toJSONExtracted(r *extract.Report) *jsonExtracted {
	if r == nil {
		return nil
	}
	j := &jsonExtracted{
		Inode: r.Inode, Type: r.Type, Out: r.Out, Size: r.Size, SHA256: r.SHA256, DataBytes: r.DataBytes,
		Target: r.Target, OriginalPath: r.OriginalPath, Replaced: r.Replaced, Preserved: r.Preserved,
		Verified: r.Verified, Warnings: r.Warnings,
	}
	for _, m := range r.Missing {
		j.Missing = append(j.Missing, jsonMissing{Start: m.Start, End: m.End, Reason: m.Reason})
	}
	return j
}

func toJSONBackup(b *engine.Backup) *jsonBackup {
	if b == nil {
		return nil
	}
	return &jsonBackup{Block: b.Block, BlockSize: b.BlockSize, Group: b.Group, LogReplayed: b.LogReplayed}
}
