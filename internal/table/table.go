// Package table prints lists the one way every hybridcni command does, as
// kubectl and kind do: an upper-case header row, then one row per item, the
// columns aligned with two spaces between them and "-" for an empty cell.
// Commands that print a list use it (and keep -o json where they have it).
package table

import (
	"fmt"
	"io"
	"strings"
)

// gap is the space between columns.
const gap = 2

// Table is one list being written; Flush writes it.
type Table struct {
	w     io.Writer
	head  []string
	rows  [][]string
	more  map[int][]string // lines under a row, in its last column
	width int
}

// New starts a list on w with the column names (written upper-case).
func New(w io.Writer, columns ...string) *Table {
	head := make([]string, len(columns))
	for i, c := range columns {
		head[i] = strings.ToUpper(c)
	}
	return &Table{w: w, head: head}
}

// Fit makes every line fit in width characters: the last column's text
// wraps onto lines of its own, the other cells blank there. Its cells may
// hold paragraphs apart by "\n" (a finding, then its fix), each starting
// a line.
func (t *Table) Fit(width int) *Table { t.width = width; return t }

// Row adds one item; each cell is printed with %v, an empty one as "-".
// Missing cells are empty; more cells than columns join the last one.
// Whitespace inside a cell becomes one space, so a row stays one line
// (but for the last column's paragraphs when the table fits a width).
func (t *Table) Row(cells ...any) {
	n := len(t.head)
	out := make([]string, n)
	for i, c := range cells {
		s := ""
		if c != nil {
			s = fmt.Sprint(c)
		}
		if i >= n {
			out[n-1] += " " + s
			continue
		}
		out[i] = s
	}
	for i := range out {
		if i == n-1 && t.width > 0 {
			var paras []string
			for _, p := range strings.Split(out[i], "\n") {
				if p = strings.Join(strings.Fields(p), " "); p != "" {
					paras = append(paras, p)
				}
			}
			out[i] = strings.Join(paras, "\n")
		} else {
			out[i] = strings.Join(strings.Fields(out[i]), " ")
		}
		if out[i] == "" {
			out[i] = "-"
		}
	}
	t.rows = append(t.rows, out)
}

// Continue adds a line under the last row, in the last column (a detail
// of the row: "- values: ..."); its whitespace becomes one space.
func (t *Table) Continue(text string) {
	if len(t.rows) == 0 {
		t.Row()
	}
	if t.more == nil {
		t.more = map[int][]string{}
	}
	i := len(t.rows) - 1
	t.more[i] = append(t.more[i], strings.Join(strings.Fields(text), " "))
}

// Flush writes the aligned list.
func (t *Table) Flush() error {
	n := len(t.head)
	widths := make([]int, n)
	for _, r := range append([][]string{t.head}, t.rows...) {
		for i, c := range r[:n-1] {
			widths[i] = max(widths[i], len([]rune(c)))
		}
	}
	indent := 0
	for _, w := range widths[:n-1] {
		indent += w + gap
	}
	lastW := 0 // no wrapping
	if t.width > 0 {
		lastW = max(t.width-indent, 20)
	}
	var b strings.Builder
	line := func(cells []string, last string) {
		for i, c := range cells {
			b.WriteString(c + strings.Repeat(" ", widths[i]-len([]rune(c))+gap))
		}
		b.WriteString(last)
		b.WriteString("\n")
	}
	line(t.head[:n-1], t.head[n-1])
	blank := make([]string, n-1)
	for ri, r := range t.rows {
		lines := []string{r[n-1]}
		if lastW > 0 {
			lines = nil
			for _, p := range strings.Split(r[n-1], "\n") {
				lines = append(lines, wrap(p, lastW)...)
			}
		}
		lines = append(lines, t.more[ri]...)
		for i, l := range lines {
			if i == 0 {
				line(r[:n-1], l)
			} else {
				line(blank, l)
			}
		}
	}
	_, err := io.WriteString(t.w, b.String())
	return err
}

// wrap breaks s into lines of at most width characters (a longer word is
// cut over lines of its own).
func wrap(s string, width int) []string {
	var lines []string
	line := ""
	for _, word := range strings.Fields(s) {
		for len([]rune(word)) > width {
			if line != "" {
				lines, line = append(lines, line), ""
			}
			r := []rune(word)
			lines, word = append(lines, string(r[:width])), string(r[width:])
		}
		switch {
		case line == "":
			line = word
		case len([]rune(line))+1+len([]rune(word)) <= width:
			line += " " + word
		default:
			lines, line = append(lines, line), word
		}
	}
	if line != "" || len(lines) == 0 {
		lines = append(lines, line)
	}
	return lines
}

// Check says how text that should be one list or more (blocks apart by
// blank lines, each a table) departs from the style: "" when it keeps it.
// A block's first line is the header (no lower-case letter); each later
// line starts its cells where the header's columns start, or is blank up
// to a column where it continues that column's text (a wrapped cell).
func Check(text string) string {
	for _, block := range strings.Split(strings.TrimRight(text, "\n"), "\n\n") {
		lines := strings.Split(strings.Trim(block, "\n"), "\n")
		head := lines[0]
		if head == "" || strings.ToUpper(head) != head || strings.TrimSpace(head) != head {
			return fmt.Sprintf("the first line %q is not an upper-case header row", head)
		}
		starts := columnStarts([]rune(head))
		for _, line := range lines[1:] {
			l := []rune(line) // columns are characters, not bytes
			if len(l) == 0 || l[0] == ' ' && !continues(l, starts) {
				return fmt.Sprintf("row %q is blank where the first column starts", line)
			}
			for _, c := range starts[1:] {
				if len(l) <= c {
					return fmt.Sprintf("row %q ends before the header %q's column at %d", line, head, c)
				}
				if strings.TrimSpace(string(l[:c])) == "" {
					continue // a wrapped cell's continuation
				}
				if l[c-1] != ' ' || l[c-2] != ' ' || l[c] == ' ' {
					return fmt.Sprintf("row %q does not start a cell at column %d, where the header %q starts one", line, c, head)
				}
			}
		}
	}
	return ""
}

// continues says whether a line blank at the start continues a cell: its
// text starts exactly at one of the header's columns.
func continues(l []rune, starts []int) bool {
	i := 0
	for i < len(l) && l[i] == ' ' {
		i++
	}
	for _, c := range starts {
		if c == i {
			return true
		}
	}
	return false
}

// columnStarts are the offsets where a header's columns start: after two
// or more spaces.
func columnStarts(head []rune) []int {
	starts := []int{0}
	for i := 2; i < len(head); i++ {
		if head[i] != ' ' && head[i-1] == ' ' && head[i-2] == ' ' {
			starts = append(starts, i)
		}
	}
	return starts
}
