package main

import (
	"bytes"
	"os"
	"os/exec"
	"strings"
	"testing"
	"unicode/utf8"
)

const manPage = "../../ext4relink.8"

// TestHelpWidth: --help fits an 80-column terminal (a rescue console).
func TestHelpWidth(t *testing.T) {
	code, out, _ := runCLI("--help")
	if code != exitOK || out != usageText() {
		t.Fatalf("--help: exit %d, or not the manual", code)
	}
	for i, l := range strings.Split(strings.TrimSuffix(out, "\n"), "\n") {
		if n := utf8.RuneCountInString(l); n > helpWidth || strings.ContainsRune(l, '\t') {
			t.Errorf("--help line %d is %d columns (max %d) or has a tab: %q", i+1, n, helpWidth, l)
		}
	}
}

// TestFirstThingFirst: what to do while the process still runs is the
// first thing the description says (and the README, before anything else).
func TestFirstThingFirst(t *testing.T) {
	_, desc, _ := strings.Cut(usageText(), "\nDESCRIPTION\n")
	first, _, _ := strings.Cut(desc, "\n\n")
	if !strings.Contains(first, "STILL RUNNING") || !strings.Contains(first, "Do not kill that process") {
		t.Errorf("the description does not start with the still-running advice:\n%s", first)
	}
	if !strings.Contains(desc[:600], "/proc/PID/fd/N") {
		t.Errorf("the description does not say to copy from /proc/PID/fd/N first")
	}
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	r := string(readme)
	callout, heading := strings.Index(r, "STILL RUNNING"), strings.Index(r, "\n## ")
	if callout < 0 || heading < 0 || callout > heading || !strings.Contains(r[:heading], "/proc/PID/fd/N") {
		t.Errorf("README: the still-running advice (with /proc/PID/fd/N) must come before the first section")
	}
}

// TestManPageUpToDate: the committed ext4relink.8 is rendered from the
// same source as --help.
func TestManPageUpToDate(t *testing.T) {
	want := renderMan(manual)
	got, err := os.ReadFile(manPage)
	if err != nil || string(got) != want {
		t.Fatalf("ext4relink.8 does not match the manual in usage.go (%v): run go generate ./cmd/ext4relink", err)
	}
	code, out, _ := runCLI("--man")
	if code != exitOK || out != want {
		t.Errorf("--man: exit %d, or not the man page", code)
	}
}

// TestManPageRenders: groff formats the page without a warning, no line
// wider than an 80-column terminal, and no text of the manual is lost.
func TestManPageRenders(t *testing.T) {
	groff, err := exec.LookPath("groff")
	if err != nil {
		t.Fatalf("groff is needed to check the man page (apt-get install groff-base): %v", err)
	}
	// man(1) on an 80-column terminal sets lines of 78 (LL=78n).
	cmd := exec.Command(groff, "-man", "-Tutf8", "-ww", "-rLL=78n", "-P-c", "-P-b", "-P-u", manPage)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil || stderr.Len() > 0 {
		t.Fatalf("groff: %v\n%s", err, stderr.String())
	}
	page := string(out)
	for i, l := range strings.Split(page, "\n") {
		if n := utf8.RuneCountInString(l); n > 80 {
			t.Errorf("man page line %d is %d columns: %q", i+1, n, l)
		}
	}
	// Every word of --help appears in the page, in the same order. Groff
	// breaks lines elsewhere, hyphenates words at line ends and prints
	// Unicode hyphens and quotes: compare without spaces and hyphens.
	norm := strings.NewReplacer("\u2010", "", "\u2212", "", "-", "", "\u2019", "'", "\u2018", "'",
		"\u201c", `"`, "\u201d", `"`, " \\\n", "", " ", "", "\n", "", "\u00a0", "")
	flat := norm.Replace(page)
	pos := 0
	for _, w := range strings.Fields(usageText()) {
		if w = norm.Replace(w); w == "" || w == "\\" {
			continue
		}
		i := strings.Index(flat[pos:], w)
		if i < 0 {
			t.Fatalf("man page lost %q (or has it out of order) after %q", w, flat[max(0, pos-60):pos])
		}
		pos += i + len(w)
	}
}

func TestRoffEscaping(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"--dev DEV", `\-\-dev DEV`},
		{`printf '%p\n'`, `printf '%p\en'`},
		{".hidden", `\&.hidden`},
		{"'quoted' word", `\&'quoted' word`},
		{"a 'b c' d", `a 'b\ c' d`},
	} {
		if got := roffText(c.in); got != c.want {
			t.Errorf("roffText(%q) = %q, want %q", c.in, got, c.want)
		}
	}
	if got, want := roffTerm("--into DIR"), `\fB\-\-into\fR \fIDIR\fR`; got != want {
		t.Errorf("roffTerm = %q, want %q", got, want)
	}
	if got, want := roffTerm(".x"), `\&.\fBx\fR`; got != want {
		t.Errorf("roffTerm = %q, want %q", got, want)
	}
}

func TestWrap(t *testing.T) {
	got := wrapWords(words("ext4relink --dev /dev/sda1 --inode 12 --name '/a b/c' [--undo FILE]", true), "    ", "        ", " \\", 40)
	want := "    ext4relink --dev /dev/sda1 \\\n        --inode 12 --name '/a b/c' \\\n        [--undo FILE]\n"
	if got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
	// An apostrophe inside a word does not start a quote.
	if got := words("the kernel's view 'a b' x", false); len(got) != 5 || got[3] != "'a b'" {
		t.Errorf("words: %q", got)
	}
}

// TestRelinkCommandWord: "ext4relink relink ..." is the default command.
func TestRelinkCommandWord(t *testing.T) {
	for _, args := range [][]string{
		{"--dev", "/nonexistent", "--inode", "12", "--name", "/x"},
		{"--dev", "/nonexistent"},
		{"--dev", "/nonexistent", "--all", "--into", "/x", "--dry-run"},
	} {
		c1, o1, e1 := runCLI(args...)
		c2, o2, e2 := runCLI(append([]string{"relink"}, args...)...)
		if c1 != c2 || o1 != o2 || e1 != e2 {
			t.Errorf("%v: exit %d %q, with relink: exit %d %q", args, c1, e1, c2, e2)
		}
	}
	if !strings.Contains(usageText(), "ext4relink [relink] --dev DEV") {
		t.Error("the synopsis does not show the relink command word")
	}
}
