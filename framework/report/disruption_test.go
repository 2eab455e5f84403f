package report

import (
	"encoding/json"
	"encoding/xml"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/onsi/ginkgo/v2/types"
)

var t0 = time.Date(2026, 12, 4, 15, 0, 0, 0, time.UTC)

func at(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }

func sampleTimeline() *Timeline {
	return &Timeline{
		Hop: "1.16.19 -> 1.17.0", BaselineStart: at(-20000), BaselineEnd: at(-100), Start: at(0), End: at(10000), IntervalMS: 20,
		Pairs: []TimelinePair{
			{Pair: "disruption: echo-worker2-a (10.85.1.4) -> echo-worker-b (10.85.0.9)",
				Hop:      Figures{Sent: 500, Lost: 124, LossPercent: 24.8, LongestGapMs: 2470},
				Baseline: &Figures{Sent: 1000},
				Gaps: []TimelineGap{{Start: at(1000), End: at(3470), MS: 2470, Lost: 124,
					Causes: []string{"kube-system/cilium on worker down: cilium-abc terminating, until cilium-def ready"}}}},
			{Pair: "disruption: node/worker (10.80.0.2) -> echo-worker2-b (10.85.1.9)",
				Hop: Figures{Sent: 500}, Baseline: &Figures{Sent: 1000},
				Gaps: []TimelineGap{{Start: at(8000), End: at(8040), MS: 40, Lost: 2}}},
		},
		Events: []Event{
			{Kind: EventHop, Start: at(0), End: at(10000), Text: "upgrade call: 1.16.19 -> 1.17.0"},
			{Kind: EventPodDown, Start: at(900), End: at(3600), Node: "worker", Text: "kube-system/cilium on worker down: cilium-abc terminating, until cilium-def ready"},
			{Kind: EventBGPUp, Start: at(3700), Subject: "10.80.0.2", Text: "BGP session with worker (10.80.0.2) established <ok>"},
		},
	}
}

func TestDistributeMedianAndWorstPerPair(t *testing.T) {
	hop := func(lossA, gapA, lossB, gapB float64) Disruption {
		return Disruption{Pairs: []PairFigures{
			{Pair: "a", Figures: Figures{LossPercent: lossA, LongestGapMs: gapA}, Baseline: &Figures{LossPercent: 0, LongestGapMs: 20}},
			{Pair: "b", Figures: Figures{LossPercent: lossB, LongestGapMs: gapB}},
		}}
	}
	d := Distribute([]Disruption{hop(0.1, 60, 0, 0), hop(3.8, 2468, 0, 0), hop(0.2, 80, 0.5, 40), hop(0.1, 50, 0, 0), hop(0.3, 90, 0, 0)})
	if d.Runs != 5 || len(d.Pairs) != 2 || d.Pairs[0].Pair != "a" {
		t.Fatalf("%+v", d)
	}
	a := d.Pairs[0]
	if a.LossPercent != (Stat{Median: 0.2, Worst: 3.8}) || a.LongestGapMs != (Stat{Median: 80, Worst: 2468}) {
		t.Fatalf("pair a: loss %+v gap %+v; want median 0.2/80, worst 3.8/2468", a.LossPercent, a.LongestGapMs)
	}
	if a.BaselineLongestGapMs == nil || *a.BaselineLongestGapMs != (Stat{Median: 20, Worst: 20}) || d.Pairs[1].BaselineLossPercent != nil {
		t.Fatalf("baselines: a %+v, b %+v", a.BaselineLongestGapMs, d.Pairs[1].BaselineLossPercent)
	}
	// An even count: the mean of the middle two.
	even := Distribute([]Disruption{hop(1, 100, 0, 0), hop(2, 300, 0, 0)})
	if even.Pairs[0].LongestGapMs != (Stat{Median: 200, Worst: 300}) {
		t.Fatalf("even count: %+v", even.Pairs[0].LongestGapMs)
	}
	if s := d.Table(); !strings.Contains(s, "a: loss 0.20/3.80 %, gap 80/2468 ms [baseline loss 0.00/0.00 %, gap 20/20 ms]") {
		t.Fatalf("table:\n%s", s)
	}
	if Distribute(nil).Runs != 0 {
		t.Fatal("no hops")
	}
}

// The JUnit property of older runs (four fields) still reads, and the new
// fields keep the old names beside them.
func TestDisruptionJSONStaysCompatible(t *testing.T) {
	var old Disruption
	if err := json.Unmarshal([]byte(`{"sent":1000,"lost":3,"lossPercent":0.3,"longestGapMs":420}`), &old); err != nil || old.LongestGapMs != 420 {
		t.Fatalf("old property: %+v %v", old, err)
	}
	d := sampleTimeline().Summary()
	data, _ := json.Marshal(d)
	for _, k := range []string{`"sent":1000`, `"lost":124`, `"longestGapMs":2470`, `"lossPercent"`, `"baseline":{"sent":2000`, `"pairs":[`, `"worst":"gap 2.47 s on`} {
		if !strings.Contains(string(data), k) {
			t.Errorf("summary JSON lacks %s: %s", k, data)
		}
	}
	if !strings.Contains(d.String(), "; baseline loss 0.00% (0/2000), longest gap 0 ms") {
		t.Errorf("summary text without the baseline: %s", d)
	}
}

func TestTimelineSVGDrawsPairsGapsAndEvents(t *testing.T) {
	tl := sampleTimeline()
	svg := string(tl.SVG())
	if !strings.HasPrefix(svg, "<svg") || !strings.HasSuffix(svg, "</svg>") {
		t.Fatalf("not an inline SVG: %.80s", svg)
	}
	if n := strings.Count(svg, `<g class="pair">`); n != 2 {
		t.Errorf("%d pair rows, want 2", n)
	}
	if n := strings.Count(svg, `class="gap"`); n != 2 {
		t.Errorf("%d gaps marked, want 2", n)
	}
	// Lanes: the harness, pods on worker, the BGP session.
	if n := strings.Count(svg, `<g class="lane">`); n != 3 {
		t.Errorf("%d event lanes, want 3", n)
	}
	for _, want := range []string{"while kube-system/cilium on worker down", "(unattributed: no recorded event overlaps it)", "pods on worker", "BGP 10.80.0.2",
		"established &lt;ok&gt;", ">0s<", ">10s<"} {
		if !strings.Contains(svg, want) {
			t.Errorf("SVG lacks %q", want)
		}
	}
	if strings.Contains(svg, "<ok>") {
		t.Error("event text not escaped")
	}
	// The 2.47 s gap starts 1 s into a 10 s axis: x = label + 10 % of the plot.
	plot := float64(svgWidth - svgLabel - svgMargin)
	if want := `x="` + trimFloat(float64(svgLabel)+plot/10); !strings.Contains(svg, `class="gap" `+want) {
		t.Errorf("the gap is not placed at 1 s (%s):\n%s", want, svg)
	}
}

// The HTML report draws the timelines a JUnit file's disruption property
// names, read from beside the JUnit file.
func TestHTMLReportDrawsTheTimeline(t *testing.T) {
	dir := t.TempDir()
	tl := sampleTimeline()
	if err := WriteTimeline(filepath.Join(dir, "disruption", "run-hop.json"), tl); err != nil {
		t.Fatal(err)
	}
	d := tl.Summary()
	d.Timelines = []string{"disruption/run-hop.json"}
	path := writeJUnit(t, dir, "junit.xml", []spec{
		{text: "upgrade: hop 1 of 1", labels: append(labels("cilium", "1.16.19", "upgrade"), "upgrade-to:1.17.0"), state: types.SpecStatePassed, disruption: &d},
	})
	results, err := ReadAll(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(results) != 1 || len(results[0].Timelines) != 1 || results[0].Timelines[0].Hop != "1.16.19 -> 1.17.0" {
		t.Fatalf("timelines not read: %+v", results)
	}
	m := Build(results)
	page, err := m.HTML("matrix")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`<section class="disruption-timelines">`, "<h3>cilium 1.16.19 → 1.17.0: 1.16.19 -&gt; 1.17.0</h3>", `<svg class="timeline"`,
		`class="gap"`, "while kube-system/cilium on worker down", "baseline loss 0.00% (0/2000)"} {
		if !strings.Contains(page, want) {
			t.Errorf("HTML lacks %q", want)
		}
	}
	// The picture is real SVG inside the page, not escaped text.
	if strings.Contains(page, "&lt;svg") {
		t.Error("the SVG is escaped")
	}
	start := strings.Index(page, "<svg")
	end := strings.Index(page, "</svg>") + len("</svg>")
	var v struct{ XMLName xml.Name }
	if err := xml.Unmarshal([]byte(page[start:end]), &v); err != nil || v.XMLName.Local != "svg" {
		t.Errorf("the SVG is not well-formed XML: %v", err)
	}
	// The matrix cell carries the baseline beside the hop's figures.
	if md := m.Markdown(); !strings.Contains(md, "longest gap 2470 ms; baseline loss 0.00% (0/2000)") {
		t.Errorf("markdown cell without the baseline:\n%s", md)
	}
	// No timeline, no section.
	plain, _ := Build(nil).HTML("empty")
	if strings.Contains(plain, "disruption-timelines") {
		t.Error("section without timelines")
	}
}

// Probes a busy probe process held are summed per hop and said in words,
// apart from the loss.
func TestHeldProbesAreSummedAndSaid(t *testing.T) {
	tl := &Timeline{Hop: "1.19.6 -> 1.20.2", Pairs: []TimelinePair{
		{Pair: "a", Hop: Figures{Sent: 1000, Lost: 2, LossPercent: 0.2, LongestGapMs: 40, Held: 30, ProcessDelayMaxMs: 1600}},
		{Pair: "b", Hop: Figures{Sent: 1000, Held: 5, ProcessDelayMaxMs: 1100}},
	}}
	d := tl.Summary()
	if d.SocketDrops != 0 {
		t.Fatalf("socket drops %d, none measured", d.SocketDrops)
	}
	tl.Pairs[0].Hop.SocketDrops, tl.Pairs[1].Hop.SocketDrops = 3, 9 // one echo's count, seen by two pairs
	if s := tl.Summary(); s.SocketDrops != 9 || !strings.Contains(s.String(), "own sockets dropped 9 datagrams while busy") {
		t.Fatalf("socket drops: %d, %q; want the most any pair saw, 9, said", s.SocketDrops, s.String())
	}
	tl.Pairs[0].Hop.SocketDrops, tl.Pairs[1].Hop.SocketDrops = 0, 0
	if d.Held != 35 || d.ProcessDelayMaxMs != 1600 || d.Lost != 2 {
		t.Fatalf("summary: held %d, delay %v, lost %d; want 35, 1600, 2", d.Held, d.ProcessDelayMaxMs, d.Lost)
	}
	want := "loss 0.10% (2/2000), longest gap 40 ms (35 more answered in time on the network but held up to 1600 ms by a busy probe process: not lost)"
	if s := d.String(); s != want {
		t.Fatalf("String() = %q\nwant %q", s, want)
	}
	if s := (Figures{Sent: 10}).String(); strings.Contains(s, "held") {
		t.Fatalf("nothing held, yet said: %q", s)
	}
}
