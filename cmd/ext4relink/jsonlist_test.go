package main

import (
	"encoding/json"
	"testing"

	"github.com/ext4relink/ext4relink/engine"
)

// TestListJSONPathFrom: path_from is the PathSource's name, and there is no
// path_from at all when no name was found; path is always present.
func TestListJSONPathFrom(t *testing.T) {
	o := engine.Orphan{Inode: 12, Source: engine.SourceOrphanFile, Type: engine.TypeSymlink, State: engine.StatePastEOF}
	for _, s := range []engine.PathSource{engine.PathFromJournal, engine.PathFromRemnant, engine.PathFromLive} {
		m := marshalMap(t, toJSONOrphan(o, engine.NameResult{Path: "/a", From: s}))
		if m["path_from"] != s.String() || s.String() == "" || m["path"] != "/a" {
			t.Fatalf("%v", m)
		}
		if m["source"] != "orphan_file" || m["type"] != "symlink" || m["state"] != "past-eof" {
			t.Fatalf("%v", m)
		}
	}
	m := marshalMap(t, toJSONOrphan(o, engine.NameResult{Reason: "no entry"}))
	if _, ok := m["path_from"]; ok || m["path_reason"] != "no entry" || m["path"] != "" {
		t.Fatalf("%v", m)
	}
}

func marshalMap(t *testing.T, v any) map[string]any {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}
