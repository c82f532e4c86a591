package journal

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/ext4relink/ext4relink/super"
)

// ErrFastCommitPending reports that the fast-commit area holds valid fast
// commits newer than the last full commit: the kernel (and e2fsck) would
// replay them into inodes, extents and directories after the journal. This
// package does not do that, so callers must refuse (errors.Is also matches
// super.ErrUnsupported).
var ErrFastCommitPending = fmt.Errorf("valid fast commits are pending replay: %w", super.ErrUnsupported)

// Fast-commit tags (ext4_fc_tl.fc_tag, fs/ext4/fast_commit.h). Fast-commit
// records are little-endian tag-length-value records packed into the
// blocks of the fast-commit area.
const (
	FCTagAddRange = 0x0001 // EXT4_FC_TAG_ADD_RANGE: struct ext4_fc_add_range
	FCTagDelRange = 0x0002 // EXT4_FC_TAG_DEL_RANGE: struct ext4_fc_del_range
	FCTagCreat    = 0x0003 // EXT4_FC_TAG_CREAT: struct ext4_fc_dentry_info
	FCTagLink     = 0x0004 // EXT4_FC_TAG_LINK: struct ext4_fc_dentry_info
	FCTagUnlink   = 0x0005 // EXT4_FC_TAG_UNLINK: struct ext4_fc_dentry_info
	FCTagInode    = 0x0006 // EXT4_FC_TAG_INODE: struct ext4_fc_inode
	FCTagPad      = 0x0007 // EXT4_FC_TAG_PAD
	FCTagTail     = 0x0008 // EXT4_FC_TAG_TAIL: struct ext4_fc_tail
	FCTagHead     = 0x0009 // EXT4_FC_TAG_HEAD: struct ext4_fc_head

	fcTagBaseLen      = 4   // EXT4_FC_TAG_BASE_LEN
	fcSupportedFeats  = 0   // EXT4_FC_SUPPORTED_FEATURES
	ext4NameLen       = 255 // EXT4_NAME_LEN
	ext4GoodOldInode  = 128 // EXT4_GOOD_OLD_INODE_SIZE
	fcReplayStop      = 0   // JBD2_FC_REPLAY_STOP
	fcReplayContinue  = 1   // JBD2_FC_REPLAY_CONTINUE
	extInitMaxLen     = 1 << 15
	fcDentryFixedSize = 8
)

// FCTagName names a fast-commit tag as fs/ext4/fast_commit.h's tag2str does.
func FCTagName(tag uint16) string {
	switch tag {
	case FCTagLink:
		return "ADD_ENTRY"
	case FCTagUnlink:
		return "DEL_ENTRY"
	case FCTagAddRange:
		return "ADD_RANGE"
	case FCTagCreat:
		return "CREAT_DENTRY"
	case FCTagDelRange:
		return "DEL_RANGE"
	case FCTagInode:
		return "INODE"
	case FCTagPad:
		return "PAD"
	case FCTagTail:
		return "TAIL"
	case FCTagHead:
		return "HEAD"
	}
	return "ERROR"
}

// FCTag is one fast-commit record, decoded according to its tag.
type FCTag struct {
	Block  uint64 // journal block holding it
	Offset int    // byte offset of its ext4_fc_tl in that block
	Tag    uint16 // fc_tag
	Len    uint16 // fc_len: bytes of value after the 4-byte tag-length header

	Ino       uint32 // ADD_RANGE, DEL_RANGE, CREAT, LINK, UNLINK, INODE: fc_ino
	Parent    uint32 // CREAT, LINK, UNLINK: fc_parent_ino
	Name      []byte // CREAT, LINK, UNLINK: the entry name (fc_dname)
	LBlk      uint32 // ADD_RANGE: ee_block; DEL_RANGE: fc_lblk
	Count     uint32 // ADD_RANGE: extent length in blocks; DEL_RANGE: fc_len
	PBlk      uint64 // ADD_RANGE: first physical block
	Unwritten bool   // ADD_RANGE: the extent is unwritten (preallocated)
	RawInode  []byte // INODE: fc_raw_inode, the on-disk inode bytes
	TID       uint32 // HEAD, TAIL: fc_tid
	Features  uint32 // HEAD: fc_features
	CRC       uint32 // TAIL: fc_crc
}

func (t FCTag) String() string {
	s := FCTagName(t.Tag)
	switch t.Tag {
	case FCTagHead:
		s += fmt.Sprintf(", features %#x, tid %d", t.Features, t.TID)
	case FCTagTail:
		s += fmt.Sprintf(", tid %d", t.TID)
	case FCTagInode:
		s += fmt.Sprintf(", inode %d", t.Ino)
	case FCTagAddRange:
		s += fmt.Sprintf(", inode %d, lblk %d, pblk %d, len %d", t.Ino, t.LBlk, t.PBlk, t.Count)
		if t.Unwritten {
			s += " (unwritten)"
		}
	case FCTagDelRange:
		s += fmt.Sprintf(", inode %d, lblk %d, len %d", t.Ino, t.LBlk, t.Count)
	case FCTagCreat, FCTagLink, FCTagUnlink:
		s += fmt.Sprintf(", parent %d, ino %d, name %q", t.Parent, t.Ino, t.Name)
	}
	return s
}

// decodeFCValue fills the typed fields of t from its value bytes.
func decodeFCValue(t *FCTag, v []byte) {
	le := binary.LittleEndian
	u32 := func(o int) uint32 {
		if o+4 > len(v) {
			return 0
		}
		return le.Uint32(v[o:])
	}
	switch t.Tag {
	case FCTagHead:
		t.Features, t.TID = u32(0), u32(4)
	case FCTagTail:
		t.TID, t.CRC = u32(0), u32(4)
	case FCTagInode:
		t.Ino = u32(0)
		if len(v) > 4 {
			t.RawInode = append([]byte(nil), v[4:]...)
		}
	case FCTagAddRange:
		// struct ext4_fc_add_range { fc_ino; struct ext4_extent fc_ex }.
		t.Ino, t.LBlk = u32(0), u32(4)
		if len(v) >= 16 {
			n := uint32(le.Uint16(v[8:]))
			hi := uint64(le.Uint16(v[10:]))
			t.PBlk = hi<<32 | uint64(le.Uint32(v[12:]))
			if n > extInitMaxLen {
				t.Unwritten, n = true, n-extInitMaxLen
			}
			t.Count = n
		}
	case FCTagDelRange:
		t.Ino, t.LBlk, t.Count = u32(0), u32(4), u32(8)
	case FCTagCreat, FCTagLink, FCTagUnlink:
		t.Parent, t.Ino = u32(0), u32(4)
		if len(v) > fcDentryFixedSize {
			t.Name = append([]byte(nil), v[fcDentryFixedSize:]...)
		}
	}
}

// fcValueLenValid is ext4_fc_value_len_isvalid.
func fcValueLenValid(tag uint16, n, inodeSize int) bool {
	switch tag {
	case FCTagAddRange:
		return n == 16
	case FCTagDelRange:
		return n == 12
	case FCTagCreat, FCTagLink, FCTagUnlink:
		n -= fcDentryFixedSize
		return n >= 1 && n <= ext4NameLen
	case FCTagInode:
		n -= 4
		return n >= ext4GoodOldInode && n <= inodeSize
	case FCTagPad:
		return true
	case FCTagTail:
		return n >= 8
	case FCTagHead:
		return n == 8
	}
	return false
}

// ParseFastCommitBlock lists the records of one fast-commit block without
// judging them, for display: it stops at the end of the block or at the
// first record whose length runs past it.
func ParseFastCommitBlock(b []byte, jblk uint64) []FCTag {
	var out []FCTag
	for cur := 0; cur+fcTagBaseLen <= len(b); {
		t := FCTag{Block: jblk, Offset: cur,
			Tag: binary.LittleEndian.Uint16(b[cur:]), Len: binary.LittleEndian.Uint16(b[cur+2:])}
		val := cur + fcTagBaseLen
		if int(t.Len) > len(b)-val {
			break
		}
		decodeFCValue(&t, b[val:val+int(t.Len)])
		out = append(out, t)
		cur = val + int(t.Len)
	}
	return out
}

// Fast-commit scan failures: each makes the kernel's PASS_SCAN fail, so it
// recovers nothing and the mount fails.
var (
	errFCCanceled  = errors.New("ECANCELED")
	errFCBadCRC    = errors.New("EFSBADCRC")
	errFCNotSupp   = errors.New("EOPNOTSUPP")
	errFCCorrupted = errors.New("EFSCORRUPTED")
)

// fcScanner is the state of ext4_fc_replay_scan (struct
// ext4_fc_replay_state) across the blocks of the fast-commit area.
type fcScanner struct {
	expected    uint32 // expected_tid: the first transaction not found in the log
	inodeSize   int
	expectedOff int
	curTag      int
	numTags     int // fc_replay_num_tags: tags up to the last valid tail
	crc         uint32
	tags        []FCTag
	stop        string
}

// block scans one fast-commit block (ext4_fc_replay_scan). It returns
// fcReplayContinue, fcReplayStop, or an error the kernel would return.
func (s *fcScanner) block(b []byte, off int, jblk uint64) (int, error) {
	le := binary.LittleEndian
	if s.expectedOff == 0 {
		s.curTag, s.numTags, s.crc = 0, 0, 0
		if len(b) < 2 || le.Uint16(b) != FCTagHead {
			s.stop = fmt.Sprintf("block %d does not start with a HEAD tag: no fast commit", jblk)
			return fcReplayStop, nil
		}
	}
	if off != s.expectedOff {
		s.stop = fmt.Sprintf("block %d out of order", jblk)
		return 0, errFCCorrupted
	}
	s.expectedOff++
	ret := fcReplayContinue
	for cur := 0; cur+fcTagBaseLen <= len(b); {
		t := FCTag{Block: jblk, Offset: cur, Tag: le.Uint16(b[cur:]), Len: le.Uint16(b[cur+2:])}
		val := cur + fcTagBaseLen
		if int(t.Len) > len(b)-val || !fcValueLenValid(t.Tag, int(t.Len), s.inodeSize) {
			s.stop = fmt.Sprintf("invalid record (tag %d, length %d) at block %d offset %d", t.Tag, t.Len, jblk, cur)
			return s.stopOr(errFCCanceled)
		}
		v := b[val : val+int(t.Len)]
		decodeFCValue(&t, v)
		switch t.Tag {
		case FCTagAddRange, FCTagDelRange, FCTagLink, FCTagUnlink, FCTagCreat, FCTagInode, FCTagPad:
			s.curTag++
			s.crc = super.Crc32c(s.crc, b[cur:val+int(t.Len)])
		case FCTagTail:
			s.curTag++
			s.crc = super.Crc32c(s.crc, b[cur:val+4])
			if t.TID == s.expected && t.CRC == s.crc {
				s.numTags = s.curTag
			} else {
				s.stop = fmt.Sprintf("TAIL at block %d offset %d (tid %d, expected %d; crc %#x, computed %#x) does not match",
					jblk, cur, t.TID, s.expected, t.CRC, s.crc)
				s.tags = append(s.tags, t)
				return s.stopOr(errFCBadCRC)
			}
			s.crc = 0
		case FCTagHead:
			if t.Features&^fcSupportedFeats != 0 {
				s.stop = fmt.Sprintf("HEAD at block %d has unsupported features %#x", jblk, t.Features)
				s.tags = append(s.tags, t)
				return 0, errFCNotSupp
			}
			if t.TID != s.expected {
				s.stop = fmt.Sprintf("HEAD at block %d has tid %d, not the expected %d: stale fast commits", jblk, t.TID, s.expected)
				s.tags = append(s.tags, t)
				return fcReplayStop, nil
			}
			s.curTag++
			s.crc = super.Crc32c(s.crc, b[cur:val+int(t.Len)])
		default:
			s.stop = fmt.Sprintf("unknown tag %d at block %d offset %d", t.Tag, jblk, cur)
			return s.stopOr(errFCCanceled)
		}
		s.tags = append(s.tags, t)
		cur = val + int(t.Len)
	}
	return ret, nil
}

// stopOr returns STOP once a valid fast commit was seen, else the error.
func (s *fcScanner) stopOr(err error) (int, error) {
	if s.numTags > 0 {
		return fcReplayStop, nil
	}
	return 0, err
}

// FastCommitArea is what the kernel's fast-commit scan (fc_do_one_pass in
// PASS_SCAN, calling ext4_fc_replay_scan) finds in the fast-commit area.
type FastCommitArea struct {
	First       uint64  // j_fc_first: first journal block scanned
	Last        uint64  // j_fc_last (= s_maxlen): the scan reads up to it, inclusive
	ExpectedTID uint32  // fast commits must carry this tid: the first transaction not in the log
	BlocksRead  int     // fast-commit blocks the scan read
	Tags        []FCTag // every record the scan accepted, in order
	Valid       int     // Tags[:Valid] form complete fast commits that would be replayed
	Stop        string  // why the scan stopped
	Err         error   // non-nil when the scan failed: the kernel then recovers nothing
}

// Replay returns the records that the kernel would replay into the
// filesystem: complete fast commits with a valid tail checksum and the
// expected tid, HEAD and TAIL records included.
func (a *FastCommitArea) Replay() []FCTag {
	if a == nil {
		return nil
	}
	return a.Tags[:a.Valid]
}

// Pending returns an error wrapping ErrFastCommitPending when valid fast
// commits are waiting, naming the inodes they touch; nil otherwise.
func (a *FastCommitArea) Pending() error {
	if a == nil || a.Valid == 0 {
		return nil
	}
	var inodes []uint32
	seen := map[uint32]bool{}
	for _, t := range a.Replay() {
		if t.Ino != 0 && !seen[t.Ino] {
			seen[t.Ino] = true
			inodes = append(inodes, t.Ino)
		}
	}
	return &super.FormatError{Struct: "journal fast-commit area", Block: super.NoBlock, Offset: -1,
		Reason: fmt.Sprintf("%d fast-commit records with tid %d touching inodes %v are newer than the last full commit",
			a.Valid, a.ExpectedTID, inodes),
		Err: ErrFastCommitPending}
}
