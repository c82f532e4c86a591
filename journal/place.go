package journal

import "github.com/ext4relink/ext4relink/super"

// TransactionLen is the number of journal blocks EncodeTransaction
// writes for n logged blocks: its descriptor blocks (tags packed as
// jbd2_journal_commit_transaction packs them), the n data blocks and the
// commit block.
func (j *Journal) TransactionLen(n int) uint64 {
	fm := j.Format
	tb := fm.TagBytes()
	descriptors := 0
	for i := 0; i < n; {
		space := fm.BlockSize - HeaderSize
		k := i
		for k < n {
			space -= tb
			if k == i {
				space -= 16
			}
			k++
			if space < tb+16+fm.tailSize() {
				break
			}
		}
		descriptors++
		i = k
	}
	return uint64(descriptors) + uint64(n) + 1
}

// Advance is journal block jblk moved on by n blocks, wrapping from the
// end of the log to s_first as the kernel's wrap() does.
func (j *Journal) Advance(jblk, n uint64) uint64 {
	size := j.Last - j.First
	if size == 0 || jblk < j.First || jblk >= j.Last {
		return jblk
	}
	return j.First + (jblk-j.First+n%size)%size
}

// RecoveryContinuesAt reports whether recovery (PASS_SCAN of the kernel,
// e2fsck and Scan), having read the commit block of transaction seq just
// before journal block jblk, would read on at jblk: the block there
// carries the jbd2 magic and sequence seq+1. A transaction written so
// that it ends just before such a stale block would be followed, after a
// crash, by whatever that stale transaction logged. A block that cannot
// be read is an error: recovery would fail there.
func (j *Journal) RecoveryContinuesAt(jblk uint64, seq uint32) (bool, error) {
	if jblk < j.First || jblk >= j.Last {
		return false, super.Errorf(super.ErrCorrupt, "journal", super.NoBlock, -1, "journal block %d is outside the log [%d, %d)", jblk, j.First, j.Last)
	}
	b, _, err := j.read(jblk)
	if err != nil {
		return false, err
	}
	h, err := DecodeHeader(b)
	if err != nil {
		return false, nil
	}
	return h.Valid() && h.Sequence == seq+1, nil
}
