package probe

import (
	"strings"
	"testing"
	"time"

	"github.com/hybridcni/hybridcni/framework/report"
)

var t0 = time.Date(2026, 12, 4, 15, 0, 0, 0, time.UTC)

func at(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }

func TestAttributeGapsToOverlappingEvents(t *testing.T) {
	gaps := []Gap{
		{Start: at(1000), End: at(3470), MS: 2470, Lost: 123}, // during the agent restart
		{Start: at(5000), End: at(5100), MS: 100, Lost: 5},    // a BGP drop ends 10 ms before: within one interval
		{Start: at(8000), End: at(8040), MS: 40, Lost: 2},     // nothing happening
	}
	events := []report.Event{
		{Kind: report.EventHop, Start: at(0), End: at(10000), Text: "upgrade call: 1.16.19 -> 1.17.0"},
		{Kind: report.EventStep, Start: at(0), End: at(9000), Text: "driver: upgrade 1.16.19 -> 1.17.0"},
		{Kind: report.EventPodDown, Start: at(900), End: at(3600), Node: "worker", Text: "kube-system/cilium on worker down: cilium-abc terminating, until cilium-def ready"},
		{Kind: report.EventPodReady, Start: at(3480), Node: "worker2", Text: "instant 10 ms after the gap"},
		{Kind: report.EventBGPDown, Start: at(4700), End: at(4990), Text: "BGP session with worker (10.80.0.2) down (active), until established again"},
		{Kind: report.EventStep, Start: at(7000), Text: "driver: preflight-ready"},
	}
	got := Attribute(gaps, events, 20*time.Millisecond)
	want := [][]string{
		{"kube-system/cilium on worker down: cilium-abc terminating, until cilium-def ready", "instant 10 ms after the gap"},
		{"BGP session with worker (10.80.0.2) down (active), until established again"},
		nil,
	}
	for i := range want {
		if strings.Join(got[i], "|") != strings.Join(want[i], "|") {
			t.Errorf("gap %d: causes %q, want %q", i, got[i], want[i])
		}
	}
	// Without tolerance the BGP drop (10 ms before the gap) is not a cause.
	if c := Attribute(gaps[1:2], events, 0); len(c[0]) != 0 {
		t.Errorf("with no tolerance the gap at 5.000 s is attributed to %q", c[0])
	}
}

func TestZeroBudgetIsTheDefaultNotAnythingGoes(t *testing.T) {
	total := MeterResult{Sent: 100, Lost: 100, LossPct: 100, LongestGapMS: 2000}
	err := Budget{}.Check("pair", total)
	if err == nil {
		t.Fatal("a zero Budget passed 100% loss")
	}
	if !strings.Contains(err.Error(), "exceeds the budget of 1.00%") {
		t.Fatalf("zero Budget did not apply the 1%% default: %v", err)
	}
	gap := MeterResult{Sent: 1000, Lost: 5, LossPct: 0.5, LongestGapMS: 2100}
	if err := (Budget{}).Check("pair", gap); err == nil || !strings.Contains(err.Error(), "exceeds the budget of 2s") {
		t.Fatalf("zero Budget did not apply the 2 s default to a 2.1 s gap: %v", err)
	}
	if err := (Budget{MaxGap: Unchecked, MaxLossPct: Unchecked}).Check("pair", total); err != nil {
		t.Fatalf("an explicitly unchecked budget failed: %v", err)
	}
	if b := (Budget{}).Effective(); b.MaxGap != DefaultMaxGap || b.MaxLossPct != DefaultMaxLossPct {
		t.Fatalf("Effective() of the zero Budget is %+v", b)
	}
	if err := (Budget{MaxGap: 5 * time.Second}).Check("pair", gap); err != nil {
		t.Fatalf("a set field is kept: %v", err)
	}
}

func pairResult(name string, start time.Time, sent, lost int, gaps ...Gap) PairDisruption {
	r := MeterResult{Target: "udp://x", Rate: 50, IntervalMS: 20, Started: start, Stopped: start.Add(time.Duration(sent) * 20 * time.Millisecond),
		Sent: sent, Lost: lost, Gaps: gaps}
	if sent > 0 {
		r.LossPct = 100 * float64(lost) / float64(sent)
	}
	for _, g := range gaps {
		r.LongestGapMS = max(r.LongestGapMS, g.MS)
	}
	return PairDisruption{Name: name, MeterResult: r}
}

func TestBuildTimelineAndJudgeWithBaseline(t *testing.T) {
	a, b := "disruption: echo-worker2-a (10.85.1.4) -> echo-worker-b (10.85.0.9)", "disruption: echo-worker-b (10.85.0.9) -> service/echo (10.96.0.20)"
	base := &DisruptionReport{Pairs: []PairDisruption{
		pairResult(a, at(-20000), 1000, 0),
		pairResult(b, at(-20000), 1000, 0),
	}}
	gap := Gap{Start: at(1000), End: at(3470), MS: 2470, Lost: 123}
	during := &DisruptionReport{Pairs: []PairDisruption{
		pairResult(a, at(0), 2409, 123, gap),
		pairResult(b, at(0), 2407, 0),
	}}
	events := []report.Event{
		{Kind: report.EventPodDown, Start: at(900), End: at(3600), Node: "worker", Text: "kube-system/cilium on worker down: cilium-abc terminating, until cilium-def ready"},
	}
	tl := BuildTimeline("1.16.19 -> 1.17.0", base, during, events)
	if len(tl.Pairs) != 2 || tl.Pairs[0].Baseline == nil || tl.Pairs[0].Baseline.Sent != 1000 {
		t.Fatalf("pairs not matched to their baseline: %+v", tl.Pairs)
	}
	if !tl.BaselineStart.Equal(at(-20000)) || !tl.Start.Equal(at(0)) || tl.IntervalMS != 20 {
		t.Fatalf("windows: baseline from %v, hop from %v, interval %v", tl.BaselineStart, tl.Start, tl.IntervalMS)
	}
	if c := tl.Pairs[0].Gaps[0].Causes; len(c) != 1 || !strings.Contains(c[0], "cilium on worker") {
		t.Fatalf("gap causes %q", c)
	}
	s := tl.Summary()
	if s.Sent != 4816 || s.Lost != 123 || s.LongestGapMs != 2470 || s.Baseline == nil || s.Baseline.Sent != 2000 || len(s.Pairs) != 2 {
		t.Fatalf("summary %+v", s)
	}
	if !strings.Contains(s.Worst, "while kube-system/cilium on worker down") {
		t.Fatalf("worst gap sentence: %q", s.Worst)
	}

	err := Budget{}.CheckHop(tl)
	if err == nil {
		t.Fatal("a 2.47 s gap passed the default budget")
	}
	msg := err.Error()
	for _, want := range []string{
		"during 1.16.19 -> 1.17.0",
		a + ": longest gap 2470 ms exceeds the budget of 2s and loss 5.11% exceeds the budget of 1.00% (123 of 2409 probes lost)",
		"baseline on this pair with nothing changing: loss 0.00% (0/1000), longest gap 0 ms",
		"gap 2.47 s on " + a + " at 15:00:01.000-15:00:03.470 while kube-system/cilium on worker down",
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("budget message lacks %q:\n%s", want, msg)
		}
	}
	if strings.Contains(msg, "service/echo") || strings.Contains(msg, "noisy") {
		t.Errorf("the pair within budget, or a noisy baseline, is named:\n%s", msg)
	}

	// A noisy environment: the baseline alone is over budget. Still a
	// failure, said to be the environment's.
	base.Pairs[0] = pairResult(a, at(-20000), 1000, 30, Gap{Start: at(-15000), End: at(-14400), MS: 600, Lost: 30})
	err = Budget{}.CheckHop(BuildTimeline("1.16.19 -> 1.17.0", base, during, events))
	if err == nil || !strings.Contains(err.Error(), "the environment alone is over budget") {
		t.Fatalf("a noisy baseline is not called out: %v", err)
	}
	// Without a baseline the message says so.
	err = Budget{}.CheckHop(BuildTimeline("hop", nil, during, nil))
	if err == nil || !strings.Contains(err.Error(), "no baseline measured") || !strings.Contains(err.Error(), "unattributed") {
		t.Fatalf("no baseline, no events: %v", err)
	}
	if strings.Contains(msg, "sockets dropped") {
		t.Errorf("no socket drops measured, yet said:\n%s", msg)
	}
	// The probe processes' sockets dropped some: the message says so, the
	// hop still fails on its loss.
	during.Pairs[0].EchoSocketDrops, during.Pairs[0].SocketDrops = 40, 2
	err = Budget{}.CheckHop(BuildTimeline("1.16.19 -> 1.17.0", base, during, events))
	if err == nil || !strings.Contains(err.Error(), "own sockets dropped 42 datagrams with a full buffer") {
		t.Fatalf("socket drops not said: %v", err)
	}
	during.Pairs[0].EchoSocketDrops, during.Pairs[0].SocketDrops = 0, 0
	// Within budget: nil.
	if err := (Budget{MaxGap: 3 * time.Second, MaxLossPct: 6}).CheckHop(tl); err != nil {
		t.Fatalf("within a wider budget: %v", err)
	}
}

func TestCheckDistributionOnMedianOrWorst(t *testing.T) {
	var hops []report.Disruption
	for _, g := range []float64{100, 150, 2600} { // one bad hop in three
		hops = append(hops, report.Disruption{Pairs: []report.PairFigures{{Pair: "p", Figures: report.Figures{LossPercent: g / 1000, LongestGapMs: g},
			Baseline: &report.Figures{}}}})
	}
	d := report.Distribute(hops)
	if err := (Budget{}).CheckDistribution(d, OnMedian); err != nil {
		t.Fatalf("median gap 150 ms failed: %v", err)
	}
	err := (Budget{}).CheckDistribution(d, OnWorst)
	if err == nil || !strings.Contains(err.Error(), "worst longest gap 2600 ms exceeds the budget of 2s") ||
		!strings.Contains(err.Error(), "p over 3 hops") || !strings.Contains(err.Error(), "baseline median/worst") {
		t.Fatalf("worst 2.6 s gap: %v", err)
	}
}
