package main

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"

	"github.com/ext4relink/ext4relink/engine"
)

// scanProgress reports how far --scan got on stderr, when stderr is a
// terminal (never into a log file or a pipe); nil otherwise.
func (a *app) scanProgress() engine.ScanProgress {
	f, ok := a.stderr.(*os.File)
	if !a.scanTables || !ok {
		return nil
	}
	if _, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS); err != nil {
		return nil
	}
	return func(done, total uint64) {
		end := ""
		if done >= total {
			end = "\n"
		}
		fmt.Fprintf(f, "\rext4relink: scanning inode tables: %d of %d MiB%s", done>>20, total>>20, end)
	}
}

// printScan says what list --scan read and what it left out.
func (a *app) printScan(st *engine.ScanStats) {
	if st == nil {
		return
	}
	w := a.stdout
	fmt.Fprintf(w, "Scanned the inode tables of %d group(s) (%.1f MiB; %d never initialised, not read) in %.2fs: %d orphan(s) on no list (WHERE scan).\n",
		st.Groups, float64(st.TableBytes)/(1<<20), st.UninitSkip, st.Elapsed.Seconds(), st.Found)
	for _, r := range st.Rejected {
		fmt.Fprintf(w, "  left out inode %d (no links, on no list): %s\n", r.Inode, r.Reason)
	}
}
