package engine

import (
	"strconv"
	"time"

	"github.com/ext4relink/ext4relink/dirent"
)

// EarlierRelinks returns the inodes that directory into (default
// /lost+found) links under the name --all gives them, "#INODE", with
// links and no orphan chain link left: the evidence that an earlier run
// relinked them. It lets "no orphans" say "already relinked" only when the
// directory entries show it. A missing or unreadable directory yields none.
func (fs *FS) EarlierRelinks(into string) []uint32 {
	if into == "" {
		into = "/lost+found"
	}
	p := NewPlan(fs, time.Now())
	_, _, dirIno, err := p.Resolve(into)
	if err != nil || dirIno == 0 {
		return nil
	}
	d, err := p.OpenDir(dirIno)
	if err != nil {
		return nil
	}
	var found []uint32
	p.eachEntry(d, func(e dirent.Entry) {
		if len(e.Name) < 2 || e.Name[0] != '#' {
			return
		}
		n, err := strconv.ParseUint(string(e.Name[1:]), 10, 32)
		if err != nil || uint32(n) != e.Inode {
			return
		}
		if in, _, err := p.Inode(e.Inode); err == nil && in.LinksCount > 0 && in.Dtime == 0 {
			found = append(found, e.Inode)
		}
	})
	return found
}
