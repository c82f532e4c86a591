package engine

import (
	"fmt"
	"time"

	"github.com/ext4relink/ext4relink/ext4fs"
	"github.com/ext4relink/ext4relink/inode"
	"github.com/ext4relink/ext4relink/super"
)

// Orphan is one inode on the orphan list or in the orphan file.
type Orphan struct {
	Inode    uint32
	Source   OrphanSource // "chain" (s_last_orphan list), "orphan_file", or "stranded" (see walkStranded)
	Position int          // 1-based position in the chain
	Slot     int          // 0-based slot in the orphan file
	Next     uint32       // chain: the next orphan (its i_dtime)

	Type   FileType
	Mode   uint16 // permission bits
	UID    uint32
	GID    uint32
	Size   uint64
	Links  uint16
	Blocks uint64 // allocated 512-byte sectors (i_blocks)
	Mtime  time.Time
	Ctime  time.Time
	Dtime  uint32 // raw i_dtime: the chain link for chain members
	// State: "deleted-open" (links 0: the file ext4relink can bring back),
	// "past-eof" (links 0, i_size > 0, written blocks past i_size: a write
	// or truncate was in flight; brought back, see StatePastEOF),
	// "truncating" (links > 0: a truncate was in progress; never touched) or
	// "releasing" (links 0, i_size 0, written blocks still mapped: the
	// kernel had begun freeing the file, cutting i_size first; never
	// touched).
	State OrphanState
	// PastEOFBlocks counts the written blocks past i_size (past-eof and
	// releasing orphans).
	PastEOFBlocks uint64
	// Problem is set when the inode could not be read or validated.
	Problem string

	loc InodeLoc
}

// OrphanList is everything list reports.
type OrphanList struct {
	Orphans  []Orphan
	Problems []string // chain loops, out-of-range links, bad orphan-file blocks
	// Damaged is set when the list itself is damaged (the chain loops or
	// links out of range, an orphan-file slot holds an impossible inode
	// number): a *super.FormatError naming the link. list shows what it
	// can; a relink cuts the damage, and --all wants --scan (listdamage.go).
	Damaged error
	// scanned: ScanOrphans added what lies on no list (see cutDamage).
	scanned bool
}

// damaged records a problem with the list's own structure (the first one
// found is kept as l.Damaged).
func (l *OrphanList) damaged(structure string, blk uint64, off int64, problem string) {
	l.Problems = append(l.Problems, problem)
	if l.Damaged == nil {
		l.Damaged = super.Errorf(super.ErrCorrupt, structure, blk, off, "%s; the orphan list is damaged", problem)
	}
}

// Orphans walks the superblock's orphan chain and the orphan file. A chain
// that loops or points out of range is reported and not followed further.
func (fs *FS) Orphans() (*OrphanList, error) {
	l := &OrphanList{}
	fs.walkChain(l)
	if err := fs.walkOrphanFile(l); err != nil {
		return nil, err
	}
	fs.walkStranded(l)
	return l, nil
}

// walkStranded finds orphans a fast-commit replay cut off the chain. An
// INODE record replays the whole inode, i_dtime included; when it carries
// an inode that was on the chain with the chain link the kernel had not
// yet committed (a truncate that took the inode off the list again after
// the last full commit), the chain now ends early and the orphans behind
// it are no longer listed, though their inodes still have no links and
// their data is intact. The kernel's replay and e2fsck's do the same and
// then free them. They are the chain members of the state before the
// fast-commit replay that the replayed chain no longer reaches and whose
// inodes still have no links; listed with source "stranded" and their old
// chain position, relinkable like any orphan.
func (fs *FS) walkStranded(l *OrphanList) {
	if len(fs.FastCommitBlocks()) == 0 {
		return
	}
	pre := &OrphanList{}
	(&FS{fs.Below(ext4fs.LayerFastCommit)}).walkChain(pre)
	listed := map[uint32]bool{}
	for _, o := range l.Orphans {
		listed[o.Inode] = true
	}
	for _, p := range pre.Orphans {
		if listed[p.Inode] || p.Problem != "" {
			continue
		}
		o := fs.describe(p.Inode)
		if o.Problem != "" || o.Links != 0 || o.Type == TypeUnknown {
			continue
		}
		o.Source, o.Position = SourceStranded, p.Position
		l.Orphans = append(l.Orphans, o)
	}
}

func (fs *FS) walkChain(l *OrphanList) {
	seen := map[uint32]bool{}
	prev := "the superblock's s_last_orphan"
	// Where the link being followed is stored.
	linkBlk, linkOff := super.NoBlock, int64(super.Offset+super.OffsetLastOrphan)
	for ino, pos := fs.SB.LastOrphan, 1; ino != 0; pos++ {
		if ino < fs.SB.FirstInode() || ino > fs.SB.InodesCount {
			l.damaged("orphan chain", linkBlk, linkOff, fmt.Sprintf("%s points to inode %d, outside %d..%d; the chain ends there", prev, ino, fs.SB.FirstInode(), fs.SB.InodesCount))
			return
		}
		if seen[ino] {
			l.damaged("orphan chain", linkBlk, linkOff, fmt.Sprintf("%s points back to inode %d: the orphan chain loops; not followed further", prev, ino))
			return
		}
		seen[ino] = true
		o := fs.describe(ino)
		o.Source, o.Position = SourceChain, pos
		if o.Problem != "" {
			l.Orphans = append(l.Orphans, o)
			l.Problems = append(l.Problems, fmt.Sprintf("orphan chain position %d: %s; the chain cannot be followed past it", pos, o.Problem))
			return
		}
		o.Next = o.Dtime
		l.Orphans = append(l.Orphans, o)
		prev = fmt.Sprintf("inode %d's i_dtime", ino)
		linkBlk, linkOff = o.loc.Block, int64(o.loc.Off)+inode.OffsetDtime
		ino = o.Dtime
	}
}

// describe reads an orphan inode for listing; problems are recorded, not fatal.
func (fs *FS) describe(ino uint32) Orphan {
	o := Orphan{Inode: ino}
	in, loc, err := fs.ReadInode(ino)
	if err != nil {
		o.Problem = err.Error()
		return o
	}
	o.loc = loc
	o.Type = typeName(in)
	o.Mode = in.Mode & 0o7777
	o.UID, o.GID = in.UID(), in.GID()
	o.Size = in.Size()
	o.Links = in.LinksCount
	o.Blocks = in.BlocksCount(fs.SB.HasRoCompat(super.RoCompatHugeFile), fs.BlockSize())
	o.Mtime, o.Ctime = in.ModTime(), in.ChangeTime()
	o.Dtime = in.Dtime
	o.State = StateDeletedOpen
	if in.LinksCount > 0 {
		o.State = StateTruncating
	} else if n := fs.writtenPastEOF(ino, in); n > 0 {
		// ext4_evict_inode cuts i_size to 0 before it frees anything;
		// nothing else leaves written blocks past a non-zero size on an
		// unlinked regular file but a write or truncate in flight. Other
		// types are not written that way: left alone, as releasing.
		o.State, o.PastEOFBlocks = StatePastEOF, n
		if in.Size() == 0 || !in.IsReg() {
			o.State = StateReleasing
		}
	}
	return o
}

// blocksPastEOF reports whether inode ino maps a written (not unwritten)
// block wholly past its last byte: what ext4_evict_inode leaves when it set
// i_size to 0 and a crash stopped ext4_truncate midway (releasing), or a
// write or truncate in flight on the deleted file (past-eof). e2fsck
// reports it as "i_size is N, should be M". A map that cannot be read is
// left to the relink's own checks. A verity file keeps its Merkle tree
// past i_size by design (e2fsck exempts it too).
func (fs *FS) blocksPastEOF(ino uint32, in *inode.Inode) bool {
	return fs.writtenPastEOF(ino, in) > 0
}

// writtenPastEOF counts the written blocks blocksPastEOF looks for.
func (fs *FS) writtenPastEOF(ino uint32, in *inode.Inode) uint64 {
	if in.HasInlineData() || in.Flags&inode.VerityFl != 0 ||
		(in.IsSymlink() && in.BlocksCount(fs.SB.HasRoCompat(super.RoCompatHugeFile), fs.BlockSize()) == 0) {
		return 0
	}
	m, err := fs.BlockMap(ino, in)
	if err != nil {
		return 0
	}
	return pastEOFSpan(m, in.Size(), uint64(fs.BlockSize())).written
}

func typeName(in *inode.Inode) FileType {
	switch in.Type() {
	case inode.ModeReg:
		return TypeFile
	case inode.ModeDir:
		return TypeDir
	case inode.ModeLnk:
		return TypeSymlink
	case inode.ModeFifo:
		return TypeFifo
	case inode.ModeSock:
		return TypeSocket
	case inode.ModeChr:
		return TypeChardev
	case inode.ModeBlk:
		return TypeBlockdev
	}
	return TypeUnknown
}

// OrphanFileBlock is one block of the orphan file, as loaded and verified.
type OrphanFileBlock struct {
	Logical  uint32
	Physical uint64
	Block    *super.OrphanBlock
}

// OrphanFile reads every block of the orphan file (feature orphan_file),
// checking magic and checksum as the kernel's ext4_init_orphan_info does.
func (fs *FS) OrphanFile() ([]OrphanFileBlock, error) {
	if !fs.SB.HasCompat(super.CompatOrphanFile) {
		return nil, nil
	}
	ino := fs.SB.OrphanFileInum
	in, _, err := fs.ReadInode(ino)
	if err != nil {
		return nil, fmt.Errorf("orphan file (s_orphan_file_inum %d): %w", ino, err)
	}
	m, err := fs.BlockMap(ino, in)
	if err != nil {
		return nil, fmt.Errorf("orphan file (s_orphan_file_inum %d): %w", ino, err)
	}
	n := in.Size() / uint64(fs.BlockSize())
	seed := in.Seed(fs.SB.CsumSeed(), ino)
	var out []OrphanFileBlock
	for lblk := uint32(0); uint64(lblk) < n; lblk++ {
		phys, unwritten, ok := m.Map(lblk)
		if !ok || unwritten {
			return nil, super.Errorf(super.ErrCorrupt, "orphan file", super.NoBlock, -1, "logical block %d of inode %d is not mapped", lblk, ino)
		}
		b, err := fs.ReadBlock(phys)
		if err != nil {
			return nil, err
		}
		ob := super.DecodeOrphanBlock(b)
		if err := ob.Validate(phys); err != nil {
			return nil, err
		}
		if !ob.VerifyChecksum(fs.SB, seed, phys) {
			return nil, super.Errorf(super.ErrChecksum, "orphan file block", phys, int64(fs.BlockSize()-4), "checksum %#08x does not match (computed %#08x)", ob.Csum, ob.Checksum(seed, phys, fs.BlockSize()))
		}
		out = append(out, OrphanFileBlock{Logical: lblk, Physical: phys, Block: ob})
	}
	return out, nil
}

func (fs *FS) walkOrphanFile(l *OrphanList) error {
	blocks, err := fs.OrphanFile()
	if err != nil {
		return err
	}
	per := super.OrphanSlotsPerBlock(fs.BlockSize())
	for _, ob := range blocks {
		for _, i := range ob.Block.Used() {
			ino := ob.Block.Inodes[i]
			slot := int(ob.Logical)*per + i
			if ino < fs.SB.FirstInode() || ino > fs.SB.InodesCount {
				l.damaged("orphan file block", ob.Physical, int64(4*i), fmt.Sprintf("orphan file slot %d holds inode %d, outside %d..%d", slot, ino, fs.SB.FirstInode(), fs.SB.InodesCount))
				continue
			}
			o := fs.describe(ino)
			o.Source, o.Slot = SourceOrphanFile, slot
			l.Orphans = append(l.Orphans, o)
			if o.Problem != "" {
				l.Problems = append(l.Problems, fmt.Sprintf("orphan file slot %d: %s", slot, o.Problem))
			}
		}
	}
	return nil
}
