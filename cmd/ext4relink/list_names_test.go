package main

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/ext4relink/ext4relink/fixtures"
)

// TestListPaths: list shows each orphan's original path, where it came
// from, and the removed directories as the parents they are; an orphan
// that never had a name gets no path and a reason.
func TestListPaths(t *testing.T) {
	img := fixtures.Get(t, "ext4-rmtree")
	code, out, errs := runCLI("list", "--dev", img.Path, "--json")
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, errs)
	}
	var got []struct {
		Inode    uint32   `json:"inode"`
		Path     *string  `json:"path"`
		From     string   `json:"path_from"`
		ParentOf []uint32 `json:"parent_of"`
	}
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatal(err)
	}
	byIno := map[uint32]int{}
	for i, o := range got {
		byIno[o.Inode] = i
	}
	var file uint32
	for _, m := range img.Orphans {
		o := got[byIno[uint32(m.Inode)]]
		if o.Path == nil || *o.Path != "/"+m.Path || o.From != "journal" {
			t.Errorf("inode %d: %+v, want /%s from the journal", m.Inode, o, m.Path)
		}
		if m.Kind == "file" {
			file = uint32(m.Inode)
		}
	}
	code, out, _ = runCLI("list", "--dev", img.Path)
	if code != exitOK || !strings.Contains(out, "PATH") || !strings.Contains(out, fmt.Sprintf("/tree/a/b (parent of %d)", file)) ||
		!strings.Contains(out, "/tree/a/b/held.bin") {
		t.Fatalf("exit %d\n%s", code, out)
	}

	img = fixtures.Get(t, "ext4-many")
	code, out, _ = runCLI("list", "--dev", img.Path)
	if code != exitOK || !strings.Contains(out, "PATH ?: 2 orphan(s)") {
		t.Fatalf("exit %d\n%s", code, out)
	}
	code, out, errs = runCLI("list", "--dev", img.Path, "--json")
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, errs)
	}
	var many []map[string]any
	if err := json.Unmarshal([]byte(out), &many); err != nil {
		t.Fatal(err)
	}
	for _, m := range img.Orphans {
		for _, o := range many {
			if o["inode"].(float64) != float64(m.Inode) {
				continue
			}
			tmp := strings.Contains(m.Path, "(O_TMPFILE")
			if tmp && (o["path"] != "" || o["path_reason"] == nil) || !tmp && o["path"] != "/"+m.Path {
				t.Errorf("inode %d (%s): path %v reason %v", m.Inode, m.Path, o["path"], o["path_reason"])
			}
		}
	}
}
