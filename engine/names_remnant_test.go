package engine

import (
	"testing"

	"github.com/ext4relink/ext4relink/dirent"
)

// remnantBlock is a directory block holding keep.txt (50), gone.db (77)
// and after (51), with gone.db deleted as kernels before 5.13 did: merged
// into the record before it, its bytes left in that record's slack; wipe
// zeroes the name as newer kernels do.
func remnantBlock(t *testing.T, p dirent.Params, wipe bool) []byte {
	t.Helper()
	b, err := dirent.NewDirBlock(p)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range []dirent.NewEntry{{Name: []byte("keep.txt"), Inode: 50, FileType: dirent.FtRegFile},
		{Name: []byte("gone.db"), Inode: 77, FileType: dirent.FtRegFile}, {Name: []byte("after"), Inode: 51, FileType: dirent.FtRegFile}} {
		if b, err = dirent.AddEntry(b, e, p); err != nil {
			t.Fatal(err)
		}
	}
	k, err := dirent.DecodeBlock(b, p)
	if err != nil {
		t.Fatal(err)
	}
	for i := 1; i < len(k.Entries); i++ {
		if string(k.Entries[i].Name) != "gone.db" {
			continue
		}
		gone, prev := k.Entries[i], &k.Entries[i-1]
		if wipe {
			clear(gone.Name)
		}
		prev.Slack = append(prev.Slack, gone.Encode()...)
		prev.RecLen += gone.RecLen
		k.Entries = append(k.Entries[:i], k.Entries[i+1:]...)
		break
	}
	return k.Encode()
}

// TestRemnants: a deleted entry left in the slack of a live block is
// found, with its directory and file type; a wiped one is not.
func TestRemnants(t *testing.T) {
	p := dirent.Params{BlockSize: 1024, InodesCount: 1000, FileType: true}
	for _, wipe := range []bool{false, true} {
		b := remnantBlock(t, p, wipe)
		n := &namer{interest: map[uint32]bool{77: true, 50: true}, ev: map[uint32][]evidence{}}
		n.records(b, p, dirRef{12, 0}, 345, evidence{from: PathFromLive})
		if len(n.ev[50]) != 1 || n.ev[50][0].from != PathFromLive {
			t.Fatalf("wipe %v: live entry: %+v", wipe, n.ev[50])
		}
		got := n.ev[77]
		if wipe {
			if len(got) != 0 {
				t.Fatalf("a wiped name gave %+v", got)
			}
			continue
		}
		if len(got) != 1 || got[0].name != "gone.db" || got[0].from != PathFromRemnant || got[0].parent != 12 ||
			got[0].block != 345 || got[0].ft != dirent.FtRegFile {
			t.Fatalf("remnant: %+v", got)
		}
		// A journal copy's slack is not searched: its used records are
		// the evidence.
		n = &namer{interest: map[uint32]bool{77: true}, ev: map[uint32][]evidence{}}
		n.records(b, p, dirRef{12, 0}, 345, evidence{from: PathFromJournal, seq: 9})
		if len(n.ev[77]) != 0 {
			t.Fatalf("remnant from a journal copy: %+v", n.ev[77])
		}
	}
}
