// Package texttest holds the checks tests run on text the harness shows
// people (error messages, reports): a word repeated back to back reads as
// a typo, and usually means an error wrapped twice with the same word.
package texttest

import (
	"html"
	"regexp"
	"strings"
	"unicode"
)

// DoubledWord is the first word msg repeats back to back, across
// punctuation ("failed: failed to", "error: error"), as "word word"; ""
// when none. Words of one or two letters are left alone, and flags, paths
// and $VARS stay whole words: "--faults: faults" is a flag and its
// meaning, not a doubled word.
func DoubledWord(msg string) string {
	var words []string
	for _, f := range strings.Fields(strings.ToLower(msg)) {
		words = append(words, strings.Trim(f, `.,:;()"'*`))
	}
	for i := 1; i < len(words); i++ {
		if len(words[i]) > 2 && strings.IndexFunc(words[i], unicode.IsLetter) >= 0 && words[i] == words[i-1] {
			return words[i-1] + " " + words[i]
		}
	}
	return ""
}

var tag = regexp.MustCompile(`<[^>]*>`)

// DoubledWordHTML is DoubledWord on each run of text between an HTML
// page's tags (entities decoded), so two table cells that happen to end
// and start with one word do not count, and returns the first with the
// text it is in.
func DoubledWordHTML(page string) (word, text string) {
	for _, t := range tag.Split(page, -1) {
		t = html.UnescapeString(t)
		if w := DoubledWord(t); w != "" {
			return w, strings.TrimSpace(t)
		}
	}
	return "", ""
}
