package report

import (
	"bytes"
	"embed"
	"fmt"
	"html/template"
	"strings"
	"time"

	"github.com/hybridcni/hybridcni/framework/buildinfo"
)

// Now is the clock of the HTML page's "made" line (tests fix it).
var Now = time.Now

// Sources are the result files the page names as its source; the report
// command sets them to its arguments.
var Sources []string

// Markdown renders the matrix as a GitHub-flavoured table, failures listed below.
func (m *Matrix) Markdown() string {
	var b strings.Builder
	b.WriteString(mdEscape(m.provenance()) + "\n\n")
	b.WriteString("| Feature |")
	for _, c := range m.Columns {
		fmt.Fprintf(&b, " %s |", mdEscape(m.Title(c)))
	}
	b.WriteString("\n|---|")
	for range m.Columns {
		b.WriteString("---|")
	}
	b.WriteString("\n")
	if len(m.KubernetesVersions()) > 0 {
		b.WriteString("| Kubernetes |")
		for _, c := range m.Columns {
			v := m.Kubernetes(c)
			if v == "" {
				v = "not recorded"
			}
			fmt.Fprintf(&b, " %s |", mdEscape(v))
		}
		b.WriteString("\n")
	}
	for _, f := range m.Rows {
		fmt.Fprintf(&b, "| %s |", f.Title)
		for _, c := range m.Columns {
			cell := m.Cell(f.Label, c)
			mark := map[State]string{Passed: "✅", Failed: "❌", Skipped: "⏭️"}[cell.State()]
			if mark == "" {
				mark = "—"
			}
			if cell != nil && len(cell.Findings) > 0 {
				mark += " " + findingMark
			}
			fmt.Fprintf(&b, " %s %s |", mark, mdEscape(cell.Summary()))
		}
		b.WriteString("\n")
	}
	var failures []string
	for _, f := range m.Rows {
		for _, c := range m.Columns {
			if cell := m.Cell(f.Label, c); cell != nil {
				for _, msg := range cell.Failures {
					failures = append(failures, fmt.Sprintf("- **%s**, %s: %s", mdEscape(m.Title(c)), f.Title, mdEscape(msg)))
				}
			}
		}
	}
	if len(failures) > 0 {
		b.WriteString("\n### Failures\n\n" + strings.Join(failures, "\n") + "\n")
	}
	// Findings about the guide: what its objects as written did not do,
	// and the fix the check went on with.
	var findings []string
	for _, f := range m.Rows {
		for _, c := range m.Columns {
			if cell := m.Cell(f.Label, c); cell != nil {
				for _, msg := range cell.Findings {
					findings = append(findings, fmt.Sprintf("- %s **%s**, %s: %s", findingMark, mdEscape(m.Title(c)), f.Title, mdEscape(msg)))
				}
			}
		}
	}
	if len(findings) > 0 {
		b.WriteString("\n### Guide findings (the guide as written, not the CNI, fell short; the check went on with the fix)\n\n" + strings.Join(findings, "\n") + "\n")
	}
	// Skip reasons, once per cell: a skip without its reason reads like a pass.
	var skips []string
	for _, f := range m.Rows {
		for _, c := range m.Columns {
			if cell := m.Cell(f.Label, c); cell != nil {
				seen := map[string]bool{}
				for _, why := range cell.SkipReasons {
					if why == "" || seen[why] {
						continue
					}
					seen[why] = true
					skips = append(skips, fmt.Sprintf("- **%s**, %s: %s", mdEscape(m.Title(c)), f.Title, mdEscape(why)))
				}
			}
		}
	}
	if len(skips) > 0 {
		b.WriteString("\n### Skipped, and why\n\n" + strings.Join(skips, "\n") + "\n")
	}
	if len(m.Setup) > 0 {
		b.WriteString("\n### Set-up failures (no spec could run after them)\n\n")
		for _, r := range m.Setup {
			fmt.Fprintf(&b, "- %s: %s\n", mdEscape(r.Spec), mdEscape(r.Message))
		}
	}
	if m.Unlabelled > 0 {
		fmt.Fprintf(&b, "\n%d specs carried no cni label and are not in the matrix.\n", m.Unlabelled)
	}
	return b.String()
}

func mdEscape(s string) string { return strings.ReplaceAll(s, "|", "\\|") }

// findingMark marks a cell that holds a finding about the guide.
const findingMark = "🔎"

// provenance is the report's first line: when and by which harness it was
// made, the CNIs and versions checked, the Kubernetes versions they ran on
// and the result files read.
func (m *Matrix) provenance() string {
	s := fmt.Sprintf("Made %s by hybridcni %s", Now().UTC().Format(time.RFC3339), buildinfo.Version)
	if cnis := m.CNIVersions(); len(cnis) > 0 {
		s += "; CNI " + strings.Join(cnis, "; ")
	}
	if kube := m.KubernetesVersions(); len(kube) > 0 {
		s += "; Kubernetes " + strings.Join(kube, ", ")
	} else {
		s += "; Kubernetes version not recorded"
	}
	if len(Sources) > 0 {
		s += "; from " + strings.Join(Sources, ", ")
	}
	return s + "."
}

//go:embed matrix.html.tmpl
var htmlFS embed.FS

var htmlTmpl = template.Must(template.New("matrix.html.tmpl").Funcs(template.FuncMap{
	"state": func(c *Cell) string { return string(c.State()) },
}).ParseFS(htmlFS, "matrix.html.tmpl"))

// HTML renders a self-contained page (inline CSS, no external assets).
func (m *Matrix) HTML(title string) (string, error) {
	type cellView struct {
		Cell    *Cell
		Summary string
	}
	type rowView struct {
		Feature Feature
		Cells   []cellView
	}
	var rows []rowView
	for _, f := range m.Rows {
		rv := rowView{Feature: f}
		for _, c := range m.Columns {
			cell := m.Cell(f.Label, c)
			rv.Cells = append(rv.Cells, cellView{Cell: cell, Summary: cell.Summary()})
		}
		rows = append(rows, rv)
	}
	var titles []string
	for _, c := range m.Columns {
		titles = append(titles, m.Title(c))
	}
	var buf bytes.Buffer
	var kube []string
	if len(m.KubernetesVersions()) > 0 {
		for _, c := range m.Columns {
			v := m.Kubernetes(c)
			if v == "" {
				v = "not recorded"
			}
			kube = append(kube, v)
		}
	}
	err := htmlTmpl.Execute(&buf, map[string]any{"Title": title, "Columns": titles, "Rows": rows, "Unlabelled": m.Unlabelled, "Setup": m.Setup,
		"Kubernetes": kube, "CNIs": m.CNIVersions(), "KubernetesVersions": m.KubernetesVersions(),
		"Timelines": m.timelineViews(),
		// Provenance: when and by which harness the page was made, from which files.
		"Made": Now().UTC().Format(time.RFC3339), "Harness": buildinfo.Version, "Sources": Sources})
	return buf.String(), err
}
