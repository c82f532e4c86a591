package journal

import (
	"errors"
	"io"
	"testing"

	"github.com/ext4relink/ext4relink/super"
)

// FuzzHistory puts fuzzed blocks anywhere in a small journal's log area
// (1 KiB blocks, 1024 blocks, a fixture's journal superblock when built)
// and reads its History: no panic, every copy kept lies in the log area
// and reads back or fails its tag checksum, every transaction is newest
// first.
func FuzzHistory(f *testing.F) {
	for _, n := range []string{"ext4-1k-journal", "ext3-1k-journal"} {
		js := fixtureJournal(f, n, 12)
		if len(js) < 2 {
			continue
		}
		var log []byte
		for _, b := range js[1:] {
			log = append(log, b...)
		}
		f.Add(log, uint16(1), uint16(0), uint8(0))
		f.Add(log, uint16(1015), uint16(3), uint8(1))
	}
	f.Add(make([]byte, 4096), uint16(5), uint16(0), uint8(2))
	f.Fuzz(func(t *testing.T, log []byte, at, dup uint16, opts uint8) {
		const bs = 1024
		sb := &Superblock{Header: Header{Magic: Magic, BlockType: BlockSuperblockV2}, BlockSize: bs,
			MaxLen: 1024, First: 1, Sequence: 1}
		switch opts % 4 {
		case 0:
			sb.FeatureIncompat, sb.ChecksumType = IncompatCsumV3, ChecksumCRC32C
		case 1:
			sb.FeatureIncompat, sb.ChecksumType = IncompatCsumV2|Incompat64Bit, ChecksumCRC32C
		case 2:
			sb.FeatureCompat = CompatChecksum
		}
		if len(log) >= 12 {
			sb.Sequence = uint32(log[8])<<24 | uint32(log[9])<<16 | uint32(log[10])<<8 | uint32(log[11])
		}
		sb.SetChecksum()
		dev := &memDev{bs: bs, blocks: map[uint64][]byte{}}
		put := func(jb uint64, b []byte) {
			blk := make([]byte, bs)
			copy(blk, b)
			dev.blocks[jb+100] = blk
		}
		put(0, sb.Encode())
		// The log twice: at a fuzzed position and again dup blocks later,
		// so that copies overlap and overwrite each other.
		for _, base := range []uint64{uint64(at), uint64(at) + uint64(dup)} {
			pos := base%1023 + 1
			for i := 0; i*bs < len(log) && i < 48; i++ {
				put(pos, log[i*bs:min(len(log), (i+1)*bs)])
				if pos++; pos >= 1024 {
					pos = 1
				}
			}
			if dup == 0 {
				break
			}
		}
		bmap := func(jb uint64) (uint64, error) {
			if jb >= 1024 {
				return 0, io.EOF
			}
			return jb + 100, nil
		}
		j, err := Load(dev, bs, bmap, 1024)
		if err != nil {
			return
		}
		h, err := j.History()
		if err != nil {
			t.Fatal(err) // the device never fails
		}
		txs := h.Transactions()
		for i := 1; i < len(txs); i++ {
			if txs[0].Sequence-txs[i-1].Sequence > txs[0].Sequence-txs[i].Sequence {
				t.Fatalf("transactions out of order: %d before %d", txs[i-1].Sequence, txs[i].Sequence)
			}
		}
		n := 0
		for _, b := range h.Blocks() {
			for _, v := range h.Versions(b) {
				n++
				if v.JBlock < j.First || v.JBlock >= j.Last {
					t.Fatalf("copy in journal block %d", v.JBlock)
				}
				if _, err := h.Read(v); err != nil && !errors.Is(err, super.ErrChecksum) {
					t.Fatal(err)
				}
			}
		}
		if n != h.Len() {
			t.Fatalf("%d versions, Len %d", n, h.Len())
		}
	})
}
