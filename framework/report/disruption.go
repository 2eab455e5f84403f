package report

import (
	"encoding/json"
	"fmt"
	"html"
	"html/template"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"
)

// Figures are one measurement's counts: probes sent and lost, loss and the
// longest run of lost probes.
type Figures struct {
	Sent         int     `json:"sent"`
	Lost         int     `json:"lost"`
	LossPercent  float64 `json:"lossPercent"`
	LongestGapMs float64 `json:"longestGapMs"`
	// Held are probes the network answered in time that a busy probe
	// process (echo or meter) held past the reply timeout: not lost.
	// ProcessDelayMaxMs is the longest such a process held one.
	Held              int     `json:"held,omitempty"`
	ProcessDelayMaxMs float64 `json:"processDelayMaxMs,omitempty"`
	// SocketDrops are datagrams the probes' own sockets dropped (the
	// meter's, and the echo's for all its clients) with a full receive
	// buffer while their process was busy; in a hop's totals, the most
	// any pair saw. They are in Lost: which probes they were is unknown.
	SocketDrops int `json:"socketDrops,omitempty"`
}

func (f Figures) String() string {
	s := fmt.Sprintf("loss %.2f%% (%d/%d), longest gap %.0f ms", f.LossPercent, f.Lost, f.Sent, f.LongestGapMs)
	if f.Held > 0 {
		s += fmt.Sprintf(" (%d more answered in time on the network but held up to %.0f ms by a busy probe process: not lost)",
			f.Held, f.ProcessDelayMaxMs)
	}
	if f.SocketDrops > 0 {
		s += fmt.Sprintf(" (the probe processes' own sockets dropped %d datagrams while busy)", f.SocketDrops)
	}
	return s
}

// PairFigures are one pair's figures during the hop, and during the
// baseline window before it (nothing changing, same pair).
type PairFigures struct {
	Pair string `json:"pair"`
	Figures
	Baseline *Figures `json:"baseline,omitempty"`
}

// figures returns the totals of a Disruption as Figures.
func (d Disruption) figures() Figures {
	return Figures{Sent: d.Sent, Lost: d.Lost, LossPercent: d.LossPercent, LongestGapMs: d.LongestGapMs,
		Held: d.Held, ProcessDelayMaxMs: d.ProcessDelayMaxMs, SocketDrops: d.SocketDrops}
}

// Timeline event kinds. Spans have an End; instants do not.
const (
	EventHop        = "hop"         // the whole upgrade call (span)
	EventStep       = "step"        // a driver step: pre-flight, helm upgrade (span or instant)
	EventPodDown    = "pod-down"    // a pod terminating or not ready, until ready again (span)
	EventPodReady   = "pod-ready"   // a pod turned ready (instant)
	EventBGPDown    = "bgp-down"    // a BGP session down, until re-established (span)
	EventBGPUp      = "bgp-up"      // a BGP session established (instant)
	EventRouteGone  = "route-gone"  // a route withdrawn, until re-learned (span)
	EventRouteBack  = "route-back"  // a route (re-)learned (instant)
	EventInjected   = "injected"    // a fault a test injected (span)
	EventHostLoaded = "host-loaded" // the host's CPU busier than its cores (span)
)

// Event is one thing that happened during a hop, on the timeline.
type Event struct {
	Kind  string    `json:"kind"`
	Start time.Time `json:"start"`
	// End is zero for an instant.
	End  time.Time `json:"end,omitzero"`
	Node string    `json:"node,omitempty"`
	// Subject is the pod, peer address or prefix.
	Subject string `json:"subject,omitempty"`
	// Text says it in words: "agent cilium-x7k2p on worker2 restarting".
	Text string `json:"text"`
}

// Span reports whether the event lasts (has an End after its Start).
func (e Event) Span() bool { return e.End.After(e.Start) }

// Lane is the row of the timeline picture the event goes on.
func (e Event) Lane() string {
	switch e.Kind {
	case EventHop, EventStep:
		return "harness"
	case EventPodDown, EventPodReady:
		if e.Node != "" {
			return "pods on " + e.Node
		}
		return "pods"
	case EventBGPDown, EventBGPUp:
		return "BGP " + e.Subject
	case EventRouteGone, EventRouteBack:
		return "routes"
	case EventHostLoaded:
		return "host CPU"
	}
	return e.Kind
}

// TimelineGap is one gap of one pair with the events that overlap it.
type TimelineGap struct {
	Start time.Time `json:"start"`
	End   time.Time `json:"end"`
	MS    float64   `json:"ms"`
	Lost  int       `json:"lost"`
	// Causes are the texts of the events overlapping the gap; empty means
	// unattributed.
	Causes []string `json:"causes,omitempty"`
}

// Describe is the gap in one sentence, with its causes.
func (g TimelineGap) Describe(pair string) string {
	s := fmt.Sprintf("gap %.2f s on %s at %s-%s", g.MS/1000, pair, g.Start.UTC().Format("15:04:05.000"), g.End.UTC().Format("15:04:05.000"))
	if len(g.Causes) == 0 {
		return s + " (unattributed: no recorded event overlaps it)"
	}
	return s + " while " + strings.Join(g.Causes, "; ")
}

// TimelinePair is one pair on the timeline.
type TimelinePair struct {
	Pair     string        `json:"pair"`
	Hop      Figures       `json:"hop"`
	Baseline *Figures      `json:"baseline,omitempty"`
	Gaps     []TimelineGap `json:"gaps,omitempty"`
	// BaselineGaps are the gaps of the baseline window (no attribution:
	// nothing was changing).
	BaselineGaps []TimelineGap `json:"baselineGaps,omitempty"`
}

// LoadSample is the host's CPU use at one moment.
type LoadSample struct {
	At time.Time `json:"at"`
	// BusyPercent is the share of all cores busy since the previous sample.
	BusyPercent float64 `json:"busyPercent"`
	// Load1 is the one-minute load average.
	Load1 float64 `json:"load1"`
}

// Timeline is one hop: the baseline window, the hop window, every pair's
// gaps and the events, on one time axis. It is written as JSON beside the
// JUnit file and drawn in the HTML report.
type Timeline struct {
	Hop string `json:"hop"`
	// Baseline window: the same pairs, nothing changing.
	BaselineStart time.Time `json:"baselineStart,omitzero"`
	BaselineEnd   time.Time `json:"baselineEnd,omitzero"`
	// Start and End bound the hop's measurement.
	Start      time.Time      `json:"start"`
	End        time.Time      `json:"end"`
	IntervalMS float64        `json:"intervalMs"`
	Pairs      []TimelinePair `json:"pairs"`
	Events     []Event        `json:"events,omitempty"`
	// Load is the host's CPU during the hop (diagnostics).
	Load []LoadSample `json:"load,omitempty"`
	// Path is where the timeline was read from (not written).
	Path string `json:"-"`
}

// Summary is the hop's Disruption: totals over the pairs (longest gap of
// any pair), the baseline's, and each pair's.
func (t *Timeline) Summary() Disruption {
	d := Disruption{Hop: t.Hop}
	var base Figures
	hasBase := false
	for _, p := range t.Pairs {
		d.Sent += p.Hop.Sent
		d.Lost += p.Hop.Lost
		d.LongestGapMs = max(d.LongestGapMs, p.Hop.LongestGapMs)
		d.Held += p.Hop.Held
		d.ProcessDelayMaxMs = max(d.ProcessDelayMaxMs, p.Hop.ProcessDelayMaxMs)
		d.SocketDrops = max(d.SocketDrops, p.Hop.SocketDrops)
		if p.Baseline != nil {
			hasBase = true
			base.Sent += p.Baseline.Sent
			base.Lost += p.Baseline.Lost
			base.LongestGapMs = max(base.LongestGapMs, p.Baseline.LongestGapMs)
			base.Held += p.Baseline.Held
			base.ProcessDelayMaxMs = max(base.ProcessDelayMaxMs, p.Baseline.ProcessDelayMaxMs)
			base.SocketDrops = max(base.SocketDrops, p.Baseline.SocketDrops)
		}
		d.Pairs = append(d.Pairs, PairFigures{Pair: p.Pair, Figures: p.Hop, Baseline: p.Baseline})
	}
	d.LossPercent = pct(d.Lost, d.Sent)
	if hasBase {
		base.LossPercent = pct(base.Lost, base.Sent)
		d.Baseline = &base
	}
	for _, p := range t.Pairs {
		for _, g := range p.Gaps {
			if g.MS == d.LongestGapMs && d.LongestGapMs > 0 && d.Worst == "" {
				d.Worst = g.Describe(p.Pair)
			}
		}
	}
	return d
}

func pct(lost, sent int) float64 {
	if sent == 0 {
		return 0
	}
	return 100 * float64(lost) / float64(sent)
}

// Gaps lists every gap of the hop in one sentence each, in time order.
func (t *Timeline) Gaps() []string {
	type g struct {
		at   time.Time
		text string
	}
	var all []g
	for _, p := range t.Pairs {
		for _, gap := range p.Gaps {
			all = append(all, g{gap.Start, gap.Describe(p.Pair)})
		}
	}
	sort.SliceStable(all, func(i, j int) bool { return all[i].at.Before(all[j].at) })
	out := make([]string, len(all))
	for i, x := range all {
		out[i] = x.text
	}
	return out
}

// WriteTimeline writes t as indented JSON to path.
func WriteTimeline(path string, t *Timeline) error {
	data, err := json.MarshalIndent(t, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return os.WriteFile(path, append(data, '\n'), 0o644)
}

// ReadTimeline reads a timeline JSON file.
func ReadTimeline(path string) (*Timeline, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var t Timeline
	if err := json.Unmarshal(data, &t); err != nil {
		return nil, fmt.Errorf("%s is not a disruption timeline: %w", path, err)
	}
	t.Path = path
	return &t, nil
}

// loadTimelines reads the timelines a Disruption names, relative to the
// folder of the JUnit file it came from; files that are gone are skipped
// (the matrix still carries the totals).
func loadTimelines(junitPath string, d *Disruption) []*Timeline {
	var out []*Timeline
	for _, p := range d.Timelines {
		if !filepath.IsAbs(p) {
			p = filepath.Join(filepath.Dir(junitPath), p)
		}
		if t, err := ReadTimeline(p); err == nil {
			out = append(out, t)
		}
	}
	return out
}

// Stat is a distribution's middle and worst.
type Stat struct {
	Median float64 `json:"median"`
	Worst  float64 `json:"worst"`
}

// PairDistribution is one pair over repeated hops.
type PairDistribution struct {
	Pair         string `json:"pair"`
	Runs         int    `json:"runs"`
	LossPercent  Stat   `json:"lossPercent"`
	LongestGapMs Stat   `json:"longestGapMs"`
	// Baseline is the same over the baseline windows before each hop.
	BaselineLossPercent  *Stat `json:"baselineLossPercent,omitempty"`
	BaselineLongestGapMs *Stat `json:"baselineLongestGapMs,omitempty"`
}

// Distribution is the spread of repeated hops, per pair.
type Distribution struct {
	Runs  int                `json:"runs"`
	Pairs []PairDistribution `json:"pairs"`
}

// Distribute computes, per pair, the median and worst loss and longest gap
// over repeated hops (and over their baselines). Pairs keep the order they
// first appear in; a pair missing from a hop counts only the hops it was in.
// The median of an even count is the mean of the middle two.
func Distribute(hops []Disruption) Distribution {
	type acc struct {
		loss, gap, bloss, bgap []float64
	}
	var order []string
	by := map[string]*acc{}
	for _, h := range hops {
		for _, p := range h.Pairs {
			a := by[p.Pair]
			if a == nil {
				a = &acc{}
				by[p.Pair] = a
				order = append(order, p.Pair)
			}
			a.loss = append(a.loss, p.LossPercent)
			a.gap = append(a.gap, p.LongestGapMs)
			if p.Baseline != nil {
				a.bloss = append(a.bloss, p.Baseline.LossPercent)
				a.bgap = append(a.bgap, p.Baseline.LongestGapMs)
			}
		}
	}
	d := Distribution{Runs: len(hops)}
	for _, name := range order {
		a := by[name]
		pd := PairDistribution{Pair: name, Runs: len(a.loss), LossPercent: stat(a.loss), LongestGapMs: stat(a.gap)}
		if len(a.bloss) > 0 {
			bl, bg := stat(a.bloss), stat(a.bgap)
			pd.BaselineLossPercent, pd.BaselineLongestGapMs = &bl, &bg
		}
		d.Pairs = append(d.Pairs, pd)
	}
	return d
}

func stat(v []float64) Stat {
	if len(v) == 0 {
		return Stat{}
	}
	s := slices.Clone(v)
	slices.Sort(s)
	n := len(s)
	m := s[n/2]
	if n%2 == 0 {
		m = (s[n/2-1] + s[n/2]) / 2
	}
	return Stat{Median: m, Worst: s[n-1]}
}

// Table renders the distribution, one line per pair.
func (d Distribution) Table() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d repeated hops; per pair: loss %% median/worst, longest gap ms median/worst (baseline in brackets)\n", d.Runs)
	for _, p := range d.Pairs {
		fmt.Fprintf(&b, "%s: loss %.2f/%.2f %%, gap %.0f/%.0f ms", p.Pair, p.LossPercent.Median, p.LossPercent.Worst, p.LongestGapMs.Median, p.LongestGapMs.Worst)
		if p.BaselineLossPercent != nil {
			fmt.Fprintf(&b, " [baseline loss %.2f/%.2f %%, gap %.0f/%.0f ms]", p.BaselineLossPercent.Median, p.BaselineLossPercent.Worst,
				p.BaselineLongestGapMs.Median, p.BaselineLongestGapMs.Worst)
		}
		b.WriteString("\n")
	}
	return b.String()
}

// The timeline picture's geometry (px).
const (
	svgWidth  = 1100
	svgLabel  = 330
	svgRow    = 18
	svgAxis   = 22
	svgMargin = 8
)

// SVG draws the timeline: one row per pair (its measured window in green,
// gaps in red) and one row per event lane (spans as bars, instants as
// ticks), time on x from the hop's start; every mark has a tooltip.
func (t *Timeline) SVG() template.HTML {
	start, end := t.Start, t.End
	for _, e := range t.Events {
		if !e.Start.IsZero() && e.Start.Before(start) && start.Sub(e.Start) < 5*time.Minute {
			start = e.Start
		}
		if e.End.After(end) && e.End.Sub(end) < 5*time.Minute {
			end = e.End
		}
	}
	if !end.After(start) {
		end = start.Add(time.Second)
	}
	span := end.Sub(start).Seconds()
	plot := float64(svgWidth - svgLabel - svgMargin)
	x := func(at time.Time) float64 {
		v := at.Sub(start).Seconds() / span * plot
		return float64(svgLabel) + math.Max(0, math.Min(plot, v))
	}
	var lanes []string
	byLane := map[string][]Event{}
	for _, e := range t.Events {
		l := e.Lane()
		if _, ok := byLane[l]; !ok {
			lanes = append(lanes, l)
		}
		byLane[l] = append(byLane[l], e)
	}
	rows := len(t.Pairs) + len(lanes)
	height := svgAxis + rows*svgRow + svgMargin
	var b strings.Builder
	fmt.Fprintf(&b, `<svg class="timeline" xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="11">`,
		svgWidth, height, svgWidth, height)
	fmt.Fprintf(&b, `<title>%s</title>`, html.EscapeString("disruption timeline: "+t.Hop))
	// Time axis: about ten ticks, in seconds from the start.
	step := niceStep(span / 10)
	for s := 0.0; s <= span+1e-9; s += step {
		px := float64(svgLabel) + s/span*plot
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#ddd"/>`, px, svgAxis-4, px, height-svgMargin)
		fmt.Fprintf(&b, `<text x="%.1f" y="%d" text-anchor="middle" fill="#555">%ss</text>`, px, svgAxis-8, trimFloat(s))
	}
	fmt.Fprintf(&b, `<text x="4" y="%d" fill="#555">%s UTC</text>`, svgAxis-8, start.UTC().Format("15:04:05"))
	y := svgAxis
	for _, p := range t.Pairs {
		label := p.Pair
		fmt.Fprintf(&b, `<g class="pair"><text x="4" y="%d">%s</text>`, y+svgRow-5, html.EscapeString(clipLabel(label)))
		fmt.Fprintf(&b, `<rect x="%.1f" y="%d" width="%.1f" height="%d" fill="#cfeccf"><title>%s</title></rect>`,
			x(t.Start), y+3, math.Max(1, x(t.End)-x(t.Start)), svgRow-6, html.EscapeString(label+": "+p.Hop.String()))
		for _, g := range p.Gaps {
			fmt.Fprintf(&b, `<rect class="gap" x="%.1f" y="%d" width="%.1f" height="%d" fill="#d62728"><title>%s</title></rect>`,
				x(g.Start), y+1, math.Max(2, x(g.End)-x(g.Start)), svgRow-2, html.EscapeString(g.Describe(label)))
		}
		b.WriteString(`</g>`)
		y += svgRow
	}
	for _, l := range lanes {
		fmt.Fprintf(&b, `<g class="lane"><text x="4" y="%d" fill="#335">%s</text>`, y+svgRow-5, html.EscapeString(clipLabel(l)))
		for _, e := range byLane[l] {
			tip := html.EscapeString(e.Start.UTC().Format("15:04:05.000") + " " + e.Text)
			if e.Span() {
				fmt.Fprintf(&b, `<rect class="event" x="%.1f" y="%d" width="%.1f" height="%d" fill="%s" fill-opacity="0.6"><title>%s</title></rect>`,
					x(e.Start), y+4, math.Max(2, x(e.End)-x(e.Start)), svgRow-8, eventColour(e.Kind), tip)
			} else {
				fmt.Fprintf(&b, `<path class="event" d="M%.1f %d l4 %d l-8 0 z" fill="%s"><title>%s</title></path>`,
					x(e.Start), y+4, svgRow-8, eventColour(e.Kind), tip)
			}
		}
		b.WriteString(`</g>`)
		y += svgRow
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String()) //nolint:gosec // every text is escaped above
}

func eventColour(kind string) string {
	switch kind {
	case EventHop, EventStep:
		return "#7f7f7f"
	case EventPodDown, EventPodReady:
		return "#1f77b4"
	case EventBGPDown, EventBGPUp:
		return "#9467bd"
	case EventRouteGone, EventRouteBack:
		return "#8c564b"
	case EventInjected:
		return "#ff7f0e"
	case EventHostLoaded:
		return "#bcbd22"
	}
	return "#17becf"
}

// niceStep rounds a tick step up to 1, 2 or 5 times a power of ten.
func niceStep(v float64) float64 {
	if v <= 0 {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 5, 10} {
		if m*p >= v {
			return m * p
		}
	}
	return 10 * p
}

func trimFloat(v float64) string {
	s := fmt.Sprintf("%.3f", v)
	s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	return s
}

func clipLabel(s string) string {
	const n = 52
	s = strings.TrimPrefix(s, "disruption: ")
	if len([]rune(s)) > n {
		return string([]rune(s)[:n-1]) + "…"
	}
	return s
}

// timelineView is one timeline as the HTML report shows it.
type timelineView struct {
	Column  string
	Hop     string
	Summary string
	SVG     template.HTML
	Gaps    []string
	Path    string
}

// timelineViews are every column's timelines, in column order.
func (m *Matrix) timelineViews() []timelineView {
	var out []timelineView
	for _, c := range m.Columns {
		seen := map[string]bool{}
		for _, f := range m.Rows {
			cell := m.Cell(f.Label, c)
			if cell == nil {
				continue
			}
			for _, t := range cell.Timelines {
				if seen[t.Path] {
					continue
				}
				seen[t.Path] = true
				out = append(out, timelineView{Column: m.Title(c), Hop: t.Hop, Summary: t.Summary().String(), SVG: t.SVG(), Gaps: t.Gaps(), Path: t.Path})
			}
		}
	}
	return out
}
