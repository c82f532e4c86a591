package engine

import (
	"encoding/json"
	"testing"

	"github.com/ext4relink/ext4relink/dirent"
)

// pathSourceJSON holds a PathSource under the name the CLI's JSON uses
// (the schema itself, path_from omitted when unknown, lives in
// cmd/ext4relink; NameResult carries no tags).
type pathSourceJSON struct {
	From PathSource `json:"path_from"`
}

// TestNameResultJSON: a PathSource marshals as its name and parses back.
func TestNameResultJSON(t *testing.T) {
	for _, s := range []PathSource{PathFromJournal, PathFromRemnant, PathFromLive} {
		b, err := json.Marshal(pathSourceJSON{From: s})
		if err != nil {
			t.Fatal(err)
		}
		var m map[string]any
		json.Unmarshal(b, &m)
		if m["path_from"] != s.String() || s.String() == "" {
			t.Fatalf("%s", b)
		}
		var back pathSourceJSON
		if err := json.Unmarshal(b, &back); err != nil || back.From != s {
			t.Fatalf("%+v %v", back, err)
		}
	}
	var s PathSource
	if err := json.Unmarshal([]byte(`"bogus"`), &s); err == nil {
		t.Fatal("an unknown source parsed")
	}
}

// FuzzNameRecords: any bytes as a directory block, live (remnants
// searched) or logged, with and without metadata_csum: no panic, and
// every entry found names an inode of interest with a valid name.
func FuzzNameRecords(f *testing.F) {
	p := dirent.Params{BlockSize: 1024, InodesCount: 1 << 20, FileType: true}
	b, _ := dirent.NewDirBlock(p)
	b, _ = dirent.AddEntry(b, dirent.NewEntry{Name: []byte("orders.db"), Inode: 77, FileType: dirent.FtRegFile}, p)
	f.Add(b, uint32(77), false, true)
	f.Add(make([]byte, 1024), uint32(0), true, false)
	f.Fuzz(func(t *testing.T, block []byte, ino uint32, csum, live bool) {
		p := dirent.Params{BlockSize: 1024, InodesCount: 1 << 20, FileType: true, Csum: csum}
		n := &namer{interest: map[uint32]bool{ino: true, 77: true}, ev: map[uint32][]evidence{}}
		base := evidence{from: PathFromJournal, seq: 3}
		if live {
			base = evidence{from: PathFromLive}
		}
		if space, err := dirent.LeafSpace(block, p); err == nil {
			n.records(space, p, dirRef{2, 0}, 9, base)
		}
		n.records(block, p, dirRef{2, 0}, 9, base) // unvalidated: WalkRecords refuses it
		for i, es := range n.ev {
			for _, e := range es {
				if !n.interest[i] || e.ino != i || e.name == "" || len(e.name) > dirent.NameMax {
					t.Fatalf("evidence %+v for %d", e, i)
				}
			}
		}
	})
}
