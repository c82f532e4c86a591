package inode

import "time"

// SetCrtime stores t as i_crtime (with nanoseconds and epoch bits when the
// inode holds i_crtime_extra); an inode too small for i_crtime is left as
// it is.
func (i *Inode) SetCrtime(t time.Time) {
	if !i.fits(offCrtimeEnd) {
		return
	}
	i.Crtime, i.CrtimeExtra = i.encodeTime(t, offCrtimeExtraEnd, i.CrtimeExtra)
}
