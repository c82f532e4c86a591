package inode

import "time"

// Timestamp encoding (ext4_encode_extra_time / ext4_decode_extra_time): the
// base field holds signed 32-bit seconds; the *_extra field holds two epoch
// bits that extend the seconds past 2038 and 30 bits of nanoseconds.
const (
	epochBits = 2
	epochMask = 1<<epochBits - 1
)

// DecodeTime joins a base timestamp and its extra field. Pass hasExtra
// false when the inode is too small to hold the extra field.
func DecodeTime(base, extra uint32, hasExtra bool) time.Time {
	sec := int64(int32(base))
	if !hasExtra {
		return time.Unix(sec, 0)
	}
	sec += int64(extra&epochMask) << 32
	return time.Unix(sec, int64(extra>>epochBits))
}

// EncodeTime splits t into the base seconds and the extra field.
func EncodeTime(t time.Time) (base, extra uint32) {
	sec := t.Unix()
	base = uint32(int32(sec))
	epoch := uint32((sec-int64(int32(sec)))>>32) & epochMask
	return base, epoch | uint32(t.Nanosecond())<<epochBits
}

// Offsets of the *_extra fields, for fits().
const (
	offCtimeExtraEnd  = 0x88
	offMtimeExtraEnd  = 0x8C
	offAtimeExtraEnd  = 0x90
	offCrtimeEnd      = 0x94
	offCrtimeExtraEnd = 0x98
)

// ChangeTime, ModTime, AccessTime are i_ctime, i_mtime, i_atime with their
// extra fields when the inode holds them.
func (i *Inode) ChangeTime() time.Time {
	return DecodeTime(i.Ctime, i.CtimeExtra, i.fits(offCtimeExtraEnd))
}
func (i *Inode) ModTime() time.Time {
	return DecodeTime(i.Mtime, i.MtimeExtra, i.fits(offMtimeExtraEnd))
}
func (i *Inode) AccessTime() time.Time {
	return DecodeTime(i.Atime, i.AtimeExtra, i.fits(offAtimeExtraEnd))
}

// BirthTime is i_crtime; ok is false when the inode has no room for it.
func (i *Inode) BirthTime() (t time.Time, ok bool) {
	if !i.fits(offCrtimeEnd) {
		return time.Time{}, false
	}
	return DecodeTime(i.Crtime, i.CrtimeExtra, i.fits(offCrtimeExtraEnd)), true
}

// SetCtime, SetMtime, SetAtime store t, with nanoseconds and epoch bits
// when the inode holds the extra field.
func (i *Inode) SetCtime(t time.Time) {
	i.Ctime, i.CtimeExtra = i.encodeTime(t, offCtimeExtraEnd, i.CtimeExtra)
}
func (i *Inode) SetMtime(t time.Time) {
	i.Mtime, i.MtimeExtra = i.encodeTime(t, offMtimeExtraEnd, i.MtimeExtra)
}
func (i *Inode) SetAtime(t time.Time) {
	i.Atime, i.AtimeExtra = i.encodeTime(t, offAtimeExtraEnd, i.AtimeExtra)
}

func (i *Inode) encodeTime(t time.Time, extraEnd int, old uint32) (uint32, uint32) {
	base, extra := EncodeTime(t)
	if !i.fits(extraEnd) {
		return base, old
	}
	return base, extra
}
