package report

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/Masterminds/semver/v3"
)

// Feature is a row of the matrix: one line of the guide's feature table.
type Feature struct {
	Label string // value of the feature:<label> spec label
	Title string
}

// Features are the guide's rows, in its order; unknown labels follow.
var Features = []Feature{
	{"conformance", "Kubernetes network conformance"},
	{"readiness", "Node readiness (NotReady until the CNI runs)"},
	{"placement", "CNI only on hybrid nodes"},
	{"cp-to-node", "Control plane to node"},
	{"cp-to-pod", "Control plane to pod"},
	{"install", "Lifecycle: install"},
	{"upgrade", "Lifecycle: upgrade"},
	{"delete", "Lifecycle: delete"},
	{"vxlan", "VXLAN overlay"},
	{"ipam", "IPAM"},
	{"ipv4", "IPv4"},
	{"masquerade", "Masquerading"},
	{"bgp", "BGP"},
}

// Column is one CNI version checked in one run: a run without upgrade has
// one column, an upgrade run one per version it reached (From is the
// version it installed, Version the one checked).
type Column struct {
	CNI, Version, UpgradeTo string
	From                    string
	// Run is the run's name; it appears in the title only where two
	// columns would otherwise read the same.
	Run string
}

func (c Column) String() string {
	if c.UpgradeTo == "" {
		return c.CNI + " " + c.Version
	}
	from := c.From
	if from == "" {
		from = c.Version
	}
	s := c.CNI + " " + from + " → " + c.UpgradeTo
	if c.From != "" {
		s += ": at " + c.Version
	}
	return s
}

// Cell aggregates the specs of one feature for one column.
type Cell struct {
	Passed, Failed, Skipped int
	Duration                time.Duration
	Failures                []string
	SkipReasons             []string
	// Findings are findings about the guide made while checking (the
	// spec's GuideFindingEntry): shown on the cell, never a failure.
	Findings    []string
	Disruptions []Disruption
	// Timelines are the disruption timelines of the cell's specs.
	Timelines []*Timeline
}

// State is failed if any spec failed, passed if any passed, else skipped.
func (c *Cell) State() State {
	switch {
	case c == nil:
		return ""
	case c.Failed > 0:
		return Failed
	case c.Passed > 0:
		return Passed
	case c.Skipped > 0:
		return Skipped
	}
	return ""
}

// Matrix is the compatibility matrix.
type Matrix struct {
	Rows    []Feature
	Columns []Column
	cells   map[string]map[Column]*Cell
	// Unlabelled counts specs without a cni label (not placed in the matrix).
	Unlabelled int
	// Setup lists failed suite set-up nodes (BeforeSuite and the like).
	Setup  []Result
	titles map[Column]string
	// kube is each column's Kubernetes version (Result.Kubernetes).
	kube map[Column]string
}

// Kubernetes is the Kubernetes version the column's run checked on, as its
// JUnit file records it ("" when it does not).
func (m *Matrix) Kubernetes(c Column) string { return m.kube[c] }

// KubernetesVersions are the columns' Kubernetes versions, each once, in
// column order.
func (m *Matrix) KubernetesVersions() []string {
	var out []string
	seen := map[string]bool{}
	for _, c := range m.Columns {
		if v := m.kube[c]; v != "" && !seen[v] {
			seen[v] = true
			out = append(out, v)
		}
	}
	return out
}

// CNIVersions names each CNI with the versions its columns checked
// ("cilium 1.16.19, 1.17.0"), in column order.
func (m *Matrix) CNIVersions() []string {
	var names []string
	versions := map[string][]string{}
	seen := map[string]bool{}
	add := func(cni, v string) {
		if v == "" || seen[cni+" "+v] {
			return
		}
		seen[cni+" "+v] = true
		if versions[cni] == nil {
			names = append(names, cni)
		}
		versions[cni] = append(versions[cni], v)
	}
	for _, c := range m.Columns {
		add(c.CNI, c.From)
		add(c.CNI, c.Version)
		add(c.CNI, c.UpgradeTo)
	}
	out := make([]string, len(names))
	for i, n := range names {
		out[i] = n + " " + strings.Join(versions[n], ", ")
	}
	return out
}

// Title is the column's heading: CNI, version and upgrade target, and the
// run's name where another column has the same.
func (m *Matrix) Title(c Column) string {
	if t, ok := m.titles[c]; ok {
		return t
	}
	return c.String()
}

// Cell returns the cell for a feature and column, or nil when no spec ran there.
func (m *Matrix) Cell(feature string, col Column) *Cell { return m.cells[feature][col] }

// Build aggregates results into the matrix.
func Build(results []Result) *Matrix {
	m := &Matrix{cells: map[string]map[Column]*Cell{}, kube: map[Column]string{}}
	cols := map[Column]bool{}
	known := map[string]bool{}
	for _, f := range Features {
		known[f.Label] = true
	}
	extra := map[string]bool{}
	for _, r := range results {
		if strings.HasPrefix(r.Spec, "[") && r.State == Failed {
			m.Setup = append(m.Setup, r)
			continue
		}
		if r.CNI == "" {
			m.Unlabelled++
			continue
		}
		col := Column{CNI: r.CNI, Version: r.Version, UpgradeTo: r.UpgradeTo, Run: r.Run}
		if r.UpgradeTo != "" {
			col.From = r.From
		}
		cols[col] = true
		if m.kube[col] == "" {
			m.kube[col] = r.Kubernetes
		}
		for _, f := range r.Features {
			if !known[f] {
				extra[f] = true
			}
			if m.cells[f] == nil {
				m.cells[f] = map[Column]*Cell{}
			}
			c := m.cells[f][col]
			if c == nil {
				c = &Cell{}
				m.cells[f][col] = c
			}
			c.Duration += r.Duration
			switch r.State {
			case Passed:
				c.Passed++
			case Failed:
				c.Failed++
				c.Failures = append(c.Failures, r.Spec+": "+r.Message)
			case Skipped:
				c.Skipped++
				if r.Message != "" {
					c.SkipReasons = append(c.SkipReasons, r.Message)
				}
			}
			for _, f := range r.Findings {
				c.Findings = append(c.Findings, r.Spec+": "+f)
			}
			if r.Disruption != nil {
				c.Disruptions = append(c.Disruptions, *r.Disruption)
			}
			c.Timelines = append(c.Timelines, r.Timelines...)
		}
	}
	for col := range cols {
		m.Columns = append(m.Columns, col)
	}
	sort.Slice(m.Columns, func(i, j int) bool {
		a, b := m.Columns[i], m.Columns[j]
		if a.CNI != b.CNI {
			return a.CNI < b.CNI
		}
		if a.From != b.From {
			fa, ea := semver.NewVersion(a.From)
			fb, eb := semver.NewVersion(b.From)
			if ea == nil && eb == nil {
				return fa.LessThan(fb)
			}
			return a.From < b.From
		}
		if a.UpgradeTo != b.UpgradeTo {
			return a.UpgradeTo < b.UpgradeTo
		}
		if a.Run != b.Run {
			return a.Run < b.Run
		}
		va, ea := semver.NewVersion(a.Version)
		vb, eb := semver.NewVersion(b.Version)
		if a.Version != b.Version {
			if ea == nil && eb == nil {
				return va.LessThan(vb)
			}
			return a.Version < b.Version
		}
		if a.UpgradeTo != b.UpgradeTo {
			return a.UpgradeTo < b.UpgradeTo
		}
		return a.Run < b.Run
	})
	same := map[string]int{}
	for _, c := range m.Columns {
		same[c.String()]++
	}
	m.titles = map[Column]string{}
	for _, c := range m.Columns {
		m.titles[c] = c.String()
		if same[c.String()] > 1 && c.Run != "" {
			m.titles[c] += " (" + c.Run + ")"
		}
	}
	for _, f := range Features {
		if m.cells[f.Label] != nil {
			m.Rows = append(m.Rows, f)
		}
	}
	var extras []string
	for f := range extra {
		extras = append(extras, f)
	}
	sort.Strings(extras)
	for _, f := range extras {
		m.Rows = append(m.Rows, Feature{Label: f, Title: f})
	}
	return m
}

// Summary is the cell's one-line text: state, counts, duration, disruption.
func (c *Cell) Summary() string {
	if c == nil {
		return "not run"
	}
	var parts []string
	switch c.State() {
	case Failed:
		parts = append(parts, fmt.Sprintf("FAIL %d/%d", c.Failed, c.Passed+c.Failed))
	case Passed:
		parts = append(parts, fmt.Sprintf("PASS %d", c.Passed))
	case Skipped:
		parts = append(parts, "SKIP")
	}
	if c.Skipped > 0 && c.State() != Skipped {
		parts = append(parts, fmt.Sprintf("%d skipped", c.Skipped))
	}
	if n := len(c.Findings); n == 1 {
		parts = append(parts, "1 guide finding")
	} else if n > 1 {
		parts = append(parts, fmt.Sprintf("%d guide findings", n))
	}
	parts = append(parts, c.Duration.Round(100*time.Millisecond).String())
	if d, ok := c.worstDisruption(); ok {
		parts = append(parts, d.String())
	}
	return strings.Join(parts, ", ")
}

func (c *Cell) worstDisruption() (Disruption, bool) {
	if len(c.Disruptions) == 0 {
		return Disruption{}, false
	}
	worst := c.Disruptions[0]
	for _, d := range c.Disruptions[1:] {
		if d.LongestGapMs > worst.LongestGapMs {
			worst = d
		}
	}
	return worst, true
}
