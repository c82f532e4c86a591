package journal

import "testing"

// TestTables checks that the field tables are sorted and do not overlap,
// and that the superblock's covers every one of its 1024 bytes.
func TestTables(t *testing.T) {
	var sb Superblock
	if err := checkTable(sb.fields(), SuperblockSize); err != nil {
		t.Fatal("superblock:", err)
	}
	next := 0
	for _, x := range sb.fields() {
		if x.Off != next {
			t.Fatalf("superblock: gap before %#x", x.Off)
		}
		next = x.End()
	}
	if next != SuperblockSize {
		t.Fatalf("superblock table ends at %#x", next)
	}
	var c Commit
	if err := checkTable(c.fields(), CommitHeaderSize); err != nil {
		t.Fatal("commit:", err)
	}
	var h Header
	if err := checkTable(h.fields(), HeaderSize); err != nil {
		t.Fatal("header:", err)
	}
	for _, fm := range []Format{{Incompat: IncompatCsumV3}, {Incompat: IncompatCsumV2 | Incompat64Bit}, {}, {Incompat: Incompat64Bit}} {
		var tg Tag
		var a, b uint16
		if err := checkTable(tg.tagFields(fm, &a, &b), fm.TagBytes()); err != nil {
			t.Fatalf("tag %+v: %v", fm, err)
		}
	}
}
