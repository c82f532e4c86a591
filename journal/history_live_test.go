package journal

import (
	"bytes"
	"fmt"
	"testing"
)

// histDump is everything a History tells, for comparing two of them.
func histDump(t *testing.T, h *History) string {
	t.Helper()
	var b bytes.Buffer
	fmt.Fprintf(&b, "%+v len %d counts %d %d %d %d %d\n", h.Transactions(), h.Len(), h.Skipped, h.Incomplete, h.BadMeta, h.Overwritten, h.Unreadable)
	for _, blk := range h.Blocks() {
		for _, v := range h.Versions(blk) {
			d, err := h.Read(v)
			fmt.Fprintf(&b, "%+v %v %x\n", v, err, d)
		}
	}
	return b.String()
}

// TestHistoryWithLiveLog: taking the live log's blocks from the scan's Log
// (HistoryWith) gives the same History as reading them: a live log of
// several transactions, one wrapping around the end of the log area, with
// escaped blocks, runs broken by a revoke and an older checkpointed
// transaction before it.
func TestHistoryWithLiveLog(t *testing.T) {
	for _, f := range histFormats {
		t.Run(f.name, func(t *testing.T) {
			hj := newHistJournal(t, f.incompat, f.compat)
			hj.tx(4, 990, lb(10, 1), lb(11, 1), lb(12, 1)) // checkpointed, overwritten in part below
			var blocks []LoggedBlock
			for b := uint64(100); b < 140; b++ {
				v := byte(2)
				if b == 120 {
					v = 0xEE // escaped
				}
				blocks = append(blocks, lb(b, v))
			}
			s5, _ := hj.tx(5, 1000, blocks...) // wraps past the end of the area
			rv, err := NewRevoke(hj.j.Format, 6, []uint64{11})
			if err != nil {
				t.Fatal(err)
			}
			rv.SetChecksum(hj.j.Seed())
			hj.put(hj.pos, rv.Encode())
			hj.pos++
			hj.tx(6, 0, lb(10, 3), lb(11, 3), lb(200, 3), lb(201, 3))
			hj.tx(7, 0, lb(10, 4))
			hj.setLive(s5, 5)
			s0 := hj.j.Stats().Reads
			full := mustHistory(t, hj.j)
			s1 := hj.j.Stats().Reads
			want := histDump(t, full)
			l, err := hj.j.Scan()
			if err != nil {
				t.Fatal(err)
			}
			s2 := hj.j.Stats().Reads
			h, err := hj.j.HistoryWith(l)
			if err != nil {
				t.Fatal(err)
			}
			// History reads the area and scans the live log; HistoryWith
			// reads the area only, without the live log with checksums
			// v2/v3.
			area := (s1 - s0) - (s2 - s1)
			if s3 := hj.j.Stats().Reads; hj.j.Format.CsumV2or3() && s3-s2 >= area {
				t.Fatalf("HistoryWith read %d blocks, History %d of the area", s3-s2, area)
			}
			if got := histDump(t, h); got != want {
				t.Fatalf("HistoryWith:\n%s\nHistory:\n%s", got, want)
			}
			if f.csum && len(h.Transactions()) < 3 {
				t.Fatalf("transactions %+v", h.Transactions())
			}
		})
	}
}
