// Package outfile puts a finished copy in place: the one rename both
// copy-out paths (extract, live) use.
package outfile

import (
	"errors"
	"os"

	"golang.org/x/sys/unix"
)

// Place renames the finished temporary file tmp to out. Without force it
// never replaces anything: RENAME_NOREPLACE, or link+remove where the
// filesystem lacks it; a name that appeared meanwhile gives an error
// wrapping os.ErrExist. With force it is a plain rename.
func Place(tmp, out string, force bool) error {
	if force {
		return os.Rename(tmp, out)
	}
	err := unix.Renameat2(unix.AT_FDCWD, tmp, unix.AT_FDCWD, out, unix.RENAME_NOREPLACE)
	if errors.Is(err, unix.EINVAL) || errors.Is(err, unix.ENOSYS) {
		if err = os.Link(tmp, out); err == nil {
			os.Remove(tmp)
		}
	}
	if err != nil && !errors.Is(err, os.ErrExist) {
		return &os.LinkError{Op: "rename", Old: tmp, New: out, Err: err}
	}
	return err
}
