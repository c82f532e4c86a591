// Package engine reads a filesystem through the replayed journal, finds
// orphans, plans a relink as one set of block changes, commits it
// atomically and verifies the result. Opening the device safely is
// internal/devio's job; the names below are the engine's API for it.
package engine

import "github.com/ext4relink/ext4relink/internal/devio"

type (
	// Dev is what the engine reads and writes through. *Device implements
	// it; tests wrap it to record or cut off writes.
	Dev = devio.Dev
	// Device is an opened block device or image file (or one partition of it).
	Device = devio.Device
	// Options say how to open a device.
	Options = devio.Options
	// Mode says how a device is opened.
	Mode = devio.Mode
	// Use is what holds a device: mounts, loop devices, holders.
	Use = devio.Use
)

// How a device is opened.
const (
	ReadOnly  = devio.ReadOnly
	ReadWrite = devio.ReadWrite
)

// Sentinel errors about the device and the request, mapped to exit codes
// by the CLI; they live in devio so that every layer can return them.
var (
	ErrDevice         = devio.ErrDevice
	ErrBusy           = devio.ErrBusy
	ErrRequest        = devio.ErrRequest
	ErrInternal       = devio.ErrInternal
	ErrReadOnlyDevice = devio.ErrReadOnlyDevice
	ErrArgument       = devio.ErrArgument
)

// Open opens a device safely (see devio.Open).
func Open(path string, o Options) (*Device, Use, error) { return devio.Open(path, o) }
