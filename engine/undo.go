package engine

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"

	"github.com/ext4relink/ext4relink/internal/layout"
	"github.com/ext4relink/ext4relink/super"
)

// The e2fsprogs undo file (e2undo(8), format "E2UNDO02"), as ext4relink
// writes it. The file is a sequence of blocks of UndoHeader.BlockSize bytes
// (here the filesystem block size):
//
//	block 0      the header (512 bytes, the rest of the block zero)
//	blocks 1, 2  two slots for the copy of the device's superblock; the
//	             header names the current one (super_offset)
//	block 3      the first key block (key_offset), followed by the data of
//	             its keys, then the next key block, and so on
//
// A key block starts with its magic and a CRC32C of the whole block (taken
// with the CRC field zero) and holds up to BlockSize/16-1 keys: filesystem
// block number (in fs_block_size units), CRC32C of the saved bytes, number
// of saved bytes. The saved bytes of each key follow one another right after
// the key block, each key taking whole blocks; every key block but the last
// is full, because e2undo finds the next key block by adding up the sizes of
// the keys before it. Every CRC is crc32c seeded with ~0 and without the
// final inversion (super.Crc32c(^0, ...)).
//
// e2undo refuses a file unless the device's superblock is byte for byte the
// copy in the undo file (stored with s_magic bit-inverted, so that nothing
// mistakes the undo file for a filesystem; sb_crc is taken over the copy
// with the real magic). A file whose state lacks "finished" is replayed and
// then the filesystem is marked as needing fsck, which changes the
// superblock again; so ext4relink writes every header with the finished
// state, and writes one only when the file describes the device exactly.
const (
	undoMagic          = "E2UNDO02"
	undoKeyBlockMagic  = 0xCADECADE
	undoStateFinished  = 0x1
	undoHeaderSize     = 512
	undoKeySize        = 16
	undoKeyBlockHdr    = 16
	undoFirstKeyBlock  = 3
	undoSuperSlotA     = 1
	undoSuperSlotB     = 2
	undoMagicOffset    = 0x38 // s_magic inside the superblock
	undoMinBlockSize   = 1024 // e2undo's limits on the undo block size
	undoMaxBlockSize   = 1 << 20
	undoMaxKeyBlocks   = 512 // e2undo refuses a key longer than this many blocks
	undoHeaderCRCBytes = undoHeaderSize - 4
)

// UndoHeader is struct undo_header of e2fsprogs.
type UndoHeader struct {
	Magic       [8]byte
	NumKeys     uint64
	SuperOffset uint64 // file block holding the superblock copy
	KeyOffset   uint64 // file block of the first key block
	BlockSize   uint32 // block size of the undo file
	FSBlockSize uint32 // block size of the device (unit of UndoKey.FSBlock)
	SBCrc       uint32
	State       uint32
	FCompat     uint32
	FIncompat   uint32
	FRoCompat   uint32
	Pad32       uint32
	FSOffset    uint64
	Padding     [436]byte
	HeaderCrc   uint32
}

func (h *UndoHeader) fields() []layout.Field {
	return []layout.Field{
		layout.F(0, h.Magic[:]), layout.F(8, &h.NumKeys), layout.F(16, &h.SuperOffset), layout.F(24, &h.KeyOffset),
		layout.F(32, &h.BlockSize), layout.F(36, &h.FSBlockSize), layout.F(40, &h.SBCrc), layout.F(44, &h.State),
		layout.F(48, &h.FCompat), layout.F(52, &h.FIncompat), layout.F(56, &h.FRoCompat), layout.F(60, &h.Pad32),
		layout.F(64, &h.FSOffset), layout.F(72, h.Padding[:]), layout.F(undoHeaderCRCBytes, &h.HeaderCrc),
	}
}

// Encode returns the 512 header bytes with HeaderCrc recomputed.
func (h *UndoHeader) Encode() []byte {
	b := make([]byte, undoHeaderSize)
	layout.Encode(b, h.fields())
	h.HeaderCrc = super.Crc32c(^uint32(0), b[:undoHeaderCRCBytes])
	layout.Encode(b, h.fields())
	return b
}

// DecodeUndoHeader parses and checks an undo file header as e2undo does
// (magic, header CRC, block sizes, no unknown incompatible features).
func DecodeUndoHeader(b []byte) (*UndoHeader, error) {
	bad := func(format string, args ...any) error {
		return super.Errorf(super.ErrCorrupt, "undo file header", super.NoBlock, 0, format, args...)
	}
	if len(b) < undoHeaderSize {
		return nil, bad("short: %d of %d bytes", len(b), undoHeaderSize)
	}
	h := new(UndoHeader)
	layout.Decode(b[:undoHeaderSize], h.fields())
	switch {
	case string(h.Magic[:]) != undoMagic:
		return nil, bad("magic %q, want %q: not an e2undo file", h.Magic[:], undoMagic)
	case h.HeaderCrc != super.Crc32c(^uint32(0), b[:undoHeaderCRCBytes]):
		return nil, super.Errorf(super.ErrChecksum, "undo file header", super.NoBlock, 0, "header checksum mismatch")
	case h.BlockSize < undoMinBlockSize || h.BlockSize > undoMaxBlockSize || h.FSBlockSize == 0:
		return nil, bad("block size %d, fs block size %d", h.BlockSize, h.FSBlockSize)
	case h.FIncompat != 0 || h.FRoCompat != 0:
		return nil, bad("unknown features (incompat %#x, ro_compat %#x)", h.FIncompat, h.FRoCompat)
	}
	return h, nil
}

// UndoKey is struct undo_key: FSBlock in UndoHeader.FSBlockSize units, the
// CRC32C and length in bytes of the saved old content.
type UndoKey struct {
	FSBlock uint64
	Crc     uint32
	Size    uint32
}

func (k *UndoKey) fields() []layout.Field {
	return []layout.Field{layout.F(0, &k.FSBlock), layout.F(8, &k.Crc), layout.F(12, &k.Size)}
}

// undoKeysPerBlock is how many keys a key block of blockSize bytes holds.
func undoKeysPerBlock(blockSize uint32) int { return int(blockSize)/undoKeySize - 1 }

// encodeKeyBlock builds a key block (magic, CRC, reserved, keys) of
// blockSize bytes.
func encodeKeyBlock(blockSize uint32, keys []UndoKey) []byte {
	b := make([]byte, blockSize)
	binary.LittleEndian.PutUint32(b[0:], undoKeyBlockMagic)
	for i := range keys {
		layout.Encode(b[undoKeyBlockHdr+i*undoKeySize:undoKeyBlockHdr+(i+1)*undoKeySize], keys[i].fields())
	}
	binary.LittleEndian.PutUint32(b[4:], super.Crc32c(^uint32(0), b))
	return b
}

// decodeKeyBlock checks a key block's magic and CRC and returns its first n keys.
func decodeKeyBlock(b []byte, n int) ([]UndoKey, error) {
	bad := func(sentinel error, format string, args ...any) error {
		return super.Errorf(sentinel, "undo key block", super.NoBlock, -1, format, args...)
	}
	if len(b) < undoKeyBlockHdr || n < 0 || n > (len(b)-undoKeyBlockHdr)/undoKeySize {
		return nil, bad(super.ErrCorrupt, "%d bytes cannot hold %d keys", len(b), n)
	}
	if m := binary.LittleEndian.Uint32(b[0:]); m != undoKeyBlockMagic {
		return nil, bad(super.ErrCorrupt, "magic %#x, want %#x", m, undoKeyBlockMagic)
	}
	c := append([]byte(nil), b...)
	binary.LittleEndian.PutUint32(c[4:], 0)
	if got, want := binary.LittleEndian.Uint32(b[4:]), super.Crc32c(^uint32(0), c); got != want {
		return nil, bad(super.ErrChecksum, "checksum %#x, computed %#x", got, want)
	}
	keys := make([]UndoKey, n)
	for i := range keys {
		layout.Decode(b[undoKeyBlockHdr+i*undoKeySize:undoKeyBlockHdr+(i+1)*undoKeySize], keys[i].fields())
	}
	return keys, nil
}

// UndoDev is a Dev that saves the old content of every filesystem block to
// an e2fsprogs undo file before the block is first changed, so that
// `e2undo FILE DEV` puts the device back exactly as it was.
//
// Each write that touches a block not saved yet goes as follows: read the
// old content from the device; append it and its key to the undo file
// (and, when the write changes the primary superblock, the new superblock
// into the superblock slot not in use); fsync; write the header that
// counts the new keys and names that slot; fsync; only then write the
// device. A crash at any moment therefore leaves an undo file that holds
// every block changed so far. One window cannot be closed: e2undo compares
// the whole superblock, and a crash after the header naming a new
// superblock is on disk but before the device's superblock write reached
// stable storage leaves the two different; e2undo then refuses (nothing is
// written) and `e2undo -f` still restores every block, then marks the
// filesystem for fsck.
//
// Reads, Sync and Size pass through to the wrapped device.
type UndoDev struct {
	mu   sync.Mutex
	dev  Dev
	f    *os.File
	path string
	bs   uint32
	size int64

	saved       map[uint64]bool
	numKeys     uint64
	keyBlk      uint64    // file block of the current (last) key block
	keys        []UndoKey // keys of the current key block
	next        uint64    // next free file block
	superSlot   uint64    // file block of the superblock copy the header names
	sb          []byte    // the device's primary superblock as the undo file records it
	savedBlocks []uint64

	closed bool
	broken error // set when the undo file may no longer match the device: no more writes
}

var _ Dev = (*UndoDev)(nil)

// NewUndo creates the undo file path (it must not exist) for the
// filesystem on dev and returns dev wrapped so that every block is saved
// to it before it is first changed. The filesystem block size comes from
// the device's superblock, which must be valid.
func NewUndo(dev Dev, path string) (*UndoDev, error) {
	sb, err := readSuper(dev)
	if err != nil {
		return nil, err
	}
	bs := sb.BlockSize()
	if bs < undoMinBlockSize || bs > undoMaxBlockSize {
		return nil, super.Errorf(super.ErrUnsupported, "superblock", super.NoBlock, super.Offset, "block size %d is outside what an undo file can hold", bs)
	}
	raw := make([]byte, super.Size)
	if _, err := dev.ReadAt(raw, super.Offset); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		if errors.Is(err, os.ErrExist) {
			return nil, fmt.Errorf("%w: undo file %s already exists; ext4relink never overwrites one (it may be the only way back from an earlier run): choose a new name", ErrRequest, path)
		}
		return nil, fmt.Errorf("%w: creating undo file: %v", ErrDevice, err)
	}
	u := &UndoDev{
		dev: dev, f: f, path: path, bs: bs, size: dev.Size(),
		saved:  map[uint64]bool{},
		keyBlk: undoFirstKeyBlock, next: undoFirstKeyBlock + 1,
		superSlot: undoSuperSlotA, sb: raw,
	}
	// Header, both superblock slots (the second one zero for now) and
	// room for the first key block exist from the start.
	err = u.f.Truncate(int64(undoFirstKeyBlock+1) * int64(bs))
	if err == nil {
		err = u.writeSuperCopy(undoSuperSlotA, raw)
	}
	if err == nil {
		err = u.commitHeader()
	}
	if err == nil {
		err = syncDir(filepath.Dir(path))
	}
	if err != nil {
		f.Close()
		os.Remove(path)
		return nil, fmt.Errorf("%w: writing undo file %s: %v", ErrDevice, path, err)
	}
	return u, nil
}

// OpenFSWithUndo opens the device at path for writing, creates the undo
// file undoPath for it and loads the filesystem through the undo wrapper:
// every write the engine makes (Commit, WriteReplay) is saved first. The
// caller closes the UndoDev (Close, or Discard when the run failed) and
// then the Device.
func OpenFSWithUndo(path string, o Options, undoPath string) (*FS, *Device, *UndoDev, Use, error) {
	if o.Mode != ReadWrite {
		return nil, nil, nil, Use{}, fmt.Errorf("%w: internal error: an undo file is only made when writing", ErrRequest)
	}
	dev, use, err := Open(path, o)
	if err != nil {
		return nil, nil, nil, use, err
	}
	u, err := NewUndo(dev, undoPath)
	if err != nil {
		dev.Close()
		return nil, nil, nil, use, err
	}
	fs, err := LoadFS(u)
	if err != nil {
		u.Discard()
		dev.Close()
		return nil, nil, nil, use, err
	}
	return fs, dev, u, use, nil
}

// Path is the undo file's name.
func (u *UndoDev) Path() string { return u.path }

// BlockSize is the block size of the undo file and of the filesystem.
func (u *UndoDev) BlockSize() uint32 { return u.bs }

// Saved returns the filesystem blocks saved so far, in the order saved.
func (u *UndoDev) Saved() []uint64 {
	u.mu.Lock()
	defer u.mu.Unlock()
	return append([]uint64(nil), u.savedBlocks...)
}

// ReadAt reads the device.
func (u *UndoDev) ReadAt(p []byte, off int64) (int, error) { return u.dev.ReadAt(p, off) }

// Size is the device size.
func (u *UndoDev) Size() int64 { return u.dev.Size() }

// Sync flushes the device (the undo file is already on stable storage).
func (u *UndoDev) Sync() error { return u.dev.Sync() }

// WriteAt saves the old content of every block p touches that was not
// saved yet, durably, and then writes p to the device. Writes need not be
// block-aligned. A write past the end of the device is refused: the undo
// format cannot shrink an image back.
func (u *UndoDev) WriteAt(p []byte, off int64) (int, error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	switch {
	case u.closed:
		return 0, fmt.Errorf("%w: internal error: write through the closed undo file %s", ErrDevice, u.path)
	case u.broken != nil:
		return 0, fmt.Errorf("%w: not writing to the device: the undo file %s could not be kept up to date: %v", ErrDevice, u.path, u.broken)
	case off < 0 || off > u.size || int64(len(p)) > u.size-off:
		return 0, fmt.Errorf("%w: write of %d bytes at offset %d is outside the device (%d bytes)", ErrDevice, len(p), off, u.size)
	case len(p) == 0:
		return 0, nil
	}
	if err := u.save(p, off); err != nil {
		u.broken = err
		return 0, fmt.Errorf("%w: saving the old content to the undo file %s (the device was not written): %v", ErrDevice, u.path, err)
	}
	n, err := u.dev.WriteAt(p, off)
	if err != nil && overlapsSuper(off, len(p)) {
		// The device may hold the old, the new or a torn superblock: record
		// what it holds, so that e2undo accepts the file.
		if rerr := u.resyncSuper(); rerr != nil {
			u.broken = rerr
			return n, fmt.Errorf("%w (and the undo file's superblock copy could not be brought back in line with the device: e2undo will need -f: %v)", err, rerr)
		}
	}
	return n, err
}

func overlapsSuper(off int64, n int) bool {
	return off < super.Offset+super.Size && off+int64(n) > super.Offset
}

// save records the old content of the blocks [off, off+len(p)) touches
// and the superblock the write leaves, and commits the header.
func (u *UndoDev) save(p []byte, off int64) error {
	bs := int64(u.bs)
	var fresh []uint64
	for b := uint64(off / bs); b <= uint64((off+int64(len(p))-1)/bs); b++ {
		if !u.saved[b] {
			fresh = append(fresh, b)
		}
	}
	var newSB []byte
	if overlapsSuper(off, len(p)) {
		newSB = append([]byte(nil), u.sb...)
		lo, hi := max(off, super.Offset), min(off+int64(len(p)), super.Offset+super.Size)
		copy(newSB[lo-super.Offset:hi-super.Offset], p[lo-off:hi-off])
		if bytes.Equal(newSB, u.sb) {
			newSB = nil
		}
	}
	if len(fresh) == 0 && newSB == nil {
		return nil
	}
	kpb := undoKeysPerBlock(u.bs)
	for _, b := range fresh {
		old := make([]byte, min(bs, u.size-int64(b)*bs))
		if _, err := u.dev.ReadAt(old, int64(b)*bs); err != nil {
			return fmt.Errorf("reading the old content of block %d: %w", b, err)
		}
		if len(u.keys) == kpb {
			// The current key block is full (and already written): the
			// next one starts after its data.
			u.keyBlk, u.keys = u.next, nil
			u.next++
		}
		u.keys = append(u.keys, UndoKey{FSBlock: b, Crc: super.Crc32c(^uint32(0), old), Size: uint32(len(old))})
		data := make([]byte, bs)
		copy(data, old)
		if _, err := u.f.WriteAt(data, int64(u.next)*bs); err != nil {
			return err
		}
		u.next++
		if len(u.keys) == kpb {
			if err := u.writeKeyBlock(); err != nil {
				return err
			}
		}
	}
	if len(fresh) > 0 && len(u.keys) < kpb {
		if err := u.writeKeyBlock(); err != nil {
			return err
		}
	}
	slot := u.superSlot
	if newSB != nil {
		slot = undoSuperSlotA + undoSuperSlotB - u.superSlot
		if err := u.writeSuperCopy(slot, newSB); err != nil {
			return err
		}
	}
	if err := u.f.Sync(); err != nil {
		return err
	}
	u.numKeys += uint64(len(fresh))
	if newSB != nil {
		u.superSlot, u.sb = slot, newSB
	}
	if err := u.commitHeader(); err != nil {
		return err
	}
	for _, b := range fresh {
		u.saved[b] = true
		u.savedBlocks = append(u.savedBlocks, b)
	}
	return nil
}

func (u *UndoDev) writeKeyBlock() error {
	_, err := u.f.WriteAt(encodeKeyBlock(u.bs, u.keys), int64(u.keyBlk)*int64(u.bs))
	return err
}

// writeSuperCopy writes a superblock copy (s_magic inverted, as e2undo
// expects) into the given slot.
func (u *UndoDev) writeSuperCopy(slot uint64, sb []byte) error {
	b := make([]byte, u.bs)
	copy(b, sb)
	b[undoMagicOffset] ^= 0xFF
	b[undoMagicOffset+1] ^= 0xFF
	_, err := u.f.WriteAt(b, int64(slot)*int64(u.bs))
	return err
}

// commitHeader writes the header describing the current state (always
// "finished": see the format notes above) as one sector and fsyncs it.
func (u *UndoDev) commitHeader() error {
	h := UndoHeader{
		NumKeys: u.numKeys, SuperOffset: u.superSlot, KeyOffset: undoFirstKeyBlock,
		BlockSize: u.bs, FSBlockSize: u.bs, SBCrc: super.Crc32c(^uint32(0), u.sb), State: undoStateFinished,
	}
	copy(h.Magic[:], undoMagic)
	if _, err := u.f.WriteAt(h.Encode(), 0); err != nil {
		return err
	}
	return u.f.Sync()
}

// resyncSuper records the superblock the device holds now (after a failed
// write, which may have changed it or not).
func (u *UndoDev) resyncSuper() error {
	cur := make([]byte, super.Size)
	if _, err := u.dev.ReadAt(cur, super.Offset); err != nil {
		return err
	}
	if bytes.Equal(cur, u.sb) {
		return nil
	}
	slot := undoSuperSlotA + undoSuperSlotB - u.superSlot
	if err := u.writeSuperCopy(slot, cur); err != nil {
		return err
	}
	if err := u.f.Sync(); err != nil {
		return err
	}
	u.superSlot, u.sb = slot, cur
	return u.commitHeader()
}

// Close makes sure the undo file is complete and on stable storage and
// closes it; the file stays. It does not close the device.
func (u *UndoDev) Close() error {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.closed {
		return nil
	}
	u.closed = true
	var err error
	if u.broken == nil {
		err = u.commitHeader()
	}
	if cerr := u.f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("%w: closing undo file %s: %v", ErrDevice, u.path, err)
	}
	return nil
}

// Discard closes the undo file and removes it when nothing was saved (the
// device was never written through it). A file holding saved blocks is
// kept: it is the way back. It reports whether the file was removed.
func (u *UndoDev) Discard() (removed bool, err error) {
	if err := u.Close(); err != nil {
		return false, err
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.numKeys > 0 {
		return false, nil
	}
	if err := os.Remove(u.path); err != nil {
		return false, fmt.Errorf("%w: removing the empty undo file: %v", ErrDevice, err)
	}
	return true, nil
}

// syncDir fsyncs a directory so that a file just created in it survives a crash.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
