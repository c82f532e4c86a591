package journal

// The live log in the History. Recovery's scan (Journal.Scan, done when
// the filesystem is loaded) has already read and checked every descriptor,
// revoke and commit block of the live log; History takes them from its Log
// instead of reading them again, and reads only the rest of the log area.
// A transaction is taken only when the scan found it whole and valid, and
// only when the positions of its blocks agree with its tags; any other is
// read from the journal like the rest.

// importLive records, as metadata blocks already read, those of l's
// transactions that qualify (see liveMetas).
func (s *histScan) importLive(l *Log) {
	if l == nil || l.Empty || !s.j.Format.CsumV2or3() || s.j.Last <= s.j.First {
		return
	}
	s.h.live = l
	segs := map[uint32][]MetaBlock{} // each transaction's blocks, in log order
	for i := 0; i < len(l.Metadata); {
		k := i
		for k < len(l.Metadata) && l.Metadata[k].Sequence == l.Metadata[i].Sequence {
			k++
		}
		if _, dup := segs[l.Metadata[i].Sequence]; dup {
			segs[l.Metadata[i].Sequence] = nil // seen twice: take neither
		} else {
			segs[l.Metadata[i].Sequence] = l.Metadata[i:k]
		}
		i = k
	}
	for _, t := range l.Transactions {
		if ms, ok := s.liveMetas(l, t, segs[t.Sequence]); ok {
			for _, m := range ms {
				if _, known := s.at[m.pos]; known {
					continue
				}
				s.at[m.pos] = len(s.metas)
				s.metas = append(s.metas, m)
			}
		}
	}
}

// liveMetas builds the metadata blocks of transaction t from the scan:
// only for a committed, replayed transaction whose commit and metadata
// checksums verified (v2/v3), with no descriptor describing more blocks
// than the log holds, whose blocks seg end in its commit block, and whose
// tags, in log order, sit exactly in the journal blocks after each
// descriptor up to the next metadata block.
func (s *histScan) liveMetas(l *Log, t *Transaction, seg []MetaBlock) ([]histMeta, bool) {
	if !t.Committed || !t.Replay || t.Checksum != CsumValid || t.MetaChecksum == CsumInvalid || t.wrapped ||
		len(seg) == 0 || seg[len(seg)-1].Type != BlockCommit || seg[len(seg)-1].JBlock != t.CommitBlock {
		return nil, false
	}
	j := s.j
	area := j.Last - j.First
	out := s.scratch[:0] // importLive copies them out before the next call
	defer func() { s.scratch = out[:0] }()
	tag := t.tagLo // the next tag of t, in log order
	rv := 0        // the next revoke block of t
	for k, mb := range seg {
		if mb.JBlock < j.First || mb.JBlock >= j.Last {
			return nil, false
		}
		m := histMeta{pos: mb.JBlock, typ: mb.Type, seq: t.Sequence, ok: true, known: true}
		switch mb.Type {
		case BlockCommit:
			if k != len(seg)-1 {
				return nil, false
			}
			m.time = t.CommitTime
			out = append(out, m)
			continue
		case BlockRevoke:
			if rv >= len(t.revokes) || t.revokes[rv].pos != mb.JBlock || t.revokes[rv].err != nil || t.revokes[rv].rv == nil {
				return nil, false
			}
			m.revokes = t.revokes[rv].rv.Records
			rv++
		case BlockDescriptor:
		default:
			return nil, false
		}
		next := seg[k+1].JBlock
		n := (next + area - mb.JBlock - 1) % area // blocks between it and the next
		if mb.Type == BlockRevoke {
			if n != 0 {
				return nil, false
			}
		} else if !s.liveTags(l, &m, tag, n) {
			return nil, false
		} else {
			tag += int(n)
		}
		out = append(out, m)
	}
	if tag != t.tagHi || rv != len(t.revokes) {
		return nil, false
	}
	return out, true
}

// liveTags gives descriptor m the n tags of the log from tag on, checking
// that each logs into the journal block after the one before, from the
// block after m on.
func (s *histScan) liveTags(l *Log, m *histMeta, tag int, n uint64) bool {
	if tag+int(n) > l.ntags {
		return false
	}
	// The runs holding tags [tag, tag+n): runs are in log order.
	r := s.runAt(l, tag)
	if r < 0 {
		return false
	}
	m.tagLo, m.runLo = s.ntags, len(s.druns)
	p := s.j.wrap(m.pos + 1)
	for i := 0; i < int(n); {
		ti := tag + i
		run := l.runs.at(r)
		for ti >= int(run.first)+int(run.n) {
			if r++; r >= l.runs.len() {
				return false
			}
			run = l.runs.at(r)
		}
		if ti < int(run.first) {
			return false
		}
		k := uint64(ti - int(run.first))
		// The rest of this run within the descriptor's tags, all in the
		// journal blocks from p on.
		cnt := min(uint64(run.n)-k, n-uint64(i))
		if run.pos+k != p || p+cnt > s.j.Last || run.home+k+cnt-1 < run.home {
			return false
		}
		s.addLogTags(m.runLo, run.home+k, uint32(ti), uint32(cnt), run.flags&FlagEscape != 0)
		p = s.j.wrap(p + cnt)
		i += int(cnt)
	}
	m.tagHi, m.runHi = s.ntags, len(s.druns)
	return true
}

// addLogTags records n tags of consecutive blocks from home on, the
// live Log's tags t, t+1, ...: their checksums stay in the Log.
func (s *histScan) addLogTags(lo int, home uint64, t, n uint32, esc bool) {
	s.ntags += int(n)
	if k := len(s.druns) - 1; k >= lo {
		r := &s.druns[k]
		if r.fromLog && home > r.home && r.home+uint64(r.n) == home && r.tag+r.n == t && r.esc == esc {
			r.n += n
			return
		}
	}
	s.druns = append(s.druns, drun{home: home, tag: t, n: n, esc: esc, fromLog: true})
}

// runAt is the index of the run of l holding tag i, -1 if none.
func (s *histScan) runAt(l *Log, i int) int {
	lo, hi := 0, l.runs.len()
	for lo < hi {
		mid := (lo + hi) / 2
		if r := l.runs.at(mid); int(r.first)+int(r.n) <= i {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	if lo >= l.runs.len() || int(l.runs.at(lo).first) > i {
		return -1
	}
	return lo
}

// presize makes room for the live log's metadata blocks and half as many
// again from older transactions, so that neither the blocks nor their index grow
// (and are copied) block by block while the area is read.
func (s *histScan) presize(l *Log) {
	n := 64
	if l != nil {
		n += len(l.Metadata) + len(l.Metadata)/2
	}
	s.metas = make([]histMeta, 0, n)
	s.at = make(map[uint64]int, n)
}
