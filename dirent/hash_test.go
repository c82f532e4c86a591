package dirent

import (
	"errors"
	"math/rand/v2"
	"testing"

	"github.com/ext4relink/ext4relink/super"
)

// hashNames are names debugfs can take on its command line: no blanks,
// quotes, backslashes or '#', many with bytes >= 0x80 where signed and
// unsigned chars differ, and lengths crossing the 16- and 32-byte chunks.
// A leading '-' would be taken for an option.
func hashNames() [][]byte {
	names := [][]byte{[]byte("a"), []byte("hello"), []byte("lost+found"), []byte("entry-00000-with-a-longish-name"),
		[]byte("café"), []byte("\xff"), []byte("\x80\x81\x82\x83"), []byte("0123456789abcdef"),
		[]byte("0123456789abcdef0123456789abcdef"), []byte("0123456789abcdef0123456789abcdef0")}
	r := rand.New(rand.NewPCG(1, 2))
	for i := range 200 {
		n := 1 + r.IntN(40)
		if i%10 == 0 {
			n = 1 + r.IntN(255)
		}
		b := make([]byte, 0, n)
		for len(b) < n {
			c := byte(0x21 + r.IntN(0xFF-0x21+1))
			if c == '"' || c == '\'' || c == '\\' || c == '#' || c == '-' && len(b) == 0 {
				continue
			}
			b = append(b, c)
		}
		names = append(names, b)
	}
	return names
}

// TestHashAgainstDebugfs compares every hash version, signed and unsigned,
// with a real seed and with a zero seed (default MD4 values), against
// debugfs dx_hash.
func TestHashAgainstDebugfs(t *testing.T) {
	img, path := readOnlyImage(t, "ext4-4k-freeze")
	_ = img
	seeds := [][4]uint32{{}, {0x4e888372, 0x724bbd02, 0x194322a6, 0x93d79e7a}}
	names := hashNames()
	for v := HashLegacy; v <= HashTeaUnsigned; v++ {
		for _, seed := range seeds {
			want := debugfsHashes(t, path, v, seed, names)
			for i, n := range names {
				h, m, err := DirHash(uint8(v), seed, n)
				if err != nil {
					t.Fatal(err)
				}
				if h != want[i][0] || m != want[i][1] {
					t.Errorf("version %d seed %x name %q: got %#x/%#x, debugfs %#x/%#x", v, seed, n, h, m, want[i][0], want[i][1])
				}
			}
		}
	}
}

func TestHashSignedUnsignedDiffer(t *testing.T) {
	for _, v := range []uint8{HashLegacy, HashHalfMD4, HashTea} {
		s, _, _ := DirHash(v, [4]uint32{}, []byte("caf\xc3\xa9"))
		u, _, _ := DirHash(EffectiveHashVersion(v, true), [4]uint32{}, []byte("caf\xc3\xa9"))
		if s == u {
			t.Errorf("version %d: signed and unsigned hash agree on a name with high bytes", v)
		}
		a, _, _ := DirHash(v, [4]uint32{}, []byte("plain"))
		b, _, _ := DirHash(EffectiveHashVersion(v, true), [4]uint32{}, []byte("plain"))
		if a != b {
			t.Errorf("version %d: signed and unsigned differ on ASCII", v)
		}
	}
}

func TestHashRefusals(t *testing.T) {
	if _, _, err := DirHash(HashSiphash, [4]uint32{}, []byte("x")); !errors.Is(err, super.ErrUnsupported) {
		t.Errorf("siphash: %v, want ErrUnsupported", err)
	}
	if _, _, err := DirHash(7, [4]uint32{}, []byte("x")); !errors.Is(err, super.ErrCorrupt) {
		t.Errorf("version 7: %v, want ErrCorrupt", err)
	}
	for v := range uint8(6) {
		if h, _, _ := DirHash(v, [4]uint32{}, []byte("x")); h&1 != 0 {
			t.Errorf("version %d: odd major hash", v)
		}
	}
}
