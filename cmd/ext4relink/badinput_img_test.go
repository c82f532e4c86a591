package main

import (
	"os"
	"os/exec"
	"testing"

	"github.com/ext4relink/ext4relink/fixtures"
	"github.com/ext4relink/ext4relink/inode"
	"github.com/ext4relink/ext4relink/internal/testfs"
	"github.com/ext4relink/ext4relink/journal"
	"github.com/ext4relink/ext4relink/super"
)

// badEnv is one bad-input case's private world: a writable copy of a
// fixture (or a crafted device) and the tools to damage it precisely.
// Every edit goes through the project's own codecs so that exactly the
// intended defect remains (checksums of the edited structure are
// recomputed unless the checksum itself is the defect).
type badEnv struct {
	t   *testing.T
	img *fixtures.Image // nil for cases that need no fixture
	dev string          // the path passed as --dev
	sb  *super.Superblock
}

func newBadEnv(t *testing.T, fixture string, replay bool) *badEnv {
	t.Helper()
	e := &badEnv{t: t}
	if fixture == "" {
		return e
	}
	e.img = fixtures.Get(t, fixture)
	if replay {
		e.dev = testfs.Replayed(t, e.img)
	} else {
		e.dev = e.img.Copy(t)
	}
	e.sb = testfs.Superblock(t, e.dev)
	return e
}

func (e *badEnv) bs() uint32 { return e.sb.BlockSize() }

// orphan is the inode number of the manifest orphan at path.
func (e *badEnv) orphan(path string) uint32 {
	e.t.Helper()
	o, ok := e.img.Orphan(path)
	if !ok {
		e.t.Fatalf("%s has no orphan %s", e.img.Name, path)
	}
	return uint32(o.Inode)
}

// dir is the inode number of a manifest directory.
func (e *badEnv) dir(path string) uint32 {
	e.t.Helper()
	ino, ok := e.img.Dirs[path]
	if !ok {
		e.t.Fatalf("%s has no directory %s", e.img.Name, path)
	}
	return uint32(ino)
}

func (e *badEnv) writeAt(off int64, b []byte) {
	e.t.Helper()
	f, err := os.OpenFile(e.dev, os.O_WRONLY, 0)
	if err != nil {
		e.t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteAt(b, off); err != nil {
		e.t.Fatal(err)
	}
}

func (e *badEnv) block(blk uint64) []byte { return testfs.Block(e.t, e.dev, e.sb, blk) }

func (e *badEnv) putBlock(blk uint64, b []byte) {
	e.t.Helper()
	if len(b) != int(e.bs()) {
		e.t.Fatalf("block %d: %d bytes", blk, len(b))
	}
	e.writeAt(int64(blk)*int64(e.bs()), b)
}

// flip inverts one byte of block blk.
func (e *badEnv) flip(blk uint64, off int) {
	e.t.Helper()
	b := e.block(blk)
	b[off] ^= 0xFF
	e.putBlock(blk, b)
}

// editSuper changes the primary superblock and stores a valid checksum,
// so that only the edited field is wrong.
func (e *badEnv) editSuper(fn func(sb *super.Superblock)) {
	e.t.Helper()
	sb := testfs.Superblock(e.t, e.dev)
	fn(sb)
	sb.SetChecksum()
	e.writeAt(super.Offset, sb.Encode())
}

// groupDesc reads group g's descriptor and where it lives.
func (e *badEnv) groupDesc(g uint64) (*super.GroupDesc, uint64, uint32) {
	e.t.Helper()
	blk, off := e.sb.DescLocation(g)
	b := e.block(blk)
	gd, err := super.DecodeGroupDesc(b[off : off+e.sb.DescSizeBytes()])
	if err != nil {
		e.t.Fatal(err)
	}
	return gd, blk, off
}

// editGroupDesc changes group g's descriptor and re-checksums it.
func (e *badEnv) editGroupDesc(g uint64, fn func(gd *super.GroupDesc)) {
	e.t.Helper()
	gd, blk, off := e.groupDesc(g)
	fn(gd)
	gd.SetChecksum(e.sb, uint32(g))
	b := e.block(blk)
	copy(b[off:], gd.Encode())
	e.putBlock(blk, b)
}

// inodeAt locates inode ino with debugfs (an independent witness).
func (e *badEnv) inodeAt(ino uint32) (uint64, int) {
	e.t.Helper()
	return testfs.Imap(e.t, e.dev, uint64(ino))
}

// editInode changes inode ino; fix recomputes its checksum afterwards.
func (e *badEnv) editInode(ino uint32, fix bool, fn func(in *inode.Inode)) (blk uint64, off int) {
	e.t.Helper()
	blk, off = e.inodeAt(ino)
	b := e.block(blk)
	isz := int(e.sb.InodeSizeBytes())
	in, err := inode.Decode(b[off : off+isz])
	if err != nil {
		e.t.Fatal(err)
	}
	fn(in)
	if fix {
		in.SetChecksum(e.sb, ino)
	}
	copy(b[off:], in.Encode())
	e.putBlock(blk, b)
	return blk, off
}

// breakInodeChecksum flips the stored inode checksum (l_i_checksum_lo).
func (e *badEnv) breakInodeChecksum(ino uint32) (blk uint64, off int) {
	e.t.Helper()
	return e.editInode(ino, false, func(in *inode.Inode) { in.ChecksumLo ^= 0x5A5A })
}

// readInode decodes inode ino as it is on disk.
func (e *badEnv) readInode(ino uint32) *inode.Inode {
	e.t.Helper()
	blk, off := e.inodeAt(ino)
	in, err := inode.Decode(e.block(blk)[off : off+int(e.sb.InodeSizeBytes())])
	if err != nil {
		e.t.Fatal(err)
	}
	return in
}

// editOrphanBlock changes orphan-file block lblk and re-checksums it.
func (e *badEnv) editOrphanBlock(lblk int, fn func(ob *super.OrphanBlock)) uint64 {
	e.t.Helper()
	ino := e.sb.OrphanFileInum
	seed := e.readInode(ino).Seed(e.sb.CsumSeed(), ino)
	blk := e.dataBlocks(ino)[lblk]
	ob := super.DecodeOrphanBlock(e.block(blk))
	if !ob.VerifyChecksum(e.sb, seed, blk) {
		e.t.Fatalf("orphan file block %d: checksum already wrong", blk)
	}
	fn(ob)
	ob.SetChecksum(e.sb, seed, blk)
	e.putBlock(blk, ob.Encode(e.bs()))
	return blk
}

// dataBlocks lists inode ino's data blocks (debugfs).
func (e *badEnv) dataBlocks(ino uint32) []uint64 {
	e.t.Helper()
	b := testfs.DataBlocks(e.t, e.dev, uint64(ino))
	if len(b) == 0 {
		e.t.Fatalf("inode %d has no data blocks", ino)
	}
	return b
}

// extentTreeBlock is the first extent-tree (ETB) block of inode ino: the
// block `debugfs blocks` lists that `stat`'s data runs do not.
func (e *badEnv) extentTreeBlock(ino uint32) uint64 {
	e.t.Helper()
	data := map[uint64]bool{}
	for _, b := range e.dataBlocks(ino) {
		data[b] = true
	}
	for _, b := range testfs.Blocks(e.t, e.dev, uint64(ino)) {
		if !data[b] {
			return b
		}
	}
	e.t.Fatalf("inode %d has a depth-0 extent tree: no tree block", ino)
	return 0
}

// journalBlocks maps journal block numbers to filesystem blocks (the
// journal inode's data blocks in logical order).
func (e *badEnv) journalBlocks() []uint64 {
	e.t.Helper()
	return e.dataBlocks(e.sb.JournalInum)
}

// logBlock is a journal block and the filesystem block holding it.
type logBlock struct{ jblk, fsblk uint64 }

// commitBlocks lists the commit blocks of the log recovery would scan, in
// log order, using the journal codecs.
func (e *badEnv) commitBlocks() []logBlock {
	e.t.Helper()
	jb := e.journalBlocks()
	jsb, err := journal.DecodeSuperblock(e.block(jb[0]))
	if err != nil {
		e.t.Fatal(err)
	}
	if jsb.Start == 0 {
		e.t.Fatalf("%s: the journal is empty", e.img.Name)
	}
	var out []logBlock
	seq := jsb.Sequence
	for j := uint64(jsb.Start); j < uint64(jsb.MaxLen) && j < uint64(len(jb)); j++ {
		h, err := journal.DecodeHeader(e.block(jb[j]))
		if err != nil || !h.Valid() {
			continue // a logged data block
		}
		if h.Sequence != seq {
			break // a stale block: the end of the log (no wrap in these small logs)
		}
		if h.BlockType == journal.BlockCommit {
			out = append(out, logBlock{j, jb[j]})
			seq++
		}
	}
	return out
}

// fileSum is the sha256 of a regular file ("" for anything else: a block
// device or a path that does not exist).
func fileSum(t *testing.T, path string) string {
	t.Helper()
	if st, err := os.Stat(path); err != nil || !st.Mode().IsRegular() {
		return ""
	}
	return testfs.FileSHA256(t, path)
}

func mustRun(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %v: %v\n%s", name, args, err, out)
	}
	return string(out)
}
