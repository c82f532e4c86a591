package undo

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"

	"github.com/ext4relink/ext4relink/internal/devio"
	"github.com/ext4relink/ext4relink/super"
)

// Dev is a devio.Dev that saves the old content of every filesystem block to
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
type Dev struct {
	mu   sync.Mutex
	dev  devio.Dev
	f    *os.File
	path string
	bs   uint32
	size int64

	saved       map[uint64]bool
	numKeys     uint64
	keyBlk      uint64 // file block of the current (last) key block
	keys        []Key  // keys of the current key block
	next        uint64 // next free file block
	superSlot   uint64 // file block of the superblock copy the header names
	sb          []byte // the device's primary superblock as the undo file records it
	savedBlocks []uint64
	// fsOffset is where the filesystem starts in the device file (inside
	// a partition of a disk image), recorded in the header's fs_offset so
	// that `e2undo FILE DISK` writes the blocks back at the right place.
	fsOffset int64

	closed bool
	broken error // set when the undo file may no longer match the device: no more writes
}

var _ devio.Dev = (*Dev)(nil)

// ErrExists: the undo file named already exists; it is never overwritten
// (it may be the only way back from an earlier run).
var ErrExists = errors.New("undo file already exists")

// Create creates the undo file path (it must not exist) for the filesystem
// on dev, whose block size is blockSize and whose primary superblock must
// already be valid, and returns dev wrapped so that every block is saved to
// the file before it is first changed.
func Create(dev devio.Dev, path string, blockSize uint32) (*Dev, error) {
	bs := blockSize
	if bs < MinBlockSize || bs > MaxBlockSize {
		return nil, super.Errorf(super.ErrUnsupported, "superblock", super.NoBlock, super.Offset, "block size %d is outside what an undo file can hold", bs)
	}
	raw := make([]byte, super.Size)
	if _, err := dev.ReadAt(raw, super.Offset); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		if errors.Is(err, os.ErrExist) {
			return nil, fmt.Errorf("%w: %s", ErrExists, path)
		}
		return nil, fmt.Errorf("%w: creating undo file: %v", devio.ErrDevice, err)
	}
	u := &Dev{
		dev: dev, f: f, path: path, bs: bs, size: dev.Size(),
		saved:  map[uint64]bool{},
		keyBlk: firstKeyBlock, next: firstKeyBlock + 1,
		superSlot: superSlotA, sb: raw,
	}
	if o, ok := dev.(interface{ FSOffset() int64 }); ok {
		u.fsOffset = o.FSOffset()
	}
	// Header, both superblock slots (the second one zero for now) and
	// room for the first key block exist from the start.
	err = u.f.Truncate(int64(firstKeyBlock+1) * int64(bs))
	if err == nil {
		err = u.writeSuperCopy(superSlotA, raw)
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
		return nil, fmt.Errorf("%w: writing undo file %s: %v", devio.ErrDevice, path, err)
	}
	return u, nil
}

// Abandon drops the undo file the way a crash would: no last header, no
// Close. Crash tests use it; a real run never does.
func (u *Dev) Abandon() { u.f.Close() }

// Path is the undo file's name.
func (u *Dev) Path() string { return u.path }

// BlockSize is the block size of the undo file and of the filesystem.
func (u *Dev) BlockSize() uint32 { return u.bs }

// Saved returns the filesystem blocks saved so far, in the order saved.
func (u *Dev) Saved() []uint64 {
	u.mu.Lock()
	defer u.mu.Unlock()
	return append([]uint64(nil), u.savedBlocks...)
}

// ReadAt reads the device.
func (u *Dev) ReadAt(p []byte, off int64) (int, error) { return u.dev.ReadAt(p, off) }

// Size is the device size.
func (u *Dev) Size() int64 { return u.dev.Size() }

// Sync flushes the device (the undo file is already on stable storage).
func (u *Dev) Sync() error { return u.dev.Sync() }

// WriteAt saves the old content of every block p touches that was not
// saved yet, durably, and then writes p to the device. Writes need not be
// block-aligned. A write past the end of the device is refused: the undo
// format cannot shrink an image back.
func (u *Dev) WriteAt(p []byte, off int64) (int, error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	switch {
	case u.closed:
		return 0, fmt.Errorf("%w: internal error: write through the closed undo file %s", devio.ErrDevice, u.path)
	case u.broken != nil:
		return 0, fmt.Errorf("%w: not writing to the device: the undo file %s could not be kept up to date: %v", devio.ErrDevice, u.path, u.broken)
	case off < 0 || off > u.size || int64(len(p)) > u.size-off:
		return 0, fmt.Errorf("%w: write of %d bytes at offset %d is outside the device (%d bytes)", devio.ErrDevice, len(p), off, u.size)
	case len(p) == 0:
		return 0, nil
	}
	if err := u.save(p, off); err != nil {
		u.broken = err
		return 0, fmt.Errorf("%w: saving the old content to the undo file %s (the device was not written): %v", devio.ErrDevice, u.path, err)
	}
	n, err := u.dev.WriteAt(p, off)
	if err != nil && OverlapsSuper(off, len(p)) {
		// The device may hold the old, the new or a torn superblock: record
		// what it holds, so that e2undo accepts the file.
		if rerr := u.resyncSuper(); rerr != nil {
			u.broken = rerr
			return n, fmt.Errorf("%w (and the undo file's superblock copy could not be brought back in line with the device: e2undo will need -f: %v)", err, rerr)
		}
	}
	return n, err
}

// OverlapsSuper reports whether n bytes at off touch the primary superblock.
func OverlapsSuper(off int64, n int) bool {
	return off < super.Offset+super.Size && off+int64(n) > super.Offset
}

// save records the old content of the blocks [off, off+len(p)) touches
// and the superblock the write leaves, and commits the header.
func (u *Dev) save(p []byte, off int64) error {
	bs := int64(u.bs)
	var fresh []uint64
	for b := uint64(off / bs); b <= uint64((off+int64(len(p))-1)/bs); b++ {
		if !u.saved[b] {
			fresh = append(fresh, b)
		}
	}
	var newSB []byte
	if OverlapsSuper(off, len(p)) {
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
	kpb := KeysPerBlock(u.bs)
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
		u.keys = append(u.keys, Key{FSBlock: b, Crc: super.Crc32c(^uint32(0), old), Size: uint32(len(old))})
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
		slot = superSlotA + superSlotB - u.superSlot
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

func (u *Dev) writeKeyBlock() error {
	_, err := u.f.WriteAt(EncodeKeyBlock(u.bs, u.keys), int64(u.keyBlk)*int64(u.bs))
	return err
}

// writeSuperCopy writes a superblock copy (s_magic inverted, as e2undo
// expects) into the given slot.
func (u *Dev) writeSuperCopy(slot uint64, sb []byte) error {
	b := make([]byte, u.bs)
	copy(b, sb)
	b[SuperMagicOffset] ^= 0xFF
	b[SuperMagicOffset+1] ^= 0xFF
	_, err := u.f.WriteAt(b, int64(slot)*int64(u.bs))
	return err
}

// commitHeader writes the header describing the current state (always
// "finished": see the format notes above) as one sector and fsyncs it.
func (u *Dev) commitHeader() error {
	h := Header{
		NumKeys: u.numKeys, SuperOffset: u.superSlot, KeyOffset: firstKeyBlock,
		BlockSize: u.bs, FSBlockSize: u.bs, SBCrc: super.Crc32c(^uint32(0), u.sb), State: StateFinished,
	}
	if u.fsOffset != 0 {
		h.FCompat, h.FSOffset = FeatureCompatFSOffset, uint64(u.fsOffset)
	}
	copy(h.Magic[:], Magic)
	if _, err := u.f.WriteAt(h.Encode(), 0); err != nil {
		return err
	}
	return u.f.Sync()
}

// resyncSuper records the superblock the device holds now (after a failed
// write, which may have changed it or not).
func (u *Dev) resyncSuper() error {
	cur := make([]byte, super.Size)
	if _, err := u.dev.ReadAt(cur, super.Offset); err != nil {
		return err
	}
	if bytes.Equal(cur, u.sb) {
		return nil
	}
	slot := superSlotA + superSlotB - u.superSlot
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
func (u *Dev) Close() error {
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
		return fmt.Errorf("%w: closing undo file %s: %v", devio.ErrDevice, u.path, err)
	}
	return nil
}

// Discard closes the undo file and removes it when nothing was saved (the
// device was never written through it). A file holding saved blocks is
// kept: it is the way back. It reports whether the file was removed.
func (u *Dev) Discard() (removed bool, err error) {
	if err := u.Close(); err != nil {
		return false, err
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.numKeys > 0 {
		return false, nil
	}
	if err := os.Remove(u.path); err != nil {
		return false, fmt.Errorf("%w: removing the empty undo file: %v", devio.ErrDevice, err)
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
