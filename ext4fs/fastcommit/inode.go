package fastcommit

import (
	"bytes"
	"fmt"

	"github.com/ext4relink/ext4relink/inode"
	"github.com/ext4relink/ext4relink/journal"
	"github.com/ext4relink/ext4relink/super"
)

// inodeRecord replays an INODE record (ext4_fc_replay_inode /
// ext4_fc_handle_inode): the logged inode's fields replace the home
// inode's, i_block excepted for extent-mapped inodes, i_blocks is
// recounted and the inode is marked in use.
//
// Refused: an inode number below s_first_ino (ext4_mark_inode_used fails);
// a logged inode whose own checksum does not verify (metadata_csum) or that
// does not validate; a logged inode with no links (the kernel's replay then
// fails and the mount with it, while e2fsck frees the inode); an inode
// whose number was reused for another file since the last full commit
// (generation or type changed, or a free slot whose stale i_block still maps
// blocks: both tools would graft the old block map onto the new file); a
// changed extended attribute block; and a non-extent, non-inline inode
// whose logged i_block differs from the home one (device numbers, fast
// symlink targets: both tools keep the home i_block and lose the logged
// one).
func (r *fcReplay) inodeRecord(t journal.FCTag) error {
	ino, raw := t.Ino, t.RawInode
	if err := r.checkRecordInode(ino); err != nil {
		return err
	}
	if err := r.checkLoggedSize(raw); err != nil {
		return err
	}
	home, err := r.homeInode(ino)
	if err != nil {
		return err
	}
	inUse, err := r.inodeInUse(r.p, ino)
	if err != nil {
		return err
	}
	var old *inode.Inode
	if inUse {
		if old, _, err = r.p.Inode(ino); err != nil {
			return fmt.Errorf("inode %d is in use but cannot be validated: %w", ino, err)
		}
	}
	tail, err := r.loggedTail(ino, raw, home, inUse)
	if err != nil {
		return err
	}
	logged, err := inode.Decode(append(bytes.Clone(raw), tail...))
	if err != nil {
		return err
	}
	if logged.LinksCount == 0 {
		return fcUnsupported("the logged inode %d has no links (a file deleted while open): the kernel's replay fails on it (and the mount with it) while e2fsck frees the inode", ino)
	}
	if err := r.checkSameFile(ino, old, logged, home); err != nil {
		return err
	}
	in, err := r.mergeInode(ino, raw, home, tail)
	if err != nil {
		return err
	}
	return r.putReplayedInode(ino, in, old)
}

// checkRecordInode refuses an INODE record for a reserved, out-of-range or
// filesystem-internal inode.
func (r *fcReplay) checkRecordInode(ino uint32) error {
	sb := r.p.SB
	if ino < sb.FirstInode() || ino > sb.InodesCount {
		return fcCorrupt("inode %d is reserved or out of range (%d..%d)", ino, sb.FirstInode(), sb.InodesCount)
	}
	if ino == sb.JournalInum || ino == sb.OrphanFileInum || ino == sb.UsrQuotaInum || ino == sb.GrpQuotaInum || ino == sb.PrjQuotaInum {
		return fcUnsupported("inode %d is a filesystem-internal inode", ino)
	}
	return nil
}

// checkLoggedSize checks the logged inode's length. The kernel logs 128 +
// i_extra_isize bytes, or the whole inode for an inline-data inode (its
// data goes on in the system.data attribute). e2fsck copies only 128 +
// i_extra_isize bytes even then; the kernel, whose format this is, copies
// all of them, and so does the replay.
func (r *fcReplay) checkLoggedSize(raw []byte) error {
	isz := int(r.p.SB.InodeSizeBytes())
	if len(raw) < inode.GoodOldSize || len(raw) > isz {
		return fcCorrupt("the logged inode is %d bytes (inode size %d)", len(raw), isz)
	}
	want := inode.GoodOldSize
	if isz > inode.GoodOldSize {
		extra, ok := inode.RawExtraIsize(raw)
		if !ok {
			return fcCorrupt("the logged inode is %d bytes, too short for i_extra_isize", len(raw))
		}
		if extra < 4 || extra > isz-inode.GoodOldSize || extra%4 != 0 {
			return fcCorrupt("the logged inode has i_extra_isize %d (inode size %d)", extra, isz)
		}
		want += extra
	}
	if len(raw) == isz && inode.RawFlags(raw)&inode.InlineDataFl != 0 {
		want = isz
	}
	if len(raw) != want {
		return fcCorrupt("the logged inode is %d bytes, but its i_extra_isize says %d", len(raw), want)
	}
	return nil
}

// homeInode returns a copy of inode ino's bytes as the replay has them.
func (r *fcReplay) homeInode(ino uint32) ([]byte, error) {
	loc, err := r.fs.InodeLocation(ino)
	if err != nil {
		return nil, err
	}
	blk, err := r.p.Read(loc.Block)
	if err != nil {
		return nil, err
	}
	return bytes.Clone(blk[loc.Off : int(loc.Off)+int(r.p.SB.InodeSizeBytes())]), nil
}

// mergeInode builds the replayed inode: the logged fields, the home i_block
// (an empty extent root when the home one has none) or the logged one for
// inline data, and the tail past the logged part.
func (r *fcReplay) mergeInode(ino uint32, raw, home, tail []byte) (*inode.Inode, error) {
	b := bytes.Clone(home)
	inode.ReplaceExceptIBlock(b, raw)
	copy(b[len(raw):], tail)
	flags := inode.RawFlags(raw)
	switch {
	case flags&inode.ExtentsFl != 0:
		inode.EnsureExtentHeader(inode.RawIBlock(b))
	case flags&inode.InlineDataFl != 0:
		copy(inode.RawIBlock(b), inode.RawIBlock(raw))
	case !bytes.Equal(inode.RawIBlock(b), inode.RawIBlock(raw)):
		return nil, fcUnsupported("inode %d is neither extent-mapped nor inline and its logged i_block differs from the home one; the kernel and e2fsck keep the home i_block, losing the logged one (device number, symlink target or block map)", ino)
	}
	return inode.Decode(b)
}

// putReplayedInode recounts i_blocks, checks and writes the replayed inode,
// releases what the old one mapped, and marks the inode in use.
func (r *fcReplay) putReplayedInode(ino uint32, in, old *inode.Inode) error {
	if err := r.setIBlocks(ino, in); err != nil {
		return err
	}
	if err := r.checkDirSize(ino, in); err != nil {
		return err
	}
	in.SetChecksum(r.p.SB, ino)
	if err := in.Validate(r.fs.InodeFS(), ino); err != nil {
		return fmt.Errorf("the replayed inode %d does not validate: %w", ino, err)
	}
	if err := r.touch(ino); err != nil {
		return err
	}
	if old != nil && old.LinksCount > 0 { // ext4_ext_clear_bb on what iget reads
		m, err := r.p.ReadMap(ino, old)
		if err != nil {
			return err
		}
		r.freed = append(r.freed, mapIntervals(ino, m.Runs, m.Meta)...)
	}
	if err := r.p.PutInode(ino, in, "replayed from a fast-commit INODE record"); err != nil {
		return err
	}
	return r.p.MarkInodeUsed(ino, in.IsDir())
}

// loggedTail returns the bytes of the inode past the logged part (the
// in-inode extended attribute area) as they were when the kernel logged
// it, verifying the logged inode's checksum over the whole record: the home
// bytes for an inode in use (extended attribute changes are never fast
// committed); for an inode that was free, the kernel had zeroed the whole
// record when it created the inode, so zeros are tried after the home
// bytes. Without metadata_csum nothing can be verified.
func (r *fcReplay) loggedTail(ino uint32, raw, home []byte, inUse bool) ([]byte, error) {
	sb := r.p.SB
	diskTail := bytes.Clone(home[len(raw):])
	zeroTail := make([]byte, len(diskTail))
	if !sb.HasMetadataCsum() {
		if inUse {
			return diskTail, nil
		}
		return zeroTail, nil
	}
	cands := [][]byte{diskTail}
	if !inUse {
		cands = append(cands, zeroTail)
	}
	for _, tail := range cands {
		in, err := inode.Decode(append(bytes.Clone(raw), tail...))
		if err != nil {
			return nil, err
		}
		if in.VerifyChecksum(sb, ino) {
			return tail, nil
		}
	}
	in, _ := inode.Decode(append(bytes.Clone(raw), diskTail...))
	return nil, super.Errorf(super.ErrChecksum, "journal fast-commit area", super.NoBlock, -1,
		"the logged inode %d does not match its own checksum %#x (computed %#x): the record is damaged", ino, in.StoredChecksum(), in.Checksum(sb.CsumSeed(), ino))
}

// checkSameFile refuses a logged inode that is not the same file as the
// home inode (see inodeRecord).
func (r *fcReplay) checkSameFile(ino uint32, old, logged *inode.Inode, home []byte) error {
	bit64 := r.p.SB.Is64Bit()
	if old == nil {
		if logged.FileACL(bit64) != 0 {
			return fcUnsupported("the new inode %d has an extended attribute block %d, which a fast commit cannot create", ino, logged.FileACL(bit64))
		}
		if h, ok := inode.ExtentRootHeader(inode.RawIBlock(home)); logged.HasExtents() && ok && h.Entries != 0 {
			// Extents in a free slot: either this very file, written home by
			// an earlier replay that was interrupted before the inode bitmap
			// followed, or a stale block map the kernel and e2fsck would
			// graft onto the new file.
			h, err := inode.Decode(home)
			if err != nil || h.Generation != logged.Generation || h.Type() != logged.Type() || h.Validate(r.fs.InodeFS(), ino) != nil {
				return fcUnsupported("inode %d was free but its home i_block still holds extents of another file; the kernel and e2fsck would give them to the new file", ino)
			}
		}
		return nil
	}
	switch {
	case old.Generation != logged.Generation:
		return fcUnsupported("inode %d was reused (generation %d on disk, %d logged); the kernel and e2fsck would give the old file's blocks to the new one", ino, old.Generation, logged.Generation)
	case old.Type() != logged.Type():
		return fcUnsupported("inode %d changes type (mode %#o on disk, %#o logged)", ino, old.Mode, logged.Mode)
	case old.FileACL(bit64) != logged.FileACL(bit64):
		return fcUnsupported("inode %d changes its extended attribute block (%d on disk, %d logged)", ino, old.FileACL(bit64), logged.FileACL(bit64))
	case old.HasExtents() != logged.HasExtents() || old.HasInlineData() != logged.HasInlineData():
		return fcUnsupported("inode %d changes its data format (flags %#x on disk, %#x logged)", ino, old.Flags, logged.Flags)
	}
	return nil
}

// checkDirSize refuses a directory whose logged i_size reaches past its
// mapped blocks: it grew after the last full commit, and directory blocks
// are not in the fast commit.
func (r *fcReplay) checkDirSize(ino uint32, in *inode.Inode) error {
	if !in.IsDir() || in.HasInlineData() {
		return nil
	}
	m, err := inode.MapInode(in, r.fs.InodeFS(), ino, r.p.Read)
	if err != nil {
		return err
	}
	bs := uint64(r.fs.BlockSize())
	if in.Size()%bs != 0 || in.Size() == 0 {
		return fcCorrupt("directory inode %d has i_size %d, not a positive multiple of the block size", ino, in.Size())
	}
	n, next := in.Size()/bs, uint64(0)
	for _, rn := range m.Runs {
		if next >= n {
			break
		}
		if uint64(rn.Logical) != next || rn.Unwritten {
			break
		}
		next = rn.End()
	}
	if next < n {
		return fcUnsupported("directory inode %d: its logged size covers logical block %d, which is not mapped (the directory grew after the last full commit; directory blocks are not in the fast commit)", ino, next)
	}
	return nil
}
