package main

import (
	"fmt"
	"runtime"
	"runtime/debug"
)

// versionLine is what --version prints: the version (main.version, which
// -ldflags "-X main.version=..." sets), the VCS revision the binary was
// built from and the Go version, e.g.
//
//	ext4relink 0.1.0-dev (rev 0117b56+dirty, go1.26.8)
//
// The revision is left out when the build recorded none (go run, go test,
// -buildvcs=false, a build outside a git checkout).
func versionLine() string {
	bi, _ := debug.ReadBuildInfo()
	return formatVersion(version, bi)
}

func formatVersion(v string, bi *debug.BuildInfo) string {
	goVersion := runtime.Version()
	var rev string
	var dirty bool
	if bi != nil {
		if bi.GoVersion != "" {
			goVersion = bi.GoVersion
		}
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				rev = s.Value
			case "vcs.modified":
				dirty = s.Value == "true"
			}
		}
	}
	if rev == "" {
		return fmt.Sprintf("ext4relink %s (%s)", v, goVersion)
	}
	if len(rev) > 7 {
		rev = rev[:7]
	}
	if dirty {
		rev += "+dirty"
	}
	return fmt.Sprintf("ext4relink %s (rev %s, %s)", v, rev, goVersion)
}
