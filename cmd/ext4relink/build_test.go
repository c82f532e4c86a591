package main

import (
	"debug/buildinfo"
	"debug/elf"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"runtime/debug"
	"strings"
	"testing"
)

// readmeBuilds returns the go build command lines of the README's Install
// section, as environment assignments and arguments.
func readmeBuilds(t *testing.T) (cmds [][]string) {
	t.Helper()
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, install, ok := strings.Cut(string(b), "\n## Install\n")
	if !ok {
		t.Fatal("README has no Install section")
	}
	install, _, _ = strings.Cut(install, "\n## ")
	for _, l := range strings.Split(install, "\n") {
		l, _, _ = strings.Cut(l, "#")
		if f := strings.Fields(l); strings.Contains(l, "go build") && len(f) > 0 && strings.Contains(f[0], "=") {
			cmds = append(cmds, f)
		}
	}
	return cmds
}

// goBuild runs one README build line from the module root with the output
// redirected to out.
func goBuild(t *testing.T, line []string, out string) {
	t.Helper()
	goCmd, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("the go command is needed to build ext4relink: %v", err)
	}
	var env, args []string
	for len(line) > 0 && strings.Contains(line[0], "=") {
		env, line = append(env, line[0]), line[1:]
	}
	if len(line) < 2 || line[0] != "go" || line[1] != "build" {
		t.Fatalf("not a go build command: %q", line)
	}
	for i := 2; i < len(line); i++ {
		args = append(args, line[i])
		if line[i] == "-o" && i+1 < len(line) {
			args, i = append(args, out), i+1
		}
	}
	cmd := exec.Command(goCmd, append([]string{"build"}, args...)...)
	cmd.Dir = "../.."
	cmd.Env = append(os.Environ(), env...)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(line, " "), err, b)
	}
}

// nativeMachine is the ELF machine of a default build, by GOARCH.
var nativeMachine = map[string]elf.Machine{
	"amd64": elf.EM_X86_64, "arm64": elf.EM_AARCH64, "386": elf.EM_386, "arm": elf.EM_ARM,
	"riscv64": elf.EM_RISCV, "ppc64le": elf.EM_PPC64, "s390x": elf.EM_S390, "loong64": elf.EM_LOONGARCH,
}

// checkStatic fails unless path is a static ELF executable for machine
// (any machine when it is 0).
func checkStatic(t *testing.T, path string, machine elf.Machine) {
	t.Helper()
	f, err := elf.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if machine != 0 && f.Machine != machine {
		t.Errorf("%s: built for %v, want %v", path, f.Machine, machine)
	}
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP || p.Type == elf.PT_DYNAMIC {
			t.Errorf("%s: has a %v program header: dynamically linked", path, p.Type)
		}
	}
	if libs, err := f.ImportedLibraries(); err != nil || len(libs) > 0 {
		t.Errorf("%s: needs shared libraries %q (%v)", path, libs, err)
	}
	if needed, _ := f.DynString(elf.DT_NEEDED); len(needed) > 0 {
		t.Errorf("%s: DT_NEEDED %q", path, needed)
	}
}

// TestStaticBuild builds ext4relink with the README's commands (for
// rescue media: CGO_ENABLED=0, and the arm64 cross-build) and checks that
// each result is a static executable, and that --version of the native one
// reports what the go command recorded in it.
func TestStaticBuild(t *testing.T) {
	cmds := readmeBuilds(t)
	var native, arm64 bool
	for _, line := range cmds {
		joined := strings.Join(line, " ")
		if !strings.Contains(joined, "CGO_ENABLED=0") || !strings.Contains(joined, "-trimpath") {
			t.Errorf("README build command without CGO_ENABLED=0 and -trimpath: %s", joined)
		}
		bin := filepath.Join(t.TempDir(), "ext4relink")
		goBuild(t, line, bin)
		switch {
		case strings.Contains(joined, "GOARCH=arm64"):
			arm64 = true
			checkStatic(t, bin, elf.EM_AARCH64)
		case !strings.Contains(joined, "GOARCH="):
			native = true
			checkStatic(t, bin, nativeMachine[runtime.GOARCH])
			checkVersion(t, bin)
		}
	}
	if !native || !arm64 {
		t.Fatalf("README's Install section must show the static build and the arm64 cross-build; found %q", cmds)
	}
}

// checkVersion compares the binary's --version with the build information
// the go command wrote into it.
func checkVersion(t *testing.T, bin string) {
	t.Helper()
	out, err := exec.Command(bin, "--version").Output()
	if err != nil {
		t.Fatalf("%s --version: %v", bin, err)
	}
	bi, err := buildinfo.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	got := strings.TrimSpace(string(out))
	if want := formatVersion(version, bi); got != want {
		t.Errorf("--version = %q, want %q", got, want)
	}
	if !regexp.MustCompile(`^ext4relink \S+ \((rev [0-9a-f]{7}(\+dirty)?, )?go1\.\d+`).MatchString(got) {
		t.Errorf("--version = %q: not \"ext4relink VERSION (rev REV[+dirty], GOVERSION)\"", got)
	}
	for _, s := range bi.Settings {
		if s.Key == "CGO_ENABLED" && s.Value != "0" {
			t.Errorf("built with CGO_ENABLED=%s", s.Value)
		}
	}
}

// TestVersionLdflags: -ldflags "-X main.version=..." still sets the version.
func TestVersionLdflags(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "ext4relink")
	goBuild(t, []string{"CGO_ENABLED=0", "go", "build", "-ldflags=-X main.version=9.8.7-test", "-o", "x", "./cmd/ext4relink"}, bin)
	out, err := exec.Command(bin, "--version").Output()
	if err != nil || !strings.HasPrefix(string(out), "ext4relink 9.8.7-test (") {
		t.Fatalf("--version: %q, %v", out, err)
	}
}

// TestNoTestingInBinary: the rescue binary links no test code (the
// fixtures package imports testing; the demo reads its manifest through
// fixtures/manifest instead).
func TestNoTestingInBinary(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	for _, p := range strings.Fields(string(out)) {
		if p == "testing" || strings.HasPrefix(p, "testing/") || strings.HasSuffix(p, "/fixtures") || strings.Contains(p, "/internal/testfs") {
			t.Errorf("ext4relink links %s", p)
		}
	}
}

func TestFormatVersion(t *testing.T) {
	set := func(kv ...string) *debug.BuildInfo {
		bi := &debug.BuildInfo{GoVersion: "go1.26.8"}
		for i := 0; i+1 < len(kv); i += 2 {
			bi.Settings = append(bi.Settings, debug.BuildSetting{Key: kv[i], Value: kv[i+1]})
		}
		return bi
	}
	for _, c := range []struct {
		bi   *debug.BuildInfo
		want string
	}{
		{set(), "ext4relink 1.0 (go1.26.8)"},
		{set("vcs", "git", "vcs.revision", "0117b56e9c3f1a2b", "vcs.modified", "false"), "ext4relink 1.0 (rev 0117b56, go1.26.8)"},
		{set("vcs.revision", "0117b56e9c3f1a2b", "vcs.modified", "true"), "ext4relink 1.0 (rev 0117b56+dirty, go1.26.8)"},
		{set("vcs.revision", "abc"), "ext4relink 1.0 (rev abc, go1.26.8)"},
	} {
		if got := formatVersion("1.0", c.bi); got != c.want {
			t.Errorf("got %q, want %q", got, c.want)
		}
	}
	if got := formatVersion("1.0", nil); !regexp.MustCompile(`^ext4relink 1\.0 \(go1\.\d+`).MatchString(got) {
		t.Errorf("no build info: %q", got)
	}
	code, out, _ := runCLI("--version")
	bi, _ := debug.ReadBuildInfo()
	if code != exitOK || out != formatVersion(version, bi)+"\n" {
		t.Errorf("--version: exit %d, %q", code, out)
	}
}
