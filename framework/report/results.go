// Package report turns the suites' JUnit files into a compatibility matrix:
// rows are the hybrid-nodes guide's features, columns CNI and version.
package report

import (
	"encoding/json"
	"encoding/xml"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/onsi/ginkgo/v2/reporters"
)

// Label keys the suites put on every spec.
const (
	LabelCNI       = "cni"
	LabelVersion   = "version"
	LabelFeature   = "feature"
	LabelUpgradeTo = "upgrade-to" // only on runs that upgrade
	LabelRun       = "run"        // the run's name, unique within a matrix
	LabelFrom      = "from"       // the version an upgrade run installs first
	LabelPhase     = "phase"      // install, upgrade-N, rollback, ...
	// LabelVersion is the version the cluster runs in the spec's phase.
)

// GuideFindingEntry is the report-entry name under which a spec records a
// finding about the guide itself (its objects as written do not do what it
// says; the spec goes on with the fix): the matrix shows it on the spec's
// cell as a finding, not a failure.
const GuideFindingEntry = "guide finding"

// JUnit testsuite properties a run adds (suites.Run), one per run, named
// "<property>:<run name>".
const (
	// KubernetesProperty is the server version the run's cluster reported
	// ("v1.31.2").
	KubernetesProperty = "kubernetes-version"
	// KubernetesRequestedProperty is the version the run asked for
	// (--kubernetes-version, kubernetes.version), written instead when the
	// run reached no cluster.
	KubernetesRequestedProperty = "kubernetes-version-requested"
)

// DisruptionEntry is the report-entry name under which upgrade specs attach
// a Disruption; it lands in JUnit as a testcase property (JSON).
const DisruptionEntry = "disruption"

// Disruption summarises what an operation cost the traffic probes.
// Totals are over every pair (the longest gap is any pair's); the other
// fields are optional and extend it without changing the totals' names.
type Disruption struct {
	Sent         int     `json:"sent"`
	Lost         int     `json:"lost"`
	LossPercent  float64 `json:"lossPercent"`
	LongestGapMs float64 `json:"longestGapMs"`
	// Held and ProcessDelayMaxMs: see Figures.
	Held              int     `json:"held,omitempty"`
	ProcessDelayMaxMs float64 `json:"processDelayMaxMs,omitempty"`
	SocketDrops       int     `json:"socketDrops,omitempty"`
	// Hop names the hop ("1.16.19 -> 1.17.0") the figures are from.
	Hop string `json:"hop,omitempty"`
	// Baseline are the same pairs' totals over the window before the hop,
	// with nothing changing: the environment's own noise.
	Baseline *Figures `json:"baseline,omitempty"`
	// Pairs are each pair's figures (hop and baseline).
	Pairs []PairFigures `json:"pairs,omitempty"`
	// Worst is the longest gap in one sentence: when, which pair, during what.
	Worst string `json:"worst,omitempty"`
	// Timelines are the timeline JSON files (relative to the JUnit file's folder).
	Timelines []string `json:"timelines,omitempty"`
	// Repeats is the distribution over repeated hops (--repeat-hops).
	Repeats *Distribution `json:"repeats,omitempty"`
}

func (d Disruption) String() string {
	s := d.figures().String()
	if d.Baseline != nil {
		s += "; baseline " + d.Baseline.String()
	}
	return s
}

// State of one spec.
type State string

const (
	Passed  State = "passed"
	Failed  State = "failed"
	Skipped State = "skipped"
)

// Result is one spec from a JUnit file.
type Result struct {
	Spec    string
	CNI     string
	Version string
	// UpgradeTo and Run tell apart runs of one CNI version (an upgrade
	// run, another mode).
	UpgradeTo string
	Run       string
	// From is the version an upgrade run installed first; Phase is the
	// phase the spec ran in (install, upgrade-1, rollback, ...).
	From     string
	Phase    string
	Features []string
	Labels   []string
	State    State
	Duration time.Duration
	Message  string
	// Disruption is set when the spec measured one.
	Disruption *Disruption
	// Timelines are the disruption timelines the spec wrote (when their
	// files are still beside the JUnit file).
	Timelines []*Timeline
	// Findings are the spec's findings about the guide (GuideFindingEntry).
	Findings []string
	// Kubernetes is the Kubernetes version of the run's cluster as the
	// JUnit file records it: the server's ("v1.31.2"), or the requested one
	// marked as such when the run reached no cluster.
	Kubernetes string
	Source     string
}

// KubernetesRequested is how the report shows a version the run asked for
// but never saw a cluster report.
func KubernetesRequested(v string) string { return v + " (requested; no cluster reached)" }

// kubernetesVersions reads a testsuite's Kubernetes properties: run name
// to the version shown.
func kubernetesVersions(props reporters.JUnitProperties) map[string]string {
	out := map[string]string{}
	for _, p := range props.Properties {
		if run, ok := strings.CutPrefix(p.Name, KubernetesRequestedProperty+":"); ok && p.Value != "" {
			if _, seen := out[run]; !seen {
				out[run] = KubernetesRequested(p.Value)
			}
		} else if run, ok := strings.CutPrefix(p.Name, KubernetesProperty+":"); ok && p.Value != "" {
			out[run] = p.Value // the server's version wins over the request
		}
	}
	return out
}

var labelGroupRE = regexp.MustCompile(`\s*\[([^\[\]]*)\]\s*$`)

// ReadJUnit reads the specs of one JUnit file.
func ReadJUnit(path string) ([]Result, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var suites reporters.JUnitTestSuites
	if err := xml.Unmarshal(data, &suites); err != nil {
		return nil, fmt.Errorf("%s is not a JUnit report: %w", path, err)
	}
	var out []Result
	for _, s := range suites.TestSuites {
		if s.Properties.WithName("DryRun") == "true" {
			return nil, fmt.Errorf("%s is a dry run's listing: nothing ran, so it holds no result (run without --dry-run)", path)
		}
		kube := kubernetesVersions(s.Properties)
		for _, tc := range s.TestCases {
			r := Result{Source: path, Duration: time.Duration(tc.Time * float64(time.Second))}
			setup := strings.HasPrefix(tc.Name, "[") && !strings.HasPrefix(tc.Name, "[It]")
			if setup && tc.Failure == nil && tc.Error == nil {
				continue // suite set-up and reporting nodes count only when they fail
			}
			r.Spec, r.Labels = splitLabels(tc.Name)
			for _, l := range r.Labels {
				k, v, ok := strings.Cut(l, ":")
				if !ok {
					continue
				}
				switch k {
				case LabelCNI:
					r.CNI = v
				case LabelVersion:
					r.Version = v
				case LabelUpgradeTo:
					r.UpgradeTo = v
				case LabelRun:
					r.Run = v
				case LabelFrom:
					r.From = v
				case LabelPhase:
					r.Phase = v
				case LabelFeature:
					r.Features = append(r.Features, v)
				}
			}
			r.Kubernetes = kube[r.Run]
			if r.Kubernetes == "" && len(kube) == 1 {
				for _, v := range kube {
					r.Kubernetes = v
				}
			}
			if r.Version == "" {
				// Before the CNI and after delete, the run's own version.
				r.Version = r.From
			}
			switch {
			case tc.Failure != nil:
				r.State, r.Message = Failed, failureSummary(tc.Failure.Message)
			case tc.Error != nil:
				r.State, r.Message = Failed, failureSummary(tc.Error.Message)
			case tc.Skipped != nil:
				r.State, r.Message = Skipped, strings.TrimPrefix(strings.TrimPrefix(tc.Skipped.Message, "skipped"), " - ")
			default:
				r.State = Passed
			}
			if tc.Properties != nil {
				for _, p := range tc.Properties.Properties {
					if p.Name != GuideFindingEntry {
						continue
					}
					// Ginkgo writes an entry's value as JSON (a quoted string).
					var text string
					if json.Unmarshal([]byte(p.Value), &text) != nil {
						text = p.Value
					}
					if text != "" {
						r.Findings = append(r.Findings, text)
					}
				}
				if v := tc.Properties.WithName(DisruptionEntry); v != "" {
					var d Disruption
					if err := json.Unmarshal([]byte(v), &d); err == nil {
						r.Disruption = &d
						r.Timelines = loadTimelines(path, &d)
					}
				}
			}
			out = append(out, r)
		}
	}
	return out, nil
}

// ReadAll reads every JUnit file named, walking folders for *.xml.
func ReadAll(paths ...string) ([]Result, error) {
	var files []string
	for _, p := range paths {
		st, err := os.Stat(p)
		if err != nil {
			return nil, err
		}
		if !st.IsDir() {
			files = append(files, p)
			continue
		}
		err = filepath.WalkDir(p, func(path string, d os.DirEntry, err error) error {
			if err == nil && !d.IsDir() && strings.HasSuffix(path, ".xml") {
				files = append(files, path)
			}
			return err
		})
		if err != nil {
			return nil, err
		}
	}
	sort.Strings(files)
	var out []Result
	for _, f := range files {
		rs, err := ReadJUnit(f)
		if err != nil {
			return nil, err
		}
		out = append(out, rs...)
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("no JUnit files (*.xml) under %s", strings.Join(paths, ", "))
	}
	return out, nil
}

// splitLabels separates Ginkgo's trailing "[label, label]" groups from the spec text.
func splitLabels(name string) (string, []string) {
	var labels []string
	for {
		m := labelGroupRE.FindStringSubmatchIndex(name)
		if m == nil {
			break
		}
		group := name[m[2]:m[3]]
		if !strings.Contains(group, ":") {
			break
		}
		for _, l := range strings.Split(group, ",") {
			labels = append([]string{strings.TrimSpace(l)}, labels...)
		}
		name = name[:m[0]]
	}
	name = strings.TrimSpace(strings.TrimPrefix(name, "[It]"))
	return name, labels
}

// gomegaValue is the line Gomega prints before an error's text:
// "<*fmt.wrapError | 0xc000123>: ".
var gomegaValue = regexp.MustCompile(`^<[^<>|]+ \| 0x[0-9a-f]+>: ?$`)

// failureSummary makes a Gomega failure one readable line: the
// description (if any) and the error's own first line, not Gomega's
// "Expected success, but got an error:" preamble.
func failureSummary(msg string) string {
	lines := strings.Split(strings.TrimSpace(msg), "\n")
	for i, l := range lines {
		if !gomegaValue.MatchString(strings.TrimSpace(l)) || i+1 >= len(lines) {
			continue
		}
		text := strings.TrimSpace(lines[i+1])
		var desc []string
		for _, d := range lines[:i] {
			d = strings.TrimSpace(d)
			if d == "" || d == "Expected success, but got an error:" || d == "Unexpected error:" {
				continue
			}
			desc = append(desc, d)
		}
		if len(desc) > 0 {
			text = strings.Join(desc, " ") + ": " + text
		}
		return clip(text)
	}
	return clip(firstLine(msg))
}

func clip(s string) string {
	const max = 400
	if len(s) > max {
		return s[:max] + "..."
	}
	return s
}

func firstLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}

// SetSuiteProperties adds properties (name, value pairs, in order) to every
// testsuite of the JUnit file at path, replacing any of the same name: what
// a run learns outside any spec (the Kubernetes version its cluster
// reports) goes into the file Ginkgo wrote.
func SetSuiteProperties(path string, props ...reporters.JUnitProperty) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	var suites reporters.JUnitTestSuites
	if err := xml.Unmarshal(data, &suites); err != nil {
		return fmt.Errorf("%s is not a JUnit report: %w", path, err)
	}
	for i := range suites.TestSuites {
		ps := &suites.TestSuites[i].Properties
		for _, p := range props {
			replaced := false
			for j := range ps.Properties {
				if ps.Properties[j].Name == p.Name {
					ps.Properties[j].Value, replaced = p.Value, true
				}
			}
			if !replaced {
				ps.Properties = append(ps.Properties, p)
			}
		}
	}
	var b strings.Builder
	b.WriteString(xml.Header)
	enc := xml.NewEncoder(&b)
	enc.Indent("  ", "    ") // as Ginkgo writes it
	if err := enc.Encode(suites); err != nil {
		return err
	}
	b.WriteString("\n")
	return os.WriteFile(path, []byte(b.String()), 0o644)
}
