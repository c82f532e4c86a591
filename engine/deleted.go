package engine

import (
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"time"

	"github.com/ext4relink/ext4relink/ext4fs"
	"github.com/ext4relink/ext4relink/inode"
	"github.com/ext4relink/ext4relink/journal"
	"github.com/ext4relink/ext4relink/super"
)

// Files deleted while closed. A plain rm frees the inode (links 0, i_dtime
// set, the extent map in the inode emptied) and its blocks; the content
// stays until something reuses the blocks, and older copies of the
// inode-table block (with the full map) stay in the journal's log area
// until the log wraps over them. Deleted finds those copies in the
// journal.History and says, for each file, whether everything it needs is
// still there.

// DeletedState says whether a deleted file can be brought back whole.
type DeletedState uint8

const (
	_ DeletedState = iota
	// DeletedIntact: every block it needs (data, extent-tree or indirect
	// blocks) is free in the current bitmaps (through the replayed
	// journal) and was not taken by anything since the deletion.
	DeletedIntact
	// DeletedReused: some of its blocks are in use again, or were taken
	// and freed since the deletion: their content may be another file's.
	DeletedReused
	// DeletedIncomplete: its map, or a block the map needs, cannot be
	// recovered, or the journal no longer holds every transaction since
	// its last live copy (a later change to it could be lost).
	DeletedIncomplete
)

var deletedStateNames = []string{"", "intact", "reused", "incomplete"}

func (s DeletedState) String() string               { return enumString(deletedStateNames, uint8(s)) }
func (s DeletedState) MarshalJSON() ([]byte, error) { return json.Marshal(s.String()) }
func (s *DeletedState) UnmarshalJSON(b []byte) error {
	return enumParse(deletedStateNames, b, "deleted state", (*uint8)(s))
}

// DeletedFile is one file deleted while closed, as its newest live copy
// in the journal describes it.
type DeletedFile struct {
	Inode    uint32
	Path     string
	PathFrom PathSource
	// PathReason says why no path is given.
	PathReason string
	Type       FileType
	Size       uint64
	Mode       uint16 // permission bits
	UID        uint32
	GID        uint32
	Mtime      time.Time
	Dtime      time.Time // the freed inode's i_dtime
	State      DeletedState
	// Reason says why the state is not intact.
	Reason string
	// Sequence and Committed: the transaction holding the live copy.
	Sequence  uint32
	Committed time.Time
	// Blocks counts the blocks it needs (data and map blocks); Reused
	// counts those in use again or taken since the deletion.
	Blocks uint64
	Reused uint64

	live *inode.Inode      // the live copy
	bmap *inode.BlockMap   // its map (nil when incomplete)
	meta map[uint64][]byte // the map's tree or indirect blocks as they were
}

// LiveInode is the journal copy the file is described from.
func (d *DeletedFile) LiveInode() *inode.Inode { return d.live }

// Map is the block map of the live copy (nil when incomplete).
func (d *DeletedFile) Map() *inode.BlockMap { return d.bmap }

// MapBlock returns a tree or indirect block of the map as it was when the
// file was live.
func (d *DeletedFile) MapBlock(b uint64) ([]byte, bool) {
	v, ok := d.meta[b]
	return v, ok
}

// DeletedList is what Deleted found.
type DeletedList struct {
	Files []DeletedFile
	// Transactions is how many transactions the journal's log area still
	// holds; Oldest the commit time of the oldest one: files deleted
	// before it cannot be found.
	Transactions int
	Oldest       time.Time
	// Gone counts freed inodes whose only live copies are older than
	// every complete transaction still in the journal: they are not
	// listed, as their map is no longer known for certain.
	Gone int
}

// Deleted lists the files deleted while closed whose live inode a
// transaction still in the journal holds. It reads the whole log area
// (h, from JournalHistory) and writes nothing.
func (fs *FS) Deleted(h *journal.History) (*DeletedList, error) {
	if fs.JournalFile() == nil || h == nil {
		return nil, super.Errorf(super.ErrUnsupported, "journal", super.NoBlock, -1,
			"the filesystem has no internal journal: nothing records the inodes of deleted files")
	}
	s, err := fs.newDelScan(h)
	if err != nil {
		return nil, err
	}
	out := &DeletedList{}
	txs := fs.transactions(h)
	out.Transactions = len(txs)
	if len(txs) > 0 {
		out.Oldest = txs[len(txs)-1].CommitTime
	}
	for _, b := range h.Blocks() {
		g, first, ok := s.tables.itableOf(b)
		if !ok {
			continue
		}
		if err := s.block(b, g, first); err != nil {
			return nil, err
		}
	}
	out.Gone = s.gone
	inos := make([]uint32, 0, len(s.found))
	for ino := range s.found {
		inos = append(inos, ino)
	}
	slices.Sort(inos)
	for _, ino := range inos {
		out.Files = append(out.Files, s.describe(s.found[ino]))
	}
	fs.nameDeleted(out.Files, h)
	return out, nil
}

// liveCopy is the newest live copy of a freed inode.
type liveCopy struct {
	ino  uint32
	in   *inode.Inode
	cur  *inode.Inode // the freed inode now
	l    journal.Logged
	safe bool // every transaction since the copy is still in the journal
}

// delScan is the state of Deleted.
type delScan struct {
	fs      *FS
	h       *journal.History
	tables  *namer            // its itables: where each group's inode table starts
	ibm     map[uint64][]byte // inode bitmaps by group
	found   map[uint32]*liveCopy
	present map[uint32]bool // sequences of kept transactions
	newest  uint32
	gone    int
	bits    *bitHistory
}

func (fs *FS) newDelScan(h *journal.History) (*delScan, error) {
	s := &delScan{fs: fs, h: h, ibm: map[uint64][]byte{}, found: map[uint32]*liveCopy{}, present: map[uint32]bool{}}
	// Where the inode tables are: the names lookup's table (descriptor
	// blocks read raw, INODE_UNINIT groups skipped: no freed inode there).
	s.tables = fs.emptyNamer(h)
	s.tables.itableRanges()
	sort.Slice(s.tables.itables, func(i, j int) bool { return s.tables.itables[i].start < s.tables.itables[j].start })
	txs := fs.transactions(h)
	for _, t := range txs {
		s.present[t.Sequence] = true
	}
	bridgeSkipped(s.present, fs.JournalFile(), txs)
	if len(txs) > 0 {
		s.newest = txs[0].Sequence
	}
	s.bits = newBitHistory(fs, h)
	return s, nil
}

// block looks at every inode of inode-table block b that is free now.
func (s *delScan) block(b uint64, g uint64, first uint32) error {
	fs := s.fs
	isz := uint64(fs.SB.InodeSizeBytes())
	per := uint64(fs.BlockSize()) / isz
	cur, err := fs.ReadBlock(b)
	if err != nil {
		return err
	}
	bm, err := s.inodeBitmap(g)
	if err != nil {
		return err
	}
	vs := &blockVersions{h: s.h, list: s.fs.versions(s.h, b)}
	for k := range per {
		idx := uint64(first) + k
		if idx >= uint64(fs.SB.InodesPerGroup) {
			break
		}
		ino := uint32(g*uint64(fs.SB.InodesPerGroup) + idx + 1)
		if ino < fs.SB.FirstInode() || bitTest(bm, idx) {
			continue
		}
		now, err := inode.Decode(cur[k*isz : (k+1)*isz])
		if err != nil || now.LinksCount != 0 || now.Dtime == 0 {
			continue
		}
		s.look(ino, now, vs, k*isz, isz)
	}
	return nil
}

// look finds the newest live copy of freed inode ino among the versions
// of its inode-table block.
func (s *delScan) look(ino uint32, now *inode.Inode, vs *blockVersions, off, isz uint64) {
	ifs := s.fs.InodeFS()
	for i, l := range vs.list {
		data, err := vs.read(i)
		if err != nil {
			return // a copy that changed since History read it: no older one is trusted
		}
		in, err := inode.Decode(data[off : off+isz])
		if err != nil {
			return
		}
		if in.Validate(ifs, ino) != nil {
			// The freed state (links 0) may not validate (a slow
			// symlink with i_size 0 and no map); anything else that
			// does not means older copies may be stale.
			if in.LinksCount == 0 && in.Generation == now.Generation && in.VerifyChecksum(s.fs.SB, ino) {
				continue
			}
			return
		}
		if in.Generation != now.Generation || in.Type() != now.Type() {
			return // an earlier file with the same number
		}
		if in.LinksCount == 0 || in.Dtime != 0 || !hasContent(in) {
			continue
		}
		c := &liveCopy{ino: ino, in: in, cur: now, l: l, safe: s.unbroken(l.Sequence)}
		if !c.safe && s.olderThanAll(l.Sequence) {
			s.gone++
			return
		}
		s.found[ino] = c
		return
	}
}

// hasContent: a live inode with something to bring back (an empty file,
// a device or a fifo has nothing).
func hasContent(in *inode.Inode) bool { return in.Size() > 0 }

// unbroken reports whether every transaction from seq to the newest is
// still in the journal: nothing that changed the file after that copy can
// have been lost.
func (s *delScan) unbroken(seq uint32) bool {
	for q := seq; ; q++ {
		if !s.present[q] {
			return false
		}
		if q == s.newest {
			return true
		}
	}
}

// olderThanAll: seq lies before the oldest run of consecutive
// transactions ending at the newest (the log wrapped over what followed).
func (s *delScan) olderThanAll(seq uint32) bool {
	q := s.newest
	for s.present[q-1] {
		q--
	}
	return int32(q-seq) > 0
}

func (s *delScan) inodeBitmap(g uint64) ([]byte, error) {
	if bm, ok := s.ibm[g]; ok {
		return bm, nil
	}
	gd, err := s.fs.GroupDesc(g)
	if err != nil {
		return nil, err
	}
	bm, err := ext4fs.ReadInodeBitmap(s.fs.SB, g, gd, s.fs.ReadBlock)
	if err != nil {
		return nil, err
	}
	s.ibm[g] = bm
	return bm, nil
}

func bitTest(b []byte, i uint64) bool { return i/8 < uint64(len(b)) && b[i/8]&(1<<(i%8)) != 0 }

// describe turns a live copy into a DeletedFile with its state.
func (s *delScan) describe(c *liveCopy) DeletedFile {
	in := c.in
	d := DeletedFile{Inode: c.ino, Type: typeName(in), Size: in.Size(), Mode: in.Mode & 0o7777,
		UID: in.UID(), GID: in.GID(), Mtime: in.ModTime(), Dtime: time.Unix(int64(c.cur.Dtime), 0).UTC(),
		Sequence: c.l.Sequence, Committed: c.l.CommitTime, live: in}
	if !c.safe {
		d.State, d.Reason = DeletedIncomplete, "transactions after its last live copy are no longer in the journal: a later change to it may be lost"
		return d
	}
	if s.fs.SB.HasRoCompat(super.RoCompatBigalloc) {
		d.State, d.Reason = DeletedIncomplete, "bigalloc filesystems are not supported for deleted files"
		return d
	}
	meta := map[uint64][]byte{}
	read := s.readAsOf(c.l.Sequence, meta)
	m, err := inode.MapInode(in, s.fs.InodeFS(), c.ino, read)
	if err != nil {
		d.State, d.Reason = DeletedIncomplete, fmt.Sprintf("its block map cannot be recovered: %v", err)
		return d
	}
	d.bmap, d.meta = m, meta
	s.judge(&d, c.l.Sequence)
	return d
}

// readAsOf reads block b as it was in transaction seq: the newest logged
// copy not newer than seq; the disk (through the replay) only when the
// journal holds no copy of b at all (nothing changed it since before the
// log's window). Every block read is kept in meta.
func (s *delScan) readAsOf(seq uint32, meta map[uint64][]byte) inode.ReadFunc {
	return func(b uint64) ([]byte, error) {
		vs := s.fs.versions(s.h, b)
		for _, l := range vs {
			if int32(seq-l.Sequence) >= 0 {
				data, err := s.h.Read(l)
				if err == nil {
					meta[b] = data
				}
				return data, err
			}
		}
		if len(vs) > 0 {
			return nil, super.Errorf(super.ErrCorrupt, "map block", b, -1,
				"the journal holds only copies newer than the live inode (transaction %d)", seq)
		}
		data, err := s.fs.ReadBlock(b)
		if err == nil {
			meta[b] = slices.Clone(data)
		}
		return data, err
	}
}

// judge sets the state from the blocks the file needs.
func (s *delScan) judge(d *DeletedFile, seq uint32) {
	var need []uint64
	for _, r := range d.bmap.Runs {
		for k := range uint64(r.Len) {
			need = append(need, r.Physical+k)
		}
	}
	need = append(need, d.bmap.Meta...)
	d.Blocks = uint64(len(need))
	d.State = DeletedIntact
	for _, b := range need {
		taken, err := s.bits.takenSince(b, seq)
		if err != nil {
			d.State, d.Reason = DeletedIncomplete, fmt.Sprintf("block %d: %v", b, err)
			return
		}
		if taken {
			d.Reused++
		}
	}
	if d.Reused > 0 {
		d.State = DeletedReused
		d.Reason = fmt.Sprintf("%d of its %d blocks are in use again or were taken since the deletion", d.Reused, d.Blocks)
	}
}

// blockVersions are the logged copies of one inode-table block, each read
// once however many of its inodes are looked at.
type blockVersions struct {
	h    *journal.History
	list []journal.Logged
	data [][]byte
	errs []error
}

func (v *blockVersions) read(i int) ([]byte, error) {
	if v.data == nil {
		v.data, v.errs = make([][]byte, len(v.list)), make([]error, len(v.list))
	}
	if v.data[i] == nil && v.errs[i] == nil {
		v.data[i], v.errs[i] = v.h.Read(v.list[i])
	}
	return v.data[i], v.errs[i]
}
