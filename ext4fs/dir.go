package ext4fs

import (
	"errors"
	"fmt"
	"strings"

	"github.com/ext4relink/ext4relink/dirent"
	"github.com/ext4relink/ext4relink/inode"
	"github.com/ext4relink/ext4relink/internal/devio"
	"github.com/ext4relink/ext4relink/super"
)

// Dir is a directory inode loaded through a Tx.
type Dir struct {
	Ino    uint32
	In     *inode.Inode
	Params dirent.Params
	Blocks *inode.BlockMap // nil for inline directories
}

func (p *Tx) OpenDir(ino uint32) (*Dir, error) {
	if d := p.reopenDir(ino); d != nil {
		return d, nil
	}
	d, err := p.loadDir(ino)
	if err == nil {
		p.rememberDir(d)
	}
	return d, err
}

func (p *Tx) loadDir(ino uint32) (*Dir, error) {
	in, _, err := p.Inode(ino)
	if err != nil {
		return nil, err
	}
	if !in.IsDir() {
		return nil, fmt.Errorf("%w: inode %d is not a directory", devio.ErrRequest, ino)
	}
	if in.LinksCount == 0 {
		return nil, fmt.Errorf("%w: directory inode %d has been deleted (links 0)", devio.ErrRequest, ino)
	}
	d := &Dir{Ino: ino, In: in, Params: dirent.NewParams(p.SB, in.Seed(p.SB.CsumSeed(), ino))}
	d.Params.Casefold = in.Flags&inode.CasefoldFl != 0
	d.Params.Encrypted = in.Flags&inode.EncryptFl != 0
	if in.HasInlineData() {
		return d, nil
	}
	if d.Blocks, err = p.ReadMap(ino, in); err != nil {
		return nil, err
	}
	if in.Size()%uint64(p.fs.BlockSize()) != 0 || in.Size() == 0 {
		return nil, super.Errorf(super.ErrCorrupt, fmt.Sprintf("directory inode %d", ino), super.NoBlock, -1,
			"i_size %d is not a positive multiple of the block size", in.Size())
	}
	return d, nil
}

// openedDir is a directory openDir loaded and validated, with what that
// depended on: the inode's bytes and the content of its block-map blocks.
type openedDir struct {
	raw  string       // the inode record as read
	meta string       // the block-map blocks (m.Meta), concatenated
	in   *inode.Inode // private: handed out as clones
	m    *inode.BlockMap
}

// rememberDir keeps what openDir loaded: --all opens the same directories
// (the root, /lost+found) several times per orphan, and decoding and
// validating the inode and mapping its blocks each time cost more than
// everything else a relink does.
func (p *Tx) rememberDir(d *Dir) {
	meta, ok := p.metaContent(d.Blocks)
	if !ok {
		return
	}
	if p.opened == nil {
		p.opened = map[uint32]*openedDir{}
	}
	p.opened[d.Ino] = &openedDir{raw: string(d.In.Raw), meta: meta, in: d.In.Clone(), m: d.Blocks}
}

// reopenDir returns what loadDir would return when the directory's inode
// record and block-map blocks are byte for byte what they were when it was
// loaded (loadDir is a function of them alone), else nil.
func (p *Tx) reopenDir(ino uint32) *Dir {
	c := p.opened[ino]
	if c == nil {
		return nil
	}
	loc, err := p.fs.InodeLocation(ino)
	if err != nil {
		return nil
	}
	b, err := p.View(loc.Block)
	isz := p.SB.InodeSizeBytes()
	if err != nil || int(loc.Off+isz) > len(b) || string(b[loc.Off:loc.Off+isz]) != c.raw {
		return nil
	}
	if meta, ok := p.metaContent(c.m); !ok || meta != c.meta {
		return nil
	}
	in := c.in.Clone()
	d := &Dir{Ino: ino, In: in, Params: dirent.NewParams(p.SB, in.Seed(p.SB.CsumSeed(), ino)), Blocks: c.m}
	d.Params.Casefold = in.Flags&inode.CasefoldFl != 0
	d.Params.Encrypted = in.Flags&inode.EncryptFl != 0
	return d
}

// metaContent concatenates the content of a block map's tree blocks.
func (p *Tx) metaContent(m *inode.BlockMap) (string, bool) {
	if m == nil || len(m.Meta) == 0 {
		return "", true
	}
	var sb strings.Builder
	for _, blk := range m.Meta {
		b, err := p.View(blk)
		if err != nil {
			return "", false
		}
		sb.Write(b)
	}
	return sb.String(), true
}

// nblocks is the number of directory blocks i_size covers.
func (d *Dir) NBlocks(bs uint32) uint32 { return uint32(d.In.Size() / uint64(bs)) }

// indexed reports whether the kernel treats the directory as an htree.
func (d *Dir) Indexed(sb *super.Superblock) bool { return IsHtree(sb, d.In) }

// IsHtree reports whether the kernel treats directory in as an htree: the
// INDEX flag counts only with the dir_index feature.
func IsHtree(sb *super.Superblock, in *inode.Inode) bool {
	return in.Flags&inode.IndexFl != 0 && sb.HasCompat(super.CompatDirIndex)
}

// reader returns the dirent.ReadFunc for the directory's logical blocks.
func (p *Tx) DirReader(d *Dir) dirent.ReadFunc {
	return func(lblk uint32) ([]byte, error) {
		phys, err := d.Phys(lblk)
		if err != nil {
			return nil, err
		}
		return p.Read(phys)
	}
}

func (d *Dir) Phys(lblk uint32) (uint64, error) {
	phys, unwritten, ok := d.Blocks.Map(lblk)
	if !ok || unwritten {
		return 0, super.Errorf(super.ErrCorrupt, fmt.Sprintf("directory inode %d", d.Ino), super.NoBlock, -1,
			"logical block %d is a hole or unwritten", lblk)
	}
	return phys, nil
}

// inlineRegions splits an inline directory into its i_block and system.data parts.
func (d *Dir) InlineRegions() (iblock, xattr []byte, err error) {
	data, err := inode.InlineData(d.In, d.Ino)
	if err != nil {
		return nil, nil, err
	}
	n := min(len(data), inode.MinInlineDataSize)
	return data[:n], data[n:], nil
}

// lookup finds name in the directory: the entry's inode, or found false.
func (p *Tx) Lookup(d *Dir, name []byte) (uint32, bool, error) {
	switch {
	case d.In.HasInlineData():
		ib, xa, err := d.InlineRegions()
		if err != nil {
			return 0, false, err
		}
		e, _, found, err := dirent.InlineLookup(ib, xa, name, d.Params)
		return e.Inode, found, err
	case d.Indexed(p.SB):
		_, e, found, err := dirent.FindIndexed(d.Params, name, p.DirReader(d))
		return e.Inode, found, err
	}
	// A scan from block 0, every block validated: through the transaction's index
	// of the directory, which parses each block once (and again after it
	// is written).
	return p.lookupIndexed(d, name)
}

// Resolve walks path (relative to the root, a leading / allowed) and
// returns the directory inode that would hold its last component, the
// component itself, and the inode the full path names already (0 if none).
func (p *Tx) Resolve(path string) (parent uint32, name []byte, existing uint32, err error) {
	parts := strings.Split(strings.Trim(path, "/"), "/")
	if strings.Trim(path, "/") == "" {
		return 0, nil, 0, fmt.Errorf("%w: --name %q names the root directory; give a path such as /lost+found/rescued", devio.ErrRequest, path)
	}
	for _, c := range parts {
		if err := dirent.CheckName([]byte(c)); err != nil {
			return 0, nil, 0, fmt.Errorf("%w: --name %q: component %q: %v", devio.ErrRequest, path, c, reason(err))
		}
	}
	cur := uint32(RootIno)
	for i, c := range parts[:len(parts)-1] {
		d, err := p.OpenDir(cur)
		if err != nil {
			return 0, nil, 0, fmt.Errorf("resolving %q: %w", "/"+strings.Join(parts[:i], "/"), err)
		}
		next, found, err := p.Lookup(d, []byte(c))
		if err != nil {
			return 0, nil, 0, err
		}
		if !found {
			return 0, nil, 0, missingParent(parts, i)
		}
		cur = next
	}
	d, err := p.OpenDir(cur)
	if err != nil {
		if errors.Is(err, devio.ErrRequest) {
			return 0, nil, 0, fmt.Errorf("%w: the parent of %q: %s", devio.ErrRequest, path, strings.TrimPrefix(err.Error(), devio.ErrRequest.Error()+": "))
		}
		return 0, nil, 0, err
	}
	name = []byte(parts[len(parts)-1])
	existing, _, err = p.Lookup(d, name)
	return cur, name, existing, err
}

// hostDirs are top-level names that are usually mount points on the host,
// a sign that a --name was given as a path on this machine.
var hostDirs = map[string]bool{"mnt": true, "media": true, "run": true, "target": true, "sysroot": true}

// missingParent explains a --name whose directory parts[:i+1] does not
// exist. It never suggests mounting: a mount frees the orphans.
func missingParent(parts []string, i int) error {
	msg := fmt.Sprintf("the parent directory /%s does not exist in this filesystem; pick a directory that exists: /lost+found always does, or add --parents to create it (needs the filesystem's journal). "+
		"Do not mount the filesystem to create one: any mount, even read-only, frees the orphans", strings.Join(parts[:i+1], "/"))
	if i == 0 && hostDirs[parts[0]] {
		msg += fmt.Sprintf(". Note: the path is inside the filesystem, from its own root, not a path on this machine: for a filesystem usually mounted at /%s, write /%s as /%s",
			strings.Join(parts[:min(2, len(parts)-1)], "/"), strings.Join(parts, "/"), strings.Join(parts[min(2, len(parts)-1):], "/"))
	}
	return fmt.Errorf("%w: %s", devio.ErrRequest, msg)
}

// reason strips the FormatError wrapping for messages about user input.
func reason(err error) string {
	var fe *super.FormatError
	if errors.As(err, &fe) {
		return fe.Reason
	}
	return err.Error()
}

// ReadPath returns the content of the file (or the target of the symlink)
// that path names, read through the journal overlay.
func (fs *FS) ReadPath(path string) ([]byte, error) {
	p := NewTx(fs)
	_, _, ino, err := p.Resolve(path)
	if err != nil {
		return nil, err
	}
	if ino == 0 {
		return nil, fmt.Errorf("%w: %s does not exist", devio.ErrRequest, path)
	}
	in, _, err := fs.ReadInode(ino)
	if err != nil {
		return nil, err
	}
	if in.IsSymlink() {
		return inode.Symlink(in, fs.InodeFS(), ino, fs.ReadBlock)
	}
	return inode.Content(in, fs.InodeFS(), ino, fs.ReadBlock)
}
