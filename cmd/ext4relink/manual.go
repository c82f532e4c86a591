package main

// The manual is written once, as data (the manual variable in usage.go),
// and rendered twice: as the --help text and as the roff man page
// ext4relink.8. Text in the source is reflowed, so line breaks and
// indentation inside the strings do not matter.

import (
	"regexp"
	"strings"
	"sync"
	"unicode/utf8"
)

//go:generate sh -c "go run . --man > ../../ext4relink.8"

// helpWidth is the widest line --help prints.
const helpWidth = 80

type section struct {
	title string
	body  []block
}

// A block is a para, a defs list, a synopsis or a code block.
type block interface{ isBlock() }

// para is a paragraph of running text.
type para string

// defs is a definition list: options, commands, exit codes.
type defs []def

// def is one entry of a definition list: the term ("--dev DEV") and its
// description.
type def struct{ term, text string }

// synopsis lines are command forms; a long one wraps with a hanging indent.
type synopsis []string

// code lines are shell commands; a long one is continued with " \".
type code []string

func (para) isBlock()     {}
func (defs) isBlock()     {}
func (synopsis) isBlock() {}
func (code) isBlock()     {}

// usageText returns what --help and `ext4relink help` print, rendered on
// first use (not at start-up: every run would pay for it).
var usageText = sync.OnceValue(func() string { return renderText(manual) })

// renderText renders the manual for a terminal, no line wider than
// helpWidth columns.
func renderText(m []section) string {
	var b strings.Builder
	for i, s := range m {
		if i > 0 {
			b.WriteString("\n")
		}
		b.WriteString(s.title + "\n")
		for j, bl := range s.body {
			if j > 0 {
				b.WriteString("\n")
			}
			switch bl := bl.(type) {
			case para:
				b.WriteString(wrap(string(bl), "    ", "    ", helpWidth))
			case defs:
				w := bl.termWidth()
				for _, d := range bl {
					first := "    " + d.term + strings.Repeat(" ", w-len(d.term))
					b.WriteString(wrap(d.text, first, strings.Repeat(" ", 4+w), helpWidth))
				}
			case synopsis:
				for _, l := range bl {
					b.WriteString(wrapWords(words(l, true), "    ", "        ", "", helpWidth))
				}
			case code:
				// Set off from text before it by four more columns.
				in := "    "
				if j > 0 {
					in += "    "
				}
				for _, l := range bl {
					b.WriteString(wrapWords(words(l, true), in, in+"    ", " \\", helpWidth))
				}
			}
		}
	}
	return b.String()
}

// termWidth is the column width of the terms: at least two spaces after
// the longest, rounded up to a multiple of four.
func (d defs) termWidth() int {
	w := 0
	for _, x := range d {
		w = max(w, len(x.term))
	}
	return (w + 2 + 3) / 4 * 4
}

// wrap reflows text into lines no wider than width: the first starts with
// first, the others with indent. A word longer than a line stands alone.
func wrap(text, first, indent string, width int) string {
	return wrapWords(words(text, false), first, indent, "", width)
}

// wrapWords fills lines with words; cont is appended to every line that
// continues on the next.
func wrapWords(words []string, first, indent, cont string, width int) string {
	var b strings.Builder
	line, n := first, 0 // n: words on the line
	for _, w := range words {
		if n > 0 && utf8.RuneCountInString(line)+1+utf8.RuneCountInString(w)+len(cont) > width {
			b.WriteString(line + cont + "\n")
			line, n = indent, 0
		}
		if n > 0 {
			line += " "
		}
		line += w
		n++
	}
	b.WriteString(line + "\n")
	return b.String()
}

// words splits text at the spaces outside [...] groups and outside
// quotes that open a word, so that "[--undo FILE]" or 'e2undo FILE DEV'
// is never broken across lines; an apostrophe inside a word (kernel's)
// is not a quote. With pairs, an option stays with its argument
// ("--dev DEV"), as in command lines.
func words(text string, pairs bool) []string {
	var (
		ws    []string
		cur   strings.Builder
		depth int
		quote rune
	)
	for _, r := range strings.Join(strings.Fields(text), " ") {
		switch {
		case quote != 0:
			if r == quote {
				quote = 0
			}
		case (r == '\'' || r == '"') && (cur.Len() == 0 || strings.HasSuffix(cur.String(), "=")):
			quote = r
		case r == '[':
			depth++
		case r == ']':
			depth--
		case r == ' ' && depth <= 0:
			ws = append(ws, cur.String())
			cur.Reset()
			continue
		}
		cur.WriteRune(r)
	}
	if cur.Len() > 0 {
		ws = append(ws, cur.String())
	}
	if !pairs {
		return ws
	}
	var out []string
	for i := 0; i < len(ws); i++ {
		if strings.HasPrefix(ws[i], "-") && i+1 < len(ws) && !strings.HasPrefix(ws[i+1], "-") && !strings.HasPrefix(ws[i+1], "[") {
			out = append(out, ws[i]+" "+ws[i+1])
			i++
			continue
		}
		out = append(out, ws[i])
	}
	return out
}

// manWidth is the widest code line in the man page: man(1) on an
// 80-column terminal indents section bodies by 7 columns and sets lines
// of 78.
const manWidth = 70

// renderMan renders the manual as a man(7) page for section 8.
func renderMan(m []section) string {
	var b strings.Builder
	b.WriteString(`.\" Generated from cmd/ext4relink/usage.go by "go generate ./cmd/ext4relink"; do not edit.` + "\n")
	b.WriteString(`.TH EXT4RELINK 8 "" "ext4relink" "System Administration"` + "\n")
	for _, s := range m {
		b.WriteString(".SH " + roffLine(s.title) + "\n")
		for j, bl := range s.body {
			switch bl := bl.(type) {
			case para:
				if j > 0 {
					b.WriteString(".PP\n")
				}
				b.WriteString(roffText(string(bl)) + "\n")
			case defs:
				for _, d := range bl {
					b.WriteString(".TP\n" + roffTerm(d.term) + "\n")
					b.WriteString(roffText(d.text) + "\n")
				}
			case synopsis:
				if j > 0 {
					b.WriteString(".PP\n")
				}
				// Each form is a filled line with a hanging indent; words
				// are joined by unbreakable spaces inside [...] groups.
				b.WriteString(".ad l\n.in +4n\n")
				for _, l := range bl {
					var ws []string
					for _, w := range words(l, true) {
						ws = append(ws, strings.ReplaceAll(roffTerm(w), " ", `\ `))
					}
					b.WriteString(".ti -4n\n" + strings.Join(ws, " ") + "\n")
				}
				b.WriteString(".in\n.ad\n")
			case code:
				width := manWidth
				if j > 0 {
					b.WriteString(".PP\n.RS 4\n")
					width -= 4
				}
				b.WriteString(".nf\n")
				for _, l := range bl {
					for _, ml := range strings.Split(strings.TrimSuffix(wrapWords(words(l, true), "", "    ", " \\", width), "\n"), "\n") {
						b.WriteString(roffLine(ml) + "\n")
					}
				}
				b.WriteString(".fi\n")
				if j > 0 {
					b.WriteString(".RE\n")
				}
			}
		}
	}
	return b.String()
}

// roffEscape makes text safe for roff: backslashes print as themselves and
// hyphens are minus signs (so options can be searched and copied).
func roffEscape(s string) string {
	return strings.NewReplacer(`\`, `\e`, "-", `\-`).Replace(s)
}

// roffText renders running text as one filled line; the spaces inside
// the words that must not be broken become unbreakable.
func roffText(text string) string {
	ws := words(text, false)
	for i, w := range ws {
		ws[i] = strings.ReplaceAll(roffEscape(w), " ", `\ `)
	}
	s := strings.Join(ws, " ")
	if strings.HasPrefix(s, ".") || strings.HasPrefix(s, "'") {
		s = `\&` + s
	}
	return s
}

// roffLine escapes one input line; a leading . or ' would start a request.
func roffLine(s string) string {
	s = roffEscape(s)
	if strings.HasPrefix(s, ".") || strings.HasPrefix(s, "'") {
		s = `\&` + s
	}
	return s
}

// termWord is compiled on first use (rendering the manual), not when any
// command starts.
var termWord = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`-*[A-Za-z0-9][A-Za-z0-9+-]*`) })

// roffTerm renders a term or command form the man(7) way: options and
// command words in bold, metavariables (DEV, N, PATH) in italics.
func roffTerm(s string) string {
	var b strings.Builder
	last := 0
	for _, loc := range termWord().FindAllStringIndex(s, -1) {
		b.WriteString(roffEscape(s[last:loc[0]]))
		w := s[loc[0]:loc[1]]
		switch {
		case strings.HasPrefix(w, "-") || strings.ToLower(w) == w && w[0] >= 'a':
			b.WriteString(`\fB` + roffEscape(w) + `\fR`)
		case strings.ToUpper(w) == w && w[0] >= 'A':
			b.WriteString(`\fI` + roffEscape(w) + `\fR`)
		default:
			b.WriteString(roffEscape(w))
		}
		last = loc[1]
	}
	b.WriteString(roffEscape(s[last:]))
	s = b.String()
	if strings.HasPrefix(s, ".") || strings.HasPrefix(s, "'") {
		s = `\&` + s
	}
	return s
}
