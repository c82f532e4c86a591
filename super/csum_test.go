package super

import "testing"

func TestCrc32cKnownVector(t *testing.T) {
	// RFC 3720 B.4: crc32c of 32 zero bytes is 0x8a9136aa (with standard
	// pre/post inversion), i.e. ^Crc32c(^0, b).
	if got := ^Crc32c(^uint32(0), make([]byte, 32)); got != 0x8a9136aa {
		t.Fatalf("crc32c(zeros)=%#x", got)
	}
}

func TestCrc32cChains(t *testing.T) {
	b := []byte("hello, orphan")
	if Crc32c(Crc32c(7, b[:5]), b[5:]) != Crc32c(7, b) {
		t.Fatal("crc32c does not chain")
	}
}

func TestCrc16KnownVector(t *testing.T) {
	// CRC-16/ARC of "123456789" is 0xBB3D (init 0, reflected 0x8005).
	if got := Crc16(0, []byte("123456789")); got != 0xBB3D {
		t.Fatalf("crc16=%#x", got)
	}
}
