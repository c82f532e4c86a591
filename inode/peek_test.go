package inode

import "testing"

// TestPeekAgreesWithDecode: Peek reads the same i_mode, i_links_count and
// i_dtime as the layout table Decode and Encode use.
func TestPeekAgreesWithDecode(t *testing.T) {
	in, err := Decode(make([]byte, 256))
	if err != nil {
		t.Fatal(err)
	}
	in.Mode, in.LinksCount, in.Dtime = 0o100644, 3, 0x01020304
	g, ok := Peek(in.Encode())
	if !ok || g != (Glance{Mode: 0o100644, LinksCount: 3, Dtime: 0x01020304}) {
		t.Fatalf("Peek = %+v, %v", g, ok)
	}
	if _, ok := Peek(make([]byte, GoodOldSize-1)); ok {
		t.Fatal("a short record peeked")
	}
}
