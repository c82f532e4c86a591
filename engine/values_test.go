package engine

import (
	"encoding/json"
	"testing"
)

// valuesJSON holds the typed values under the names the CLI's JSON uses
// (the schema itself lives in cmd/ext4relink; Orphan carries no tags).
type valuesJSON struct {
	Source OrphanSource `json:"source"`
	Type   FileType     `json:"type"`
	State  OrphanState  `json:"state"`
}

// TestValuesJSON: the typed values marshal as their String(), the strings
// the CLI's JSON has always used, and parse back.
func TestValuesJSON(t *testing.T) {
	o := valuesJSON{Source: SourceOrphanFile, Type: TypeSymlink, State: StatePastEOF}
	b, err := json.Marshal(o)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	json.Unmarshal(b, &m)
	if m["source"] != "orphan_file" || m["type"] != "symlink" || m["state"] != "past-eof" {
		t.Fatalf("%s", b)
	}
	var back valuesJSON
	if err := json.Unmarshal(b, &back); err != nil || back.Source != o.Source || back.Type != o.Type || back.State != o.State {
		t.Fatalf("%+v %v", back, err)
	}
	if err := json.Unmarshal([]byte(`{"state":"bogus"}`), &back); err == nil {
		t.Fatal("an unknown state parsed")
	}
	for _, v := range []interface{ String() string }{SourceChain, SourceStranded, SourceLinked, SourceScan, StateDeletedOpen, StateTruncating, StateReleasing, TypeFile, TypeDir, TypeFifo, TypeSocket, TypeChardev, TypeBlockdev, TypeUnknown} {
		if v.String() == "" {
			t.Errorf("%#v has no name", v)
		}
	}
	if (OrphanState(0)).String() != "" || OrphanState(99).String() != "invalid(99)" {
		t.Fatal("zero or out-of-range value")
	}
}
