package engine

import (
	"cmp"
	"fmt"
	"slices"
	"sort"

	"github.com/ext4relink/ext4relink/inode"
	"github.com/ext4relink/ext4relink/super"
)

// eofSpan describes the blocks a file maps past its size.
type eofSpan struct {
	eof         uint64 // the first logical block wholly past i_size
	written     uint64 // written blocks at or past eof
	unwritten   uint64 // unwritten (preallocated) blocks at or past eof
	lastWritten uint64 // one past the last written block (0: none)
}

func pastEOFSpan(m *inode.BlockMap, size, bs uint64) eofSpan {
	s := eofSpan{eof: (size + bs - 1) / bs}
	for _, r := range m.Runs {
		if r.End() <= s.eof {
			continue
		}
		n := r.End() - max(uint64(r.Logical), s.eof)
		if r.Unwritten {
			s.unwritten += n
		} else {
			s.written += n
			s.lastWritten = r.End()
		}
	}
	return s
}

// PastEOF says what a relink did with the blocks an orphan had written past
// its size (state past-eof).
type PastEOF struct {
	// Action is "trimmed" (the blocks past i_size were freed, i_size kept)
	// or "kept" (i_size raised to the end of the last written block).
	Action string
	// Blocks is the number of written data blocks wholly past the old size.
	Blocks uint64
	// Bytes is what those blocks held (trimmed: Blocks times the block
	// size) or how much i_size grew (kept).
	Bytes   uint64
	OldSize uint64
	NewSize uint64
	// Unwritten counts preallocated (unwritten) blocks past the old size
	// that were freed with them; MapBlocks the extent-tree or indirect
	// blocks freed (left empty, or a tree level pulled up into the inode).
	Unwritten uint64
	MapBlocks uint64

	freed []uint64 // the clusters freed (first block of each), for Verify
}

// Sentence describes the outcome in the relink's text output.
func (pe *PastEOF) Sentence(dryRun bool) string {
	if pe.Action == "kept" {
		verb := "were kept"
		if dryRun {
			verb = "would be kept"
		}
		return fmt.Sprintf("%d block(s) written past the old size %d %s: the size becomes %d (+%d bytes); what they hold is what reached the disk, the write in flight may not have", pe.Blocks, pe.OldSize, verb, pe.NewSize, pe.Bytes)
	}
	verb := "were freed"
	if dryRun {
		verb = "would be freed"
	}
	s := fmt.Sprintf("%d block(s) (%d bytes) written past the old size %d %s", pe.Blocks, pe.Bytes, pe.OldSize, verb)
	if pe.Unwritten > 0 {
		s += fmt.Sprintf(", with %d preallocated block(s) past it", pe.Unwritten)
	}
	if pe.MapBlocks > 0 {
		s += fmt.Sprintf(" and %d block-map block(s) no longer needed", pe.MapBlocks)
	}
	s += " (the write or truncate in flight when the copy was taken; the kernel's truncate would have freed them too)"
	return s + "; use --keep-past-eof to keep them"
}

// Why the blocks past a past-eof orphan's size cannot be freed here.
const (
	orderedTrimRefusal = "it has blocks written past its size (state past-eof), and freeing them changes the block map, the bitmaps and the counters together, which cannot be ordered safely without a journal; relink it with --keep-past-eof (which only raises i_size), or leave it"
	quotaTrimRefusal   = "it has blocks written past its size (state past-eof), and freeing them would change the owner's quota usage (quota feature); ext4relink does not edit quota files. Relink it with --keep-past-eof (which only raises i_size), or leave it"
)

// trimRefusal says why a past-eof orphan cannot be relinked without
// --keep-past-eof on this filesystem ("" when it can).
func (p *Plan) trimRefusal() string {
	switch {
	case p.KeepPastEOF:
		return ""
	case p.Ordered:
		return orderedTrimRefusal
	case p.SB.HasRoCompat(super.RoCompatQuota) || p.SB.HasRoCompat(super.RoCompatProject):
		return quotaTrimRefusal
	}
	return ""
}

// pastEOFDecision validates what will be done with a past-eof orphan's
// blocks; the change itself is planned by settlePastEOF once every entry
// is in place (so no block freed here is handed out again by a growing
// directory in the same plan).
func (p *Plan) pastEOFDecision(o Orphan, in *inode.Inode) (*PastEOF, error) {
	if o.State != StatePastEOF {
		return nil, nil
	}
	m, err := p.ReadMap(o.Inode, in)
	if err != nil {
		return nil, err
	}
	bs := uint64(p.fs.BlockSize())
	s := pastEOFSpan(m, in.Size(), bs)
	if s.written == 0 {
		return nil, fmt.Errorf("%w: inode %d: no written block past its size any more (listed as past-eof)", ErrInternal, o.Inode)
	}
	pe := &PastEOF{Action: "trimmed", Blocks: s.written, Bytes: s.written * bs, OldSize: in.Size(), NewSize: in.Size(), Unwritten: s.unwritten}
	if !p.KeepPastEOF {
		if why := p.trimRefusal(); why != "" {
			return nil, super.Errorf(super.ErrUnsupported, fmt.Sprintf("inode %d", o.Inode), super.NoBlock, -1, "%s", why)
		}
		return pe, nil
	}
	for _, r := range m.Runs {
		if r.Unwritten && r.End() > s.eof && uint64(r.Logical) < s.lastWritten {
			return nil, fmt.Errorf("%w: inode %d: --keep-past-eof: logical blocks %d..%d past the old size (%d bytes) are unwritten (allocated, never written) before the last written block %d; "+
				"keeping them would make the file read zeros where the write in flight had not landed; relink without --keep-past-eof to free them",
				ErrRequest, o.Inode, max(uint64(r.Logical), s.eof), r.End()-1, in.Size(), s.lastWritten-1)
		}
	}
	newSize := s.lastWritten * bs
	if newSize > 1<<31-1 && !p.SB.HasRoCompat(super.RoCompatLargeFile) {
		return nil, super.Errorf(super.ErrUnsupported, fmt.Sprintf("inode %d", o.Inode), super.NoBlock, -1,
			"--keep-past-eof would make the file %d bytes long, which needs the large_file feature this filesystem lacks", newSize)
	}
	pe.Action, pe.NewSize, pe.Bytes, pe.Unwritten = "kept", newSize, newSize-in.Size(), 0
	return pe, nil
}

// settlePastEOF applies each relinked orphan's past-EOF decision: kept
// blocks get an i_size that covers them; trimmed ones are unmapped and
// freed through the block bitmaps (group counts, checksums and the
// superblock's free count with them), with i_blocks lowered to match.
func (p *Plan) settlePastEOF() error {
	for k := range p.Relinks {
		r := &p.Relinks[k]
		if r.PastEOF == nil || r.AlreadyDone {
			continue
		}
		in, _, err := p.Inode(r.Inode)
		if err != nil {
			return err
		}
		if in.Size() != r.PastEOF.OldSize {
			return fmt.Errorf("%w: inode %d changed size while planning", ErrInternal, r.Inode)
		}
		if r.PastEOF.Action == "kept" {
			in.SetSize(r.PastEOF.NewSize)
			r.Size = r.PastEOF.NewSize
			if err := p.PutInode(r.Inode, in, fmt.Sprintf("i_size %d -> %d, covering the %d block(s) written past it (--keep-past-eof)", r.PastEOF.OldSize, r.PastEOF.NewSize, r.PastEOF.Blocks)); err != nil {
				return err
			}
			continue
		}
		if err := p.trim(r.Inode, in, r.PastEOF); err != nil {
			return err
		}
	}
	return nil
}

// trim unmaps every block of inode ino wholly past its size and frees the
// clusters nothing of the file uses any more.
func (p *Plan) trim(ino uint32, in *inode.Inode, pe *PastEOF) error {
	bs := uint64(p.fs.BlockSize())
	from := (in.Size() + bs - 1) / bs
	what := fmt.Sprintf("inode %d", ino)
	mp := p.fs.InodeFS().Params(ino, in)
	var (
		cut *inode.Cut
		err error
	)
	switch f := inode.Format(in, p.fs.InodeFS()); {
	case f == inode.FormatExtents && from < 1<<32:
		cut, err = inode.TruncateExtents(in.Block[:], uint32(from), mp, p.Read)
	case f == inode.FormatIndirect:
		cut, err = inode.TruncateIndirect(in.Block[:], from, mp, p.Read)
	default:
		return super.Errorf(super.ErrUnsupported, what, super.NoBlock, -1, "cannot free the blocks past i_size of a %s map", f)
	}
	if err != nil {
		return err
	}
	for b, data := range cut.Blocks {
		p.Write(b, data, fmt.Sprintf("%s: block map cut at logical block %d (i_size %d)", what, from, in.Size()))
	}
	in.Block = cut.IBlock
	kept, err := p.ReadMap(ino, in)
	if err != nil {
		return err
	}
	if s := pastEOFSpan(kept, in.Size(), bs); s.written+s.unwritten != 0 {
		return fmt.Errorf("%w: %s still maps %d block(s) past i_size after the cut", ErrInternal, what, s.written+s.unwritten)
	}
	if got := cut.FreedData(); got != pe.Blocks+pe.Unwritten {
		return fmt.Errorf("%w: %s: the cut unmapped %d data blocks, %d expected", ErrInternal, what, got, pe.Blocks+pe.Unwritten)
	}
	clusters, err := p.freedClusters(ino, in, kept, cut)
	if err != nil {
		return err
	}
	if err := p.FreeBlocks(clusters, what); err != nil {
		return err
	}
	pe.MapBlocks, pe.freed = uint64(len(cut.FreedMeta)), clusters
	sectors := uint64(len(clusters)) * (uint64(p.fs.BlockSize()) << p.SB.ClusterBits() / 512)
	huge := p.SB.HasRoCompat(super.RoCompatHugeFile)
	old := in.BlocksCount(huge, p.fs.BlockSize())
	if sectors > old {
		return super.Errorf(super.ErrCorrupt, what, super.NoBlock, -1, "i_blocks %d is less than the %d sectors past i_size", old, sectors)
	}
	if err := in.SetBlocks(old-sectors, huge, p.fs.BlockSize()); err != nil {
		return err
	}
	return p.PutInode(ino, in, fmt.Sprintf("%d block(s) past i_size %d unmapped (%d data, %d block-map), i_blocks %d -> %d",
		cut.FreedData()+uint64(len(cut.FreedMeta)), in.Size(), cut.FreedData(), len(cut.FreedMeta), old, old-sectors))
}

// freedClusters lists (by first block, sorted) the clusters holding a block
// the cut released that no block the file keeps (data, block map, xattr
// block) shares: with bigalloc the cluster of the last block inside i_size
// stays allocated. Without bigalloc a block both kept and released is a
// map that names it twice: refused.
func (p *Plan) freedClusters(ino uint32, in *inode.Inode, kept *inode.BlockMap, cut *inode.Cut) ([]uint64, error) {
	cb := p.SB.ClusterBits()
	type span struct{ start, end uint64 }
	var keep []span
	for _, r := range kept.Runs {
		keep = append(keep, span{r.Physical, r.Physical + uint64(r.Len)})
	}
	for _, b := range kept.Meta {
		keep = append(keep, span{b, b + 1})
	}
	if acl := in.FileACL(p.SB.Is64Bit()); acl != 0 {
		keep = append(keep, span{acl, acl + 1})
	}
	slices.SortFunc(keep, func(a, b span) int { return cmp.Compare(a.start, b.start) })
	maxLen := uint64(0)
	for _, s := range keep {
		maxLen = max(maxLen, s.end-s.start)
	}
	shared := func(lo, hi uint64) bool { // does any kept span overlap [lo, hi)?
		// Spans starting before hi and ending after lo; starts are sorted
		// and no span is longer than maxLen.
		i := sort.Search(len(keep), func(i int) bool { return keep[i].start+maxLen > lo })
		for ; i < len(keep) && keep[i].start < hi; i++ {
			if keep[i].end > lo {
				return true
			}
		}
		return false
	}
	seen := map[uint64]bool{}
	add := func(b uint64) error {
		c := b >> cb << cb
		if seen[c] {
			return nil
		}
		if shared(c, c+1<<cb) {
			if cb == 0 {
				return super.Errorf(super.ErrCorrupt, fmt.Sprintf("inode %d", ino), super.NoBlock, -1, "block %d is mapped both inside and past i_size", b)
			}
			return nil
		}
		seen[c] = true
		return nil
	}
	for _, r := range cut.Freed {
		for b := r.Physical; b < r.Physical+uint64(r.Len); b++ {
			if err := add(b); err != nil {
				return nil, err
			}
		}
	}
	for _, b := range cut.FreedMeta {
		if err := add(b); err != nil {
			return nil, err
		}
	}
	return slices.Sorted(func(yield func(uint64) bool) {
		for c := range seen {
			if !yield(c) {
				return
			}
		}
	}), nil
}
