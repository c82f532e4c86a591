package dirent

import (
	"encoding/binary"
	"testing"
)

// TestDots: "." and ".." are recognised and ".." retargeted in a block 0
// built record by record; a dx node is told from a leaf.
func TestDots(t *testing.T) {
	b := make([]byte, 1024)
	put := func(off int, ino uint32, recLen int, name string) {
		binary.LittleEndian.PutUint32(b[off:], ino)
		binary.LittleEndian.PutUint16(b[off+4:], uint16(recLen))
		b[off+6], b[off+7] = byte(len(name)), FtDir
		copy(b[off+8:], name)
	}
	put(0, 30, 12, ".")
	put(12, 2, 1012, "..")
	if err := CheckDots(b, 30); err != nil {
		t.Fatal(err)
	}
	if CheckDots(b, 31) == nil || CheckDots(b[:20], 30) == nil {
		t.Fatal("wrong inode or a short block accepted")
	}
	SetParent(b, 77)
	if binary.LittleEndian.Uint32(b[12:]) != 77 || CheckDots(b, 30) != nil {
		t.Fatal("SetParent")
	}
	if IsDxNode(b) {
		t.Fatal("block 0 taken for a dx node")
	}
	n := make([]byte, 1024)
	binary.LittleEndian.PutUint16(n[4:], 1024)
	if !IsDxNode(n) || IsDxNode(n[:4]) {
		t.Fatal("IsDxNode")
	}
	ib := make([]byte, 60)
	SetInlineParent(ib, 99)
	if binary.LittleEndian.Uint32(ib) != 99 {
		t.Fatal("SetInlineParent")
	}
}
