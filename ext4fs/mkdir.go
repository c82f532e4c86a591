package ext4fs

import (
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/ext4relink/ext4relink/bitmap"
	"github.com/ext4relink/ext4relink/dirent"
	"github.com/ext4relink/ext4relink/inode"
	"github.com/ext4relink/ext4relink/internal/devio"
	"github.com/ext4relink/ext4relink/super"
)

// Creating a directory (mkdir inside the filesystem, for relinking at an
// original path whose directories are gone): the inode and its one block
// come from the one allocator, the block is made as ext4_init_new_dir makes
// it, and the name is added to the parent like any other entry.

// LinkMax is EXT4_LINK_MAX: beyond it, with dir_nlink, a directory's link
// count is kept at 1 ("many subdirectories").
const LinkMax = 65000

// NewDirMode is the mode of the directories Mkdir creates: drwxr-xr-x.
const NewDirMode = inode.ModeDir | 0o755

// inheritedFlags are the EXT4_FL_INHERITED flags a new directory takes from
// its parent (ext4_new_inode); casefolded and encrypted parents are refused.
const inheritedFlags = inode.SecrmFl | inode.UnrmFl | inode.SyncFl | inode.NodumpFl | inode.NoatimeFl |
	inode.JournalDataFl | inode.NotailFl | inode.DirsyncFl | inode.ProjinheritFl

// AllocInode takes a free inode for a new file or directory, as the
// kernel's non-Orlov fallback (find_group_other) does: in group goal
// first, then the following groups (wrapping), the first free inode of the
// first group with one. Taking the first free bit keeps the inode at or
// below the group's initialised part (bg_itable_unused), so no
// uninitialised inode lies below a used one. The bookkeeping (bitmap,
// INODE_UNINIT, itable_unused, free and used-dirs counts, checksums,
// superblock) is MarkInodeUsed's.
func (p *Tx) AllocInode(goal uint64, isDir bool, why string) (uint32, error) {
	n := p.SB.GroupCount()
	for i := uint64(0); i < n; i++ {
		g := (goal + i) % n
		gd, err := p.GroupDesc(g)
		if err != nil {
			return 0, err
		}
		if gd.FreeInodesCount() == 0 {
			continue
		}
		bm, err := ReadInodeBitmap(p.SB, g, gd, p.View)
		if err != nil {
			return 0, err
		}
		from := uint64(0)
		if g == 0 {
			from = uint64(p.SB.FirstInode() - 1)
		}
		idx, ok := bitmap.FindZero(bm, from, uint64(p.SB.InodesPerGroup))
		if !ok {
			continue
		}
		ino := uint32(g*uint64(p.SB.InodesPerGroup) + idx + 1)
		if err := p.MarkInodeUsed(ino, isDir); err != nil {
			return 0, err
		}
		return ino, nil
	}
	return 0, super.Errorf(super.ErrUnsupported, "inode allocation", super.NoBlock, -1, "no free inode for %s: every inode is in use", why)
}

// NewDir says what directory Mkdir creates.
type NewDir struct {
	Parent   uint32 // the directory that gets the entry
	Name     []byte
	UID, GID uint32
	Now      time.Time
}

// Mkdir creates an empty directory Name in Parent: a new inode (in the
// parent's group when it has room), one block holding "." and "..", links
// 2, mode 0755, the given owner, every time set to now; the entry added to
// the parent (growing it or its htree when needed) and the parent's link
// count raised (dir_nlink aware). It returns the new inode and how the
// entry was added.
func (p *Tx) Mkdir(nd NewDir) (uint32, string, error) {
	if p.SB.HasRoCompat(super.RoCompatQuota) || p.SB.HasRoCompat(super.RoCompatProject) {
		return 0, "", super.Errorf(super.ErrUnsupported, "directory creation", super.NoBlock, -1,
			"creating a directory changes the owner's quota usage (quota feature); ext4relink does not edit quota files. Relink into a directory that exists, e.g. /lost+found")
	}
	pd, err := p.OpenDir(nd.Parent)
	if err != nil {
		return 0, "", err
	}
	if pd.Params.Casefold || pd.Params.Encrypted {
		return 0, "", fmt.Errorf("%w: directory inode %d is casefolded or encrypted: ext4relink does not create directories in it", devio.ErrRequest, nd.Parent)
	}
	if err := (dirent.NewEntry{Name: nd.Name, Inode: 1, FileType: inode.FtDir}).Check(pd.Params); err != nil {
		return 0, "", err
	}
	pg, _ := p.SB.GroupOfInode(nd.Parent)
	ino, err := p.AllocInode(pg, true, fmt.Sprintf("directory %q", nd.Name))
	if err != nil {
		return 0, "", err
	}
	in, err := p.newDirInode(ino, pd.In, nd)
	if err != nil {
		return 0, "", err
	}
	if err := p.initDirBlock(ino, in, nd.Parent); err != nil {
		return 0, "", err
	}
	how, err := p.AddEntry(pd, nd.Name, ino, inode.FtDir, nd.Now)
	if err != nil {
		return 0, "", err
	}
	return ino, how, p.AddSubdirLink(nd.Parent)
}

// newDirInode builds the in-memory inode of a new directory (not yet
// written: initDirBlock maps its block and writes it).
func (p *Tx) newDirInode(ino uint32, parent *inode.Inode, nd NewDir) (*inode.Inode, error) {
	isz := p.SB.InodeSizeBytes()
	in, err := inode.Decode(make([]byte, isz))
	if err != nil {
		return nil, err
	}
	if isz > inode.GoodOldSize {
		extra := uint32(p.SB.WantExtraIsize)
		if extra == 0 || extra > isz-inode.GoodOldSize {
			extra = min(32, isz-inode.GoodOldSize)
		}
		in.ExtraIsize = uint16(extra)
	}
	in.Mode = NewDirMode
	in.UIDLo, in.UIDHigh = uint16(nd.UID), uint16(nd.UID>>16)
	in.GIDLo, in.GIDHigh = uint16(nd.GID), uint16(nd.GID>>16)
	in.LinksCount = 2
	in.Generation = rand.Uint32()
	in.Flags = parent.Flags & inheritedFlags
	if in.Flags&inode.ProjinheritFl != 0 {
		in.Projid = parent.Projid
	}
	if p.SB.HasIncompat(super.IncompatExtents) {
		in.Flags |= inode.ExtentsFl
		in.Block = inode.NewExtentRoot()
	}
	in.SetAtime(nd.Now)
	in.SetCtime(nd.Now)
	in.SetMtime(nd.Now)
	in.SetCrtime(nd.Now)
	return in, nil
}

// initDirBlock maps the new directory's block 0 (through the allocator,
// near its inode), fills it with "." and "..", and writes the inode.
func (p *Tx) initDirBlock(ino uint32, in *inode.Inode, parent uint32) error {
	d := &Dir{Ino: ino, In: in, Params: dirent.NewParams(p.SB, in.Seed(p.SB.CsumSeed(), ino))}
	phys, err := p.growDir(d, 0)
	if err != nil {
		return err
	}
	b, err := dirent.NewDirBlock0(ino, parent, d.Params)
	if err != nil {
		return err
	}
	p.Write(phys, b, fmt.Sprintf("new directory %d block 0: \".\" and \"..\" (-> %d)", ino, parent))
	if err := p.PutInode(ino, d.In, "new directory: mode 0755, links 2, one block"); err != nil {
		return err
	}
	_, _, err = p.Inode(ino) // validate what was built, as any reader will
	return err
}

// AddSubdirLink gives directory dir the link a new subdirectory's ".."
// accounts for: with dir_nlink a count at EXT4_LINK_MAX becomes 1 ("many"),
// and 1 stays 1; without it, reaching the limit is refused.
func (p *Tx) AddSubdirLink(dir uint32) error {
	in, _, err := p.Inode(dir)
	if err != nil {
		return err
	}
	nlink := p.SB.HasRoCompat(super.RoCompatDirNlink)
	switch {
	case in.LinksCount == 1 && nlink:
		return nil // already "many subdirectories"
	case in.LinksCount+1 >= LinkMax && nlink:
		in.LinksCount = 1
	case in.LinksCount+1 >= LinkMax:
		return fmt.Errorf("%w: directory inode %d has %d links, the most ext4 allows without dir_nlink", devio.ErrRequest, dir, in.LinksCount)
	default:
		in.LinksCount++
	}
	return p.PutInode(dir, in, "one more link (the new subdirectory's \"..\")")
}
