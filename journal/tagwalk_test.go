package journal

import (
	"math/rand/v2"
	"testing"
)

// TestTagWalkSameAsTags: tagWalk visits the same tags with the same
// values as firstTag, nextTag and decodeTag, for every tag layout and
// block sizes down to those where no tag fits, on blocks of random bytes
// (random flags: any mix of SAME_UUID and LAST_TAG, or none LAST_TAG).
func TestTagWalkSameAsTags(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, in := range []uint32{0, Incompat64Bit, IncompatCsumV2, IncompatCsumV2 | Incompat64Bit, IncompatCsumV3, IncompatCsumV3 | Incompat64Bit} {
		for _, bs := range []int{HeaderSize, 16, 24, 28, 40, 64, 1024, 4096} {
			fm := Format{BlockSize: bs, Incompat: in}
			for k := range 200 {
				b := make([]byte, bs)
				for i := range b {
					b[i] = byte(rng.Uint32())
					if k%2 == 1 {
						b[i] &^= byte(FlagLastTag) // no last tag: walk to the tail
					}
				}
				var want, got [][4]uint64
				for off := firstTag(b, fm); off >= 0; off = nextTag(b, fm, off) {
					h, f, c := decodeTag(b, off, fm)
					want = append(want, [4]uint64{uint64(off), h, uint64(f), uint64(c)})
				}
				tw := newTagWalk(b, fm)
				for off := tw.first(); off >= 0; off = tw.next(off) {
					h, f, c := tw.decode(off)
					got = append(got, [4]uint64{uint64(off), h, uint64(f), uint64(c)})
				}
				if len(got) != len(want) {
					t.Fatalf("incompat %#x, %d-byte block: %d tags, want %d", in, bs, len(got), len(want))
				}
				for i := range got {
					if got[i] != want[i] {
						t.Fatalf("incompat %#x, %d-byte block, tag %d: %v, want %v", in, bs, i, got[i], want[i])
					}
				}
			}
		}
	}
}
