package faults

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/hybridcni/hybridcni/framework/checks"
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

// WriteList writes the listing as text, or JSON when asJSON; then the
// checks no fault breaks yet.
func WriteList(w io.Writer, asJSON bool) error {
	if asJSON {
		e := json.NewEncoder(w)
		e.SetIndent("", "  ")
		return e.Encode(struct {
			Faults []Listing         `json:"faults"`
			Gaps   map[string]string `json:"uncovered"`
		}{List(), Gaps})
	}
	for _, l := range List() {
		fmt.Fprintf(w, "%s\n  %s\n  breaks: %s\n  after:  %s\n", l.Name, l.Doc, strings.Join(l.Breaks, ", "), l.After)
		if len(l.Needs) > 0 {
			fmt.Fprintf(w, "  needs:  %s\n", strings.Join(l.Needs, ", "))
		}
		if len(l.Conditions) > 0 {
			fmt.Fprintf(w, "  when:   %s\n", strings.Join(l.Conditions, ", "))
		}
	}
	if len(Gaps) > 0 {
		fmt.Fprintf(w, "\nchecks no fault breaks yet (%d):\n", len(Gaps))
		for _, c := range sortedKeys(Gaps) {
			fmt.Fprintf(w, "  %s: %s\n", c, Gaps[c])
		}
		return nil
	}
	fmt.Fprintf(w, "\nchecks no fault breaks yet: none (each of the %d catalogue checks is broken by a fault)\n", len(checks.Catalogue()))
	return nil
}

func sortedKeys(m map[string]string) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	for i := 1; i < len(out); i++ {
		for j := i; j > 0 && out[j] < out[j-1]; j-- {
			out[j], out[j-1] = out[j-1], out[j]
		}
	}
	return out
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
	// Detect is the time from inject to the failing check.
	Detect string
}

// WriteMarkdown writes the fault matrix (fault -> expected check ->
// observed failure message) as Markdown.
func WriteMarkdown(w io.Writer, rows []Outcome) error {
	fmt.Fprintln(w, "# Fault matrix")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| run | fault | check | caught | detected after | after heal | observed failure |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|---|")
	for _, r := range rows {
		msg := strings.ReplaceAll(strings.ReplaceAll(firstLines(r.Message, 3), "|", "\\|"), "\n", "<br>")
		fmt.Fprintf(w, "| %s | %s | %s | %s | %s | %s | %s |\n", r.Run, r.Fault, r.Check, r.Caught, r.Detect, r.Healed, msg)
	}
	return nil
}

func firstLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = append(lines[:n], "...")
	}
	return strings.Join(lines, "\n")
}
