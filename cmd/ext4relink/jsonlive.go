package main

// The JSON schema of live --json (the scan, --copy and --all) lives here;
// package types (live.Report, live.File, live.Holder, live.CopyResult)
// carry no tags. Typed values are written as their String().

import "github.com/ext4relink/ext4relink/internal/live"

// jsonLiveReport is what 'live --json' prints: live.Report and what can be
// done about the files.
type jsonLiveReport struct {
	Files      []jsonLiveFile `json:"files"`
	Unreadable []int          `json:"unreadable_pids,omitempty"`
	Possible   []string       `json:"what_is_possible"`
}

// jsonLiveFile is one deleted file still held (live.File).
type jsonLiveFile struct {
	Major      uint32       `json:"major"`
	Minor      uint32       `json:"minor"`
	Device     string       `json:"device,omitempty"`
	MountPoint string       `json:"mount_point,omitempty"`
	FSType     string       `json:"fstype,omitempty"`
	Source     string       `json:"mount_source,omitempty"`
	Inode      uint64       `json:"inode"`
	Size       int64        `json:"size"`   // -1: no holder could be stat'ed
	Blocks     int64        `json:"blocks"` // 512-byte sectors
	Path       string       `json:"path"`
	FSPath     string       `json:"fs_path,omitempty"`
	Rescue     string       `json:"rescue_command,omitempty"`
	Notes      []string     `json:"notes,omitempty"`
	Holders    []jsonHolder `json:"holders"`
}

// jsonHolder is one thing keeping a deleted file alive (live.Holder).
type jsonHolder struct {
	Kind       string `json:"kind"` // fd, map, loop
	PID        int    `json:"pid,omitempty"`
	Command    string `json:"command,omitempty"`
	FD         *int   `json:"fd,omitempty"`
	Map        string `json:"map,omitempty"`
	Loop       string `json:"loop,omitempty"`
	LoopOffset int64  `json:"loop_offset,omitempty"`
	LoopSize   int64  `json:"loop_size,omitempty"`
	Copy       string `json:"copy"`
}

// jsonLiveCopy is what one copy did (live.CopyResult).
type jsonLiveCopy struct {
	Source         string `json:"source"`
	Path           string `json:"path"`
	Inode          uint64 `json:"inode"`
	Out            string `json:"out"`
	Size           int64  `json:"size"`
	DataBytes      int64  `json:"data_bytes"`
	Blocks         int64  `json:"blocks"`
	SourceBlocks   int64  `json:"source_blocks"`
	SHA256         string `json:"sha256"`
	Verified       bool   `json:"verified"`
	Frozen         []int  `json:"frozen,omitempty"`
	AlreadyStopped []int  `json:"already_stopped,omitempty"`
	Changed        bool   `json:"changed_during_copy,omitempty"`
	MountedRW      string `json:"loop_mounted_rw,omitempty"`
	SameFS         bool   `json:"same_filesystem,omitempty"`
}

// jsonLiveCopyAll is one file of 'live --all' (copyAllResult): the copy's
// fields (none when there is no result) and what went wrong.
type jsonLiveCopyAll struct {
	*jsonLiveCopy
	Error    string `json:"error,omitempty"`
	ExitCode int    `json:"exit_code,omitempty"`
	Gone     bool   `json:"gone,omitempty"`
}

func toJSONLiveReport(r *live.Report, possible []string) jsonLiveReport {
	j := jsonLiveReport{Unreadable: r.Unreadable, Possible: possible}
	if r.Files != nil {
		j.Files = make([]jsonLiveFile, 0, len(r.Files))
	}
	for _, f := range r.Files {
		jf := jsonLiveFile{
			Major: f.Major, Minor: f.Minor, Device: f.Device, MountPoint: f.MountPoint, FSType: f.FSType,
			Source: f.Source, Inode: f.Inode, Size: f.Size, Blocks: f.Blocks, Path: f.Path, FSPath: f.FSPath,
			Rescue: f.Rescue, Notes: f.Notes,
		}
		if f.Holders != nil {
			jf.Holders = make([]jsonHolder, 0, len(f.Holders))
		}
		for _, h := range f.Holders {
			jf.Holders = append(jf.Holders, jsonHolder{
				Kind: h.Kind.String(), PID: h.PID, Command: h.Command, FD: h.FD, Map: h.Map, Loop: h.Loop,
				LoopOffset: h.LoopOffset, LoopSize: h.LoopSize, Copy: h.Copy,
			})
		}
		j.Files = append(j.Files, jf)
	}
	return j
}

func toJSONLiveCopy(r *live.CopyResult) *jsonLiveCopy {
	if r == nil {
		return nil
	}
	j := jsonLiveCopy(*r) // same fields: a field added to CopyResult fails here until the schema has it
	return &j
}

func toJSONLiveCopyAll(rs []copyAllResult) []jsonLiveCopyAll {
	out := make([]jsonLiveCopyAll, 0, len(rs))
	for _, r := range rs {
		out = append(out, jsonLiveCopyAll{jsonLiveCopy: toJSONLiveCopy(r.CopyResult), Error: r.Error, ExitCode: r.ExitCode, Gone: r.Gone})
	}
	return out
}
