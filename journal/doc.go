// Package journal reads, replays in memory and writes the jbd2 journal of
// an ext3/ext4 filesystem, without reaping orphans.
//
// The kernel (fs/jbd2/recovery.c), e2fsck and debugfs (e2fsck/recovery.c,
// the same code) replay the journal and then delete every orphan. This
// package replays it into an Overlay instead: reading never writes, and
// the caller decides what to write and when.
//
// # Loading
//
// Load reads journal block 0 and checks it like journal_check_superblock:
// magic, superblock format 1 or 2, s_blocksize equal to the filesystem
// block size, s_maxlen within the journal inode, 1 <= s_first < s_maxlen,
// no unknown incompat or ro_compat features, at least 1024 log blocks
// besides the fast-commit area, checksum v1, v2 and v3 mutually exclusive,
// crc32c as checksum type and a matching superblock checksum under v2/v3.
// Like e2fsck it also refuses a journal shared by several filesystems. A
// version 1 superblock has no features. Each failure is a
// *super.FormatError wrapping super.ErrCorrupt, ErrChecksum or
// ErrUnsupported; nothing is guessed.
//
// # Recovery: where the kernel stops
//
// Journal.Scan reproduces PASS_SCAN and PASS_REVOKE of do_one_pass;
// Journal.Recover adds PASS_REPLAY, lazily. Starting at s_start with
// s_sequence, the log is walked block by block, wrapping from j_last (one
// past the last log block: s_maxlen, or s_maxlen - fast-commit blocks) back
// to s_first, exactly once per step as the kernel's wrap() does. The walk
// ends (Log.Stop) at the first block without the jbd2 magic, of another
// sequence, or of a type that cannot be in a log; transactions below the
// sequence it ended in (Log.End) are replayed. Checksums decide as in the
// kernel:
//
//   - v2/v3 commit block checksum mismatch: the transaction and everything
//     after it are not replayed (Log.FailedCommit, j_failed_commit), unless
//     its commit time is older than the previous commit's, which marks a
//     stale log end. With async_commit the kernel scans on and the last
//     mismatch found sets the end.
//   - v2/v3 descriptor or revoke block checksum mismatch: PASS_SCAN notes it
//     and looks at the next commit block; if that commit is not older than
//     the previous one the whole recovery fails (an error, nothing
//     replayed), otherwise the log ends there.
//   - v1 (COMPAT_CHECKSUM): PASS_SCAN chains crc32_be (Crc32BE) over each
//     descriptor block and the data blocks it describes (calc_chksums) and
//     compares the result with the commit block (type 1, size 4), which
//     may also carry no checksum at all; a mismatch ends the log like a v2
//     commit mismatch. This is the only case in which the scan reads data
//     blocks, and only while no earlier mismatch was seen.
//   - a revoke block of a replayed transaction whose r_count exceeds the
//     block fails the recovery (EINVAL in scan_revoke_records).
//   - v2/v3 data block checksums (tag checksums over the logged, escaped
//     copy, seeded with the sequence) are checked only in PASS_REPLAY: a
//     copy that fails is skipped, the block keeps its previous value, and
//     the kernel replays everything else and then fails the mount with EIO.
//     Overlay.ReadBlock skips such copies; Overlay.Verify reports them.
//
// A block revoked in transaction R is not replayed from any transaction up
// to and including R (jbd2_journal_test_revoke); later copies are.
//
// The package refuses, where the kernel would carry on, two things only
// crafted logs can hold: a log longer than twice the journal, and a
// replayed descriptor whose data blocks wrap around the log more than once
// (the kernel's PASS_SCAN and PASS_REPLAY would then disagree).
//
// # The lazy overlay
//
// The scan reads the journal superblock, the descriptor, revoke and commit
// blocks and the block that ends the log (plus, under v1, the data blocks
// it must checksum, and the fast-commit blocks). The Overlay maps every
// filesystem block to its logged copies in log order; ReadBlock reads the
// newest copy that is not revoked and whose tag checksum verifies, falling
// back to older ones, and returns it un-escaped (FlagEscape: the first four
// bytes become the magic again). That is the value the kernel's replay
// leaves in the block. All reads are ReadAt calls at fsblk*blocksize,
// counted by Journal.Stats. Tags are kept as runs of consecutive blocks
// with one checksum each (scan.go), so a big log costs little memory.
//
// # Fast commits
//
// With JBD2_FEATURE_INCOMPAT_FAST_COMMIT the last s_num_fc_blks blocks
// (256 when zero) form the fast-commit area: j_fc_first = s_maxlen -
// blocks + 1 up to j_fc_last = s_maxlen (ext4 writes up to s_maxlen-1; the
// kernel's scan reads up to s_maxlen inclusive, which would be a read
// error). After the full commits, the kernel's fc_do_one_pass feeds these
// blocks to ext4_fc_replay_scan, which this package reproduces (scanning
// only, for a non-empty journal): records are little-endian tag-length-
// value triples checked by ext4_fc_value_len_isvalid; the first block must
// start with HEAD; a HEAD with another tid than Log.End (the first
// transaction not in the log) means stale fast commits; each TAIL closes a
// fast commit whose crc32c (seed 0, over every record since the previous
// TAIL, plus the TAIL's tid) and tid must match. Records up to the last
// good TAIL are replayed by the kernel and e2fsck into inodes, extents and
// directories: FastCommitArea.Pending then returns ErrFastCommitPending,
// and the records are listed by FastCommitArea.Replay. A scan failure
// before any good TAIL (unknown record, bad first TAIL checksum,
// unsupported HEAD features) fails the kernel's whole recovery, and
// Recover's too.
//
// e2fsck 1.47's copy of the scan differs: it treats a HEAD of another tid
// as an error (EINVAL), bounds records by the block less one byte and does
// not validate record lengths. Its recovery.c also wraps the log at
// s_maxlen rather than before the fast-commit area, and debugfs 1.47 (jr,
// not logdump) never sets up the fast-commit bounds, so its wrap() is
// broken and jr replays nothing on a fast-commit journal.
//
// # After a replay
//
// The kernel continues with sequence Log.End+1 (skipping Log.End, whose
// blocks may lie half-written in the log): Log.NextSequence. e2fsck and
// debugfs then mark the journal empty with s_start = 0 and s_sequence =
// Log.End+1 (SuperblockBytes(0, NextSequence())); after a failed recovery
// they leave s_sequence unchanged. debugfs jr also changes, in the primary
// superblock: s_feature_incompat (RECOVER cleared), s_lastcheck (set to
// s_mtime-1 when not older), s_kbytes_written (increased when non-zero),
// s_wtime (and s_wtime_hi), s_state (VALID_FS cleared after a failed
// recovery; ERROR_FS set when a commit failed its checksum, via s_errno =
// -EINVAL in the journal superblock, which it then clears again) and
// s_checksum; on meta_bg filesystems its final flush also rewrites the
// backup group descriptor blocks from the primaries. The kernel sets
// ERROR_FS itself when a commit failed.
//
// Note that the kernel replays only when the ext4 superblock has
// needs_recovery; with the flag clear and s_start != 0 it discards the log
// (jbd2_journal_wipe).
//
// # History: what the log still holds
//
// Journal.History walks the whole log area, not only the live log, and
// keeps every transaction still physically there: the live ones and the
// older, checkpointed ones the log has not overwritten. Like PASS_SCAN it
// reads descriptor, revoke and commit blocks and hops over the data
// blocks a descriptor describes. A transaction counts only when its chain
// of descriptor and revoke blocks reaches its commit block and the
// checksums of those blocks verify (the v1 crc32 over its data too);
// copies a newer transaction claims are dropped. History.Versions lists a
// block's copies newest first, History.Read reads one on demand and checks
// its tag checksum, refusing a copy a later log overwrote. Old copies of
// directory blocks are where deleted names survive.
//
// # Writing
//
// EncodeTransaction lays a transaction out as jbd2_journal_commit_transaction
// does (descriptor tags packed until less than a tag, a UUID and the tail
// would fit; a zero UUID after the first tag, as inode journals have no
// j_uuid; escaped data; commit block with its checksum) and
// SuperblockBytes re-checksums the journal superblock. The caller owns the
// I/O order; a safe one is: write the descriptor and data blocks, flush,
// write the commit block, flush, write SuperblockBytes(start, seq), set
// needs_recovery in the ext4 superblock, flush. To apply a replay: write
// every Overlay block home, flush, write SuperblockBytes(0,
// Log.NextSequence()), clear needs_recovery, flush.
package journal
