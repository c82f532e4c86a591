package layout

import (
	"bytes"
	"testing"
)

type rec struct {
	A uint8
	B uint16
	C uint32
	D uint64
	E [3]byte
}

func (r *rec) fields() []Field {
	return []Field{F(0, &r.A), F(1, &r.B), F(3, &r.C), F(7, &r.D), F(15, r.E[:])}
}

func TestRoundTrip(t *testing.T) {
	b := []byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18}
	var r rec
	f := r.fields()
	if err := Check(f, len(b)); err != nil {
		t.Fatal(err)
	}
	if !Covered(f, len(b)) {
		t.Fatal("not covered")
	}
	Decode(b, f)
	if r.A != 1 || r.B != 0x0302 || r.C != 0x07060504 || r.D != 0x0f0e0d0c0b0a0908 || r.E != [3]byte{16, 17, 18} {
		t.Fatalf("decode: %+v", r)
	}
	out := make([]byte, len(b))
	Encode(out, f)
	if !bytes.Equal(out, b) {
		t.Fatalf("encode: %v", out)
	}
}

func TestShortRecordZeroesTail(t *testing.T) {
	r := rec{D: 99, E: [3]byte{1, 1, 1}}
	Decode(make([]byte, 7), r.fields())
	if r.D != 0 || r.E != [3]byte{} {
		t.Fatalf("tail not zeroed: %+v", r)
	}
	short := make([]byte, 7)
	Encode(short, r.fields()) // must not panic
}

func TestCheckOverlap(t *testing.T) {
	var a, b uint32
	if Check([]Field{F(0, &a), F(2, &b)}, 8) == nil {
		t.Fatal("overlap not detected")
	}
	if Check([]Field{F(0, &a), F(4, &b)}, 6) == nil {
		t.Fatal("overrun not detected")
	}
}
