package undo

import (
	"bytes"
	"encoding/binary"
	"testing"
)

// FuzzUndoDecode: the undo header and key block decoders never panic, and
// a header that decodes encodes back to the same bytes.
func FuzzUndoDecode(f *testing.F) {
	h := Header{NumKeys: 2, SuperOffset: 1, KeyOffset: 3, BlockSize: 1024, FSBlockSize: 1024, State: StateFinished}
	copy(h.Magic[:], Magic)
	f.Add(h.Encode(), 2)
	f.Add(EncodeKeyBlock(1024, []Key{{FSBlock: 1, Crc: 7, Size: 1024}, {FSBlock: 9, Crc: 8, Size: 1024}}), 2)
	f.Add([]byte{}, -1)
	f.Fuzz(func(t *testing.T, b []byte, n int) {
		if h, err := DecodeHeader(b); err == nil && !bytes.Equal(h.Encode(), b[:HeaderSize]) {
			t.Fatal("header does not encode back to its bytes")
		}
		keys, err := DecodeKeyBlock(b, n)
		if err == nil && len(keys) != n {
			t.Fatalf("%d keys, asked for %d", len(keys), n)
		}
		if err == nil && n == KeysPerBlock(uint32(len(b))) && len(b)%KeySize == 0 && binary.LittleEndian.Uint64(b[8:]) == 0 && !bytes.Equal(EncodeKeyBlock(uint32(len(b)), keys), b) {
			t.Fatal("a full key block does not encode back to its bytes")
		}
	})
}
