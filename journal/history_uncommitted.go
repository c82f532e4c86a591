package journal

// DropUncommitted removes from h, when the log is empty (s_start 0), every
// transaction at or past s_sequence, the sequence jbd2 would write next:
// such a transaction was written into the log area but never committed by
// the journal superblock (a commit interrupted before its commit point,
// such as an undelete's). It is no evidence of anything the filesystem
// held; the copies it overwrote stay dropped. It returns how many
// transactions it removed (counted in Skipped).
func (h *History) DropUncommitted() int {
	sb := h.j.SB
	if sb.Start != 0 {
		return 0
	}
	newIdx := make([]int32, len(h.txs))
	var txs []HistTx
	for i, t := range h.txs {
		if tidGEQ(t.Sequence, sb.Sequence) {
			newIdx[i] = -1
			continue
		}
		newIdx[i] = int32(len(txs))
		txs = append(txs, t)
	}
	dropped := len(h.txs) - len(txs)
	if dropped == 0 {
		return 0
	}
	runs := h.runs[:0]
	n := 0
	for _, r := range h.runs {
		if k := newIdx[r.tx]; k >= 0 {
			r.tx = k
			runs = append(runs, r)
			n += int(r.n)
		}
	}
	// Revokes the dropped transactions logged stay in h.revoked: a copy
	// they mark as revoked is treated as less trustworthy, the safe side.
	h.txs, h.runs, h.n = txs, runs, n
	h.Skipped += dropped
	return dropped
}
