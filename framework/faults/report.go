package faults

import (
	"encoding/json"
	"fmt"
	"io"
	"regexp"
	"strings"
)

// Listing is one fault as `hybridcni faults` lists it.
type Listing struct {
	Name       string   `json:"name"`
	Doc        string   `json:"doc"`
	Breaks     []string `json:"breaks"`
	Needs      []string `json:"needs,omitempty"`
	Conditions []string `json:"conditions,omitempty"`
	After      string   `json:"after"`
}

// List describes every fault.
func List() []Listing {
	var out []Listing
	for _, f := range catalogue {
		l := Listing{Name: f.name, Doc: f.doc, Breaks: f.BreaksChecks(), Conditions: f.Conditions(), After: f.stage.String()}
		for _, c := range f.needs {
			l.Needs = append(l.Needs, string(c))
		}
		out = append(out, l)
	}
	return out
}

// WriteJSON writes the fault catalogue and the checks no fault breaks as
// JSON (hybridcni faults -o json; the text list is printed by the CLI).
func WriteJSON(w io.Writer) error {
	e := json.NewEncoder(w)
	e.SetIndent("", "  ")
	return e.Encode(struct {
		Faults []Listing         `json:"faults"`
		Gaps   map[string]string `json:"uncovered"`
	}{List(), Gaps})
}

// Outcome is one row of the fault matrix: a fault, a check it must break,
// and what happened.
type Outcome struct {
	Run, Fault, Check string
	// State is the must-fail spec's state: passed means the check caught
	// the fault; Healed is the state of the same check after heal.
	Caught, Healed string
	// Message is the check's failure message while the fault held.
	Message string
	// Detect is the time from inject to the failing check; Bound what the
	// check could wait under the fault ("own timeouts" when unbounded).
	Detect, Bound string
	// Inject is how long injecting the fault took; Heal the time from the
	// heal's start until this check passed again (empty: it did not).
	Inject, Heal string
}

// WriteMarkdown writes the fault matrix (fault -> expected check ->
// observed failure message) as Markdown.
func WriteMarkdown(w io.Writer, rows []Outcome) error {
	fmt.Fprintln(w, "# Fault matrix")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| run | fault | check | caught | inject took | detected after | wait bound | after heal | passed again after | observed failure |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|---|---|---|---|")
	for _, r := range rows {
		msg := strings.ReplaceAll(strings.ReplaceAll(firstLines(withoutGomegaFrame(r.Message), 3), "|", "\\|"), "\n", "<br>")
		fmt.Fprintf(w, "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", r.Run, r.Fault, r.Check, r.Caught, dash(r.Inject), r.Detect,
			dash(r.Bound), r.Healed, dash(r.Heal), msg)
	}
	return nil
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// gomegaFrame matches the lines Gomega wraps an error in ("Expected
// success, but got an error:", "<*router.CheckError | 0xc000...>:"), which
// took two of the three lines a row shows and hid what the check said;
// the struct dump after the message ("{" to "}") goes too.
var gomegaFrame = regexp.MustCompile(`^\s*(Expected success, but got an error:|Unexpected error:|<[^<>]+ \| 0x[0-9a-f]+>: ?)\s*$`)

func withoutGomegaFrame(s string) string {
	var out []string
	dump := "" // the indentation of the open dump's "{"
	for _, l := range strings.Split(s, "\n") {
		t := strings.TrimLeft(l, " \t")
		indent := l[:len(l)-len(t)]
		switch {
		case dump != "":
			if t == "}" && indent == dump {
				dump = ""
			}
		case t == "{" && indent != "":
			dump = indent
		case !gomegaFrame.MatchString(l):
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

func firstLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = append(lines[:n], "...")
	}
	return strings.Join(lines, "\n")
}
