package main

// The JSON schema of list --json lives here; package types (engine.Orphan,
// engine.NameResult, engine.NameCandidate) carry no tags. Typed values are
// written as their String().

import (
	"time"

	"github.com/ext4relink/ext4relink/engine"
)

// jsonOrphan is one element of list --json: the orphan and what
// OriginalPaths found for it.
type jsonOrphan struct {
	Inode         uint32          `json:"inode"`
	Source        string          `json:"source"`             // chain, orphan_file, stranded, scan
	Position      int             `json:"position,omitempty"` // 1-based position in the chain
	Slot          int             `json:"slot,omitempty"`     // 0-based slot in the orphan file
	Next          uint32          `json:"next,omitempty"`     // chain: the next orphan (its i_dtime)
	Type          string          `json:"type"`
	Mode          uint16          `json:"mode"` // permission bits
	UID           uint32          `json:"uid"`
	GID           uint32          `json:"gid"`
	Size          uint64          `json:"size"`
	Links         uint16          `json:"links"`
	Blocks        uint64          `json:"blocks"` // i_blocks, 512-byte sectors
	Mtime         time.Time       `json:"mtime"`
	Ctime         time.Time       `json:"ctime"`
	Dtime         uint32          `json:"dtime"` // raw i_dtime
	State         string          `json:"state"`
	PastEOFBlocks uint64          `json:"past_eof_blocks,omitempty"`
	Problem       string          `json:"problem,omitempty"`
	PathFrom      string          `json:"path_from,omitempty"`
	Candidates    []jsonCandidate `json:"path_candidates,omitempty"`
	PathReason    string          `json:"path_reason,omitempty"`
	ParentOf      []uint32        `json:"parent_of,omitempty"`
	// Path is always present: "" when no path is given (see path_reason).
	Path string `json:"path"`
}

// jsonCandidate is one name found for an orphan (engine.NameCandidate).
type jsonCandidate struct {
	Path     string     `json:"path,omitempty"`
	Parent   uint32     `json:"parent"`
	Name     string     `json:"name"`
	From     string     `json:"from"`
	Sequence uint32     `json:"sequence,omitempty"`
	Commit   *time.Time `json:"committed,omitempty"`
	Block    uint64     `json:"block"`
}

// listed joins the orphans and their names for list --json.
func listed(l *engine.OrphanList, names map[uint32]engine.NameResult) []jsonOrphan {
	out := make([]jsonOrphan, 0, len(l.Orphans))
	for _, o := range l.Orphans {
		out = append(out, toJSONOrphan(o, names[o.Inode]))
	}
	return out
}

func toJSONOrphan(o engine.Orphan, r engine.NameResult) jsonOrphan {
	j := jsonOrphan{
		Inode: o.Inode, Source: o.Source.String(), Position: o.Position, Slot: o.Slot, Next: o.Next,
		Type: o.Type.String(), Mode: o.Mode, UID: o.UID, GID: o.GID, Size: o.Size, Links: o.Links,
		Blocks: o.Blocks, Mtime: o.Mtime, Ctime: o.Ctime, Dtime: o.Dtime,
		State: o.State.String(), PastEOFBlocks: o.PastEOFBlocks, Problem: o.Problem,
		PathReason: r.Reason, ParentOf: r.ParentOf, Path: r.Path,
	}
	if r.From != 0 {
		j.PathFrom = r.From.String()
	}
	for _, c := range r.Candidates {
		j.Candidates = append(j.Candidates, jsonCandidate{
			Path: c.Path, Parent: c.Parent, Name: c.Name, From: c.From.String(),
			Sequence: c.Sequence, Commit: c.Commit, Block: c.Block,
		})
	}
	return j
}
