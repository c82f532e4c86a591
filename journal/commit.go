package journal

import (
	"time"

	"github.com/ext4relink/ext4relink/super"
)

// CommitHeaderSize is sizeof(struct commit_header).
const CommitHeaderSize = 0x3C

// Commit is a commit block (struct commit_header): the record that makes a
// transaction complete.
//
// With checksum v1 (COMPAT_CHECKSUM) ChksumType is 1 (crc32), ChksumSize 4
// and Chksum[0] the crc32_be chained over the transaction's descriptor and
// data blocks. With checksum v2/v3 Chksum[0] is crc32c(j_csum_seed) over
// the whole block with Chksum[0] zeroed and the type and size are 0.
type Commit struct {
	Header
	ChksumType uint8     // 0x0C h_chksum_type
	ChksumSize uint8     // 0x0D h_chksum_size
	Padding    [2]byte   // 0x0E h_padding
	Chksum     [8]uint32 // 0x10 h_chksum[JBD2_CHECKSUM_BYTES]
	CommitSec  uint64    // 0x30 h_commit_sec
	CommitNsec uint32    // 0x38 h_commit_nsec
	fm         Format
	raw        []byte
}

func (c *Commit) fields() []field {
	fs := append(c.Header.fields(), f(0x0C, &c.ChksumType), f(0x0D, &c.ChksumSize), f(0x0E, c.Padding[:]))
	for i := range c.Chksum {
		fs = append(fs, f(0x10+4*i, &c.Chksum[i]))
	}
	return append(fs, f(0x30, &c.CommitSec), f(0x38, &c.CommitNsec))
}

// DecodeCommit parses a commit block; the block size is len(b).
func DecodeCommit(b []byte, fm Format) (*Commit, error) {
	h, err := DecodeHeader(b)
	if err != nil {
		return nil, err
	}
	if !h.Valid() || h.BlockType != BlockCommit {
		return nil, super.Errorf(super.ErrCorrupt, "journal commit block", super.NoBlock, 0,
			"header magic %#x type %d is not a commit block", h.Magic, h.BlockType)
	}
	c := &Commit{fm: fm, raw: append([]byte(nil), b...)}
	decodeBE(b, c.fields())
	return c, nil
}

// Encode returns the block. It does not update the checksum.
func (c *Commit) Encode() []byte {
	b := append([]byte(nil), c.raw...)
	if len(b) == 0 {
		b = make([]byte, c.fm.BlockSize)
	}
	encodeBE(b, c.fields())
	return b
}

// Time is the commit time (h_commit_sec, h_commit_nsec).
func (c *Commit) Time() time.Time { return time.Unix(int64(c.CommitSec), int64(c.CommitNsec)) }

// ChecksumValue is the checksum v2/v3 value (jbd2_commit_block_csum_set).
func (c *Commit) ChecksumValue(seed uint32) uint32 {
	t := *c
	t.Chksum[0] = 0
	return super.Crc32c(seed, t.Encode())
}

// VerifyChecksum is jbd2_commit_block_csum_verify: true without checksum v2/v3.
func (c *Commit) VerifyChecksum(seed uint32) bool {
	return !c.fm.CsumV2or3() || c.Chksum[0] == c.ChecksumValue(seed)
}

// SetChecksum stores the checksum v2/v3 value.
func (c *Commit) SetChecksum(seed uint32) {
	if c.fm.CsumV2or3() {
		c.Chksum[0] = c.ChecksumValue(seed)
	}
}

// VerifyV1 is the checksum v1 test of PASS_SCAN: the commit carries
// crc32 of the transaction (type 1, size 4, value sum), or no checksum at
// all (type, size and value all zero).
func (c *Commit) VerifyV1(sum uint32) bool {
	return (c.ChksumType == ChecksumCRC32 && c.ChksumSize == crc32ChksumSize && c.Chksum[0] == sum) ||
		(c.ChksumType == 0 && c.ChksumSize == 0 && c.Chksum[0] == 0)
}
