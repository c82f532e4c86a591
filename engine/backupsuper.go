package engine

import (
	"fmt"

	"github.com/ext4relink/ext4relink/super"
)

// Backup says which superblock copy a filesystem was loaded from
// (LoadFSBackup): the e2fsck -b/-B of a read-only reader.
type Backup struct {
	Block     uint64 // the superblock's block, in BlockSize units
	BlockSize uint32 // the filesystem block size
	Group     uint16 // s_block_group_nr of the copy
	// LogReplayed: the copy says nothing about a pending recovery (backups
	// are written by mke2fs and resize only), so the journal was replayed
	// because its own superblock says it holds a log (s_start != 0), as
	// e2fsck's "run journal anyway" does.
	LogReplayed bool
}

// backupDev shows the engine a device whose primary superblock and group
// descriptor table are the backup copies at block sb (blocks of bs bytes):
// reads of the primary locations are served from the backup's. Everything
// else reads through unchanged. It never writes.
type backupDev struct {
	Dev
	sb    []byte // the backup superblock (super.Size bytes), possibly patched
	remap []remapRange
}

type remapRange struct{ from, to, n int64 }

func (d *backupDev) ReadAt(p []byte, off int64) (int, error) {
	end := off + int64(len(p))
	if !d.covered(off, end) {
		if _, err := d.Dev.ReadAt(p, off); err != nil {
			return 0, err
		}
	}
	for _, r := range d.remap {
		lo, hi := max(off, r.from), min(end, r.from+r.n)
		if lo >= hi {
			continue
		}
		if _, err := d.Dev.ReadAt(p[lo-off:hi-off], r.to+lo-r.from); err != nil {
			return 0, err
		}
	}
	if lo, hi := max(off, super.Offset), min(end, super.Offset+super.Size); lo < hi {
		copy(p[lo-off:hi-off], d.sb[lo-super.Offset:])
	}
	return len(p), nil
}

// covered: [off, end) lies wholly inside the superblock or one remapped
// range, so the primary location (perhaps unreadable) is not read at all.
func (d *backupDev) covered(off, end int64) bool {
	if off >= super.Offset && end <= super.Offset+super.Size {
		return true
	}
	for _, r := range d.remap {
		if off >= r.from && end <= r.from+r.n {
			return true
		}
	}
	return false
}

func (d *backupDev) WriteAt([]byte, int64) (int, error) {
	return 0, fmt.Errorf("%w: internal error: write through a backup superblock view", ErrInternal)
}

func (d *backupDev) Sync() error { return nil }

// LoadFSBackup is LoadFS through the backup superblock at block sbBlock of
// blockSize bytes (e2fsck -b sbBlock -B blockSize), for a filesystem whose
// primary superblock or group descriptors are destroyed. The copy must be
// valid, its checksum right, and it must sit where its own s_block_group_nr
// says. The group descriptors are read from the blocks after it. The view
// is read-only: writing through it is an internal error.
func LoadFSBackup(dev Dev, sbBlock uint64, blockSize uint32) (*FS, *Backup, error) {
	bd, sb, err := openBackup(dev, sbBlock, blockSize)
	if err != nil {
		return nil, nil, err
	}
	info := &Backup{Block: sbBlock, BlockSize: blockSize, Group: sb.BlockGroupNr}
	fs, err := LoadFS(bd)
	if err != nil {
		return nil, nil, err
	}
	if j := fs.JournalFile(); !fs.Journal.Present || fs.Journal.NeedsRecovery || j == nil || j.SB.Start == 0 {
		return fs, info, nil
	}
	// The journal holds a log the copy cannot know about: replay it.
	sb.FeatureIncompat |= super.IncompatRecover
	sb.SetChecksum()
	bd.sb = sb.Encode()
	if fs, err = LoadFS(bd); err != nil {
		return nil, nil, err
	}
	info.LogReplayed = true
	return fs, info, nil
}

func openBackup(dev Dev, sbBlock uint64, blockSize uint32) (*backupDev, *super.Superblock, error) {
	where := fmt.Sprintf("backup superblock at block %d (%d-byte blocks)", sbBlock, blockSize)
	if blockSize < 1024 || blockSize > 65536 || blockSize&(blockSize-1) != 0 {
		return nil, nil, fmt.Errorf("%w: block size %d: want a power of two from 1024 to 65536", ErrArgument, blockSize)
	}
	off := int64(sbBlock) * int64(blockSize)
	if sbBlock == 0 || sbBlock > 1<<48 || off+super.Size > dev.Size() {
		return nil, nil, fmt.Errorf("%w: %s is not inside the device (%d bytes)", ErrArgument, where, dev.Size())
	}
	raw := make([]byte, super.Size)
	if _, err := dev.ReadAt(raw, off); err != nil {
		return nil, nil, err
	}
	sb, err := super.Decode(raw)
	if err == nil {
		err = sb.Validate()
	}
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", where, err)
	}
	if sb.BlockSize() != blockSize || sb.GroupFirstBlock(uint64(sb.BlockGroupNr)) != sbBlock ||
		sb.BlockGroupNr == 0 || !sb.GroupHasSuper(uint64(sb.BlockGroupNr)) {
		return nil, nil, super.Errorf(super.ErrCorrupt, where, sbBlock, 0,
			"the copy says it belongs to group %d with %d-byte blocks, which does not start at block %d: not a backup superblock at this place (backups of 4 KiB-block filesystems are at 32768, 98304, ...; of 1 KiB ones at 8193, 24577, ...)",
			sb.BlockGroupNr, sb.BlockSize(), sbBlock)
	}
	return &backupDev{Dev: dev, sb: raw, remap: descRemap(sb, sbBlock)}, sb, nil
}

// descRemap maps the primary group descriptor table (the blocks after the
// primary superblock) to the copy after the backup at sbBlock. With meta_bg
// only the descriptors before s_first_meta_bg live there; the others keep
// their own places, one per meta group, outside group 0.
func descRemap(sb *super.Superblock, sbBlock uint64) []remapRange {
	bs := int64(sb.BlockSize())
	n := (sb.GroupCount() + sb.DescPerBlock() - 1) / sb.DescPerBlock()
	if sb.HasIncompat(super.IncompatMetaBG) {
		n = min(n, uint64(sb.FirstMetaBg))
	}
	if n == 0 {
		return nil
	}
	primary := int64(sb.FirstDataBlock) + 1
	return []remapRange{{from: primary * bs, to: int64(sbBlock+1) * bs, n: int64(n) * bs}}
}
