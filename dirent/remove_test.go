package dirent

import (
	"errors"
	"testing"
)

// TestRemoveEntry: on a block built by the codec (no image needed), the
// first record is marked unused, a later one is absorbed by its
// predecessor, a refused removal changes nothing, a missing name is no
// error, and the block stays valid throughout.
func TestRemoveEntry(t *testing.T) {
	p := Params{BlockSize: 1024, InodesCount: 100, FileType: true, Csum: true}
	b, err := NewDirBlock(p)
	if err != nil {
		t.Fatal(err)
	}
	for i, name := range []string{"a", "bb", "ccc"} {
		if b, err = AddEntry(b, NewEntry{Name: []byte(name), Inode: uint32(11 + i), FileType: FtRegFile}, p); err != nil {
			t.Fatal(err)
		}
	}
	lookup := func(name string) (uint32, bool) {
		space, err := LeafSpace(b, p)
		if err != nil {
			t.Fatal(err)
		}
		e, found, err := Lookup(space, []byte(name), p)
		if err != nil {
			t.Fatal(err)
		}
		return e.Inode, found
	}
	remove := func(name string, accept func(Entry) error) (bool, error) {
		space, err := LeafSpace(b, p)
		if err != nil {
			t.Fatal(err)
		}
		found, err := RemoveEntry(space, []byte(name), p, accept)
		if err == nil {
			if err := SetLeafChecksum(b, p); err != nil {
				t.Fatal(err)
			}
			if err := ValidateLeaf(b, p); err != nil {
				t.Fatalf("removing %q left an invalid block: %v", name, err)
			}
		}
		return found, err
	}
	ok := func(Entry) error { return nil }
	refuse := errors.New("refused")
	if found, err := remove("bb", func(Entry) error { return refuse }); found || !errors.Is(err, refuse) {
		t.Fatalf("a refused removal: %v %v", found, err)
	}
	if _, found := lookup("bb"); !found {
		t.Fatal("a refused removal removed the name")
	}
	for _, name := range []string{"bb", "a", "ccc"} {
		if found, err := remove(name, ok); !found || err != nil {
			t.Fatalf("removing %q: %v %v", name, found, err)
		}
		if _, found := lookup(name); found {
			t.Fatalf("%q is still there", name)
		}
	}
	if found, err := remove("a", ok); found || err != nil {
		t.Fatalf("removing a missing name: %v %v", found, err)
	}
}
