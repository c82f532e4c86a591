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
	entries := h.entries[:0]
	for _, e := range h.entries {
		if k := newIdx[e.tx]; k >= 0 {
			e.tx = k
			entries = append(entries, e)
		}
	}
	h.txs, h.entries = txs, entries
	h.Skipped += dropped
	return dropped
}
