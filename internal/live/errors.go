package live

import "errors"

// The sentinels every error of this package wraps, so that the CLI maps
// them to its documented exit codes with errors.Is.
var (
	// ErrNoSource: no such process, descriptor, mapping or loop device.
	ErrNoSource = errors.New("no such source")
	// ErrNotDeleted: the source is not a deleted regular file (it still
	// has a name, or is a socket, pipe, directory, ...).
	ErrNotDeleted = errors.New("not a deleted file")
	// ErrPermission: /proc or the device refused us (run as root).
	ErrPermission = errors.New("permission denied")
	// ErrNoRoom: the output would go onto the filesystem that holds the
	// deleted file (or into the loop device being read) and there is not
	// room enough, or never room enough.
	ErrNoRoom = errors.New("output refused on this filesystem")
	// ErrOutputExists: the output exists and --force was not given.
	ErrOutputExists = errors.New("output exists")
	// ErrOutput: writing the output failed (full disk, quota, I/O error);
	// the partial output has been removed.
	ErrOutput = errors.New("output not written")
	// ErrSource: reading the held file failed.
	ErrSource = errors.New("source read failed")
	// ErrFreeze: a holder could not be stopped (or must not be).
	ErrFreeze = errors.New("cannot freeze holder")
	// ErrInterrupted: a signal stopped the copy; holders were resumed
	// and the partial output removed.
	ErrInterrupted = errors.New("interrupted")
	// ErrVerify: the output read back differs from what was copied.
	ErrVerify = errors.New("verification failed")
)
