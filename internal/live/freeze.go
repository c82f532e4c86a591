package live

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// freezeTimeout bounds the wait for a stopped process's threads to halt;
// a thread in uninterruptible sleep (state D, e.g. stuck I/O) stops only
// when that ends.
const freezeTimeout = 5 * time.Second

// Freezer stops the processes that hold a file (SIGSTOP) and resumes them
// (SIGCONT). Resume is safe to call any number of times, from any
// goroutine: it is called on success, on error, from a deferred call
// during a panic and from the signal handler.
type Freezer struct {
	mu      sync.Mutex
	stopped []int // the processes we stopped, to resume
	// AlreadyStopped are holders that were stopped before we came (by a
	// job-control stop or a debugger): left as they were.
	AlreadyStopped []int
}

// Stop stops pid and waits until every one of its threads has halted
// (state T in /proc/PID/task/*/stat), so no write of it is in progress.
// A process that was stopped already is left alone and not resumed later.
func (f *Freezer) Stop(pid int) error {
	switch pid {
	case 1:
		return fmt.Errorf("%w: PID 1 (init) ignores SIGSTOP, and stopping it would halt the system; copy without --freeze", ErrFreeze)
	case os.Getpid():
		return fmt.Errorf("%w: PID %d is ext4relink itself", ErrFreeze, pid)
	}
	st, ok := ParseStat(readFile(fmt.Sprintf("/proc/%d/stat", pid)))
	if !ok {
		return fmt.Errorf("%w: process %d has gone", ErrNoSource, pid)
	}
	if st.Stopped() {
		f.mu.Lock()
		f.AlreadyStopped = append(f.AlreadyStopped, pid)
		f.mu.Unlock()
		return nil
	}
	f.mu.Lock()
	if err := unix.Kill(pid, unix.SIGSTOP); err != nil {
		f.mu.Unlock()
		return fmt.Errorf("%w: SIGSTOP to %d: %v", ErrFreeze, pid, err)
	}
	f.stopped = append(f.stopped, pid)
	f.mu.Unlock()
	deadline := time.Now().Add(freezeTimeout)
	for !allStopped(pid) {
		if !f.holds(pid) {
			return fmt.Errorf("%w while stopping %d; it has been resumed", ErrInterrupted, pid)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%w: process %d (%s) did not stop within %v (a thread in uninterruptible I/O?); it has been resumed", ErrFreeze, pid, st.Comm, freezeTimeout)
		}
		time.Sleep(2 * time.Millisecond)
	}
	return nil
}

// allStopped reports whether every thread of pid is stopped (or gone).
func allStopped(pid int) bool {
	tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/stat", pid))
	for _, t := range tasks {
		st, ok := ParseStat(readFile(t))
		if ok && !st.Stopped() && st.State != 'Z' && st.State != 'X' {
			return false
		}
	}
	return true
}

// Resume sends SIGCONT to every process Stop stopped and returns them.
func (f *Freezer) Resume() []int {
	f.mu.Lock()
	defer f.mu.Unlock()
	done := f.stopped
	for _, pid := range f.stopped {
		unix.Kill(pid, unix.SIGCONT)
	}
	f.stopped = nil
	return done
}

func (f *Freezer) holds(pid int) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Contains(f.stopped, pid)
}

// Stopped lists the processes currently stopped by f.
func (f *Freezer) Stopped() []int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]int(nil), f.stopped...)
}
