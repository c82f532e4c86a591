// Package devio opens the device that holds a filesystem, safely: block
// devices with O_EXCL, image files under a lock, mounts, loop devices and
// holders found first (mount.go), read-only devices refused before any
// write, and one partition of a disk image or an offset into it selected
// (section.go, partition.go), with every read and write bounded to it. It
// also holds what every layer that touches the device shares: the Dev
// interface the engine reads and writes through, and the sentinel errors
// about the device and the request that the CLI maps to exit codes with
// errors.Is.
package devio

import (
	"errors"
	"io"
)

// Sentinel errors about the device and the request.
var (
	// ErrDevice: the device cannot be opened, read or written as asked.
	ErrDevice = errors.New("device error")
	// ErrBusy: the device is mounted or otherwise in use.
	ErrBusy = errors.New("device busy")
	// ErrRequest: the request itself is invalid (bad name, not an orphan, ...).
	ErrRequest = errors.New("invalid request")
	// ErrInternal: a self-check of ext4relink's own result failed (a bug);
	// nothing was written.
	ErrInternal = errors.New("internal error")
	// ErrReadOnlyDevice: a write was asked of a device that cannot be
	// written (read-only block device or file). Always wrapped together
	// with ErrDevice.
	ErrReadOnlyDevice = errors.New("read-only device")
)

// Dev is what the engine reads and writes through: an opened device, an
// undo-file wrapper around one, or a test's recorder.
type Dev interface {
	io.ReaderAt
	io.WriterAt
	Sync() error
	Size() int64
}
