package devio

import (
	"os"
	"strings"

	"golang.org/x/sys/unix"
)

// readSysfs reads a sysfs or procfs file with plain system calls: os.ReadFile would also try to register the descriptor
// with the runtime's poller (four more system calls per file, refused for
// these files anyway), and the device checks every command runs read a
// dozen such files.
func readSysfs(path string) ([]byte, error) {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: path, Err: err}
	}
	defer unix.Close(fd)
	b := make([]byte, 0, 512)
	for {
		if len(b) == cap(b) {
			b = append(b, make([]byte, cap(b))...)[:len(b)]
		}
		n, err := unix.Read(fd, b[len(b):cap(b)])
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return nil, &os.PathError{Op: "read", Path: path, Err: err}
		}
		if n == 0 {
			return b, nil
		}
		b = b[:len(b)+n]
	}
}

// loopNames lists the loop devices the kernel has (/sys/block/loop*),
// attached or not, sorted.
func loopNames() []string {
	ents, err := os.ReadDir("/sys/block")
	if err != nil {
		return nil
	}
	var out []string
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), "loop") {
			out = append(out, e.Name())
		}
	}
	return out
}
