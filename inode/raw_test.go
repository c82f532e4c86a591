package inode

import (
	"bytes"
	"testing"
)

// TestRawHelpers: the by-range copy keeps i_block, and an empty extent
// header replaces only a header that is not one (the rest of i_block stays,
// as ext4_fc_replay_inode leaves it).
func TestRawHelpers(t *testing.T) {
	dst, src := bytes.Repeat([]byte{0xAA}, 256), bytes.Repeat([]byte{0x55}, 160)
	ReplaceExceptIBlock(dst, src)
	for i, c := range dst {
		want := byte(0x55)
		switch {
		case i >= offBlock && i < offGeneration, i >= len(src):
			want = 0xAA
		}
		if c != want {
			t.Fatalf("byte %#x = %#x, want %#x", i, c, want)
		}
	}
	ib := RawIBlock(dst)
	if len(ib) != BlockBytes {
		t.Fatalf("i_block is %d bytes", len(ib))
	}
	if _, ok := ExtentRootHeader(ib); ok {
		t.Fatal("0xAA bytes read as an extent header")
	}
	EnsureExtentHeader(ib)
	h, ok := ExtentRootHeader(ib)
	if !ok || h.Max != RootMaxEntries || h.Entries != 0 || h.Depth != 0 || ib[ExtentHeaderSize] != 0xAA {
		t.Fatalf("header %+v ok %v, byte after it %#x", h, ok, ib[ExtentHeaderSize])
	}
	ib[2] = 3 // entries
	EnsureExtentHeader(ib)
	if h, _ := ExtentRootHeader(ib); h.Entries != 3 {
		t.Fatal("a valid header was reset")
	}
	if n, ok := RawExtraIsize(src); !ok || n != 0x5555 {
		t.Fatalf("extra isize %#x %v", n, ok)
	}
	if _, ok := RawExtraIsize(src[:GoodOldSize]); ok {
		t.Fatal("extra isize read past a 128-byte inode")
	}
}
