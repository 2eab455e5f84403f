package probe_test

import (
	"context"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hybridcni/hybridcni/framework/probe"
	"github.com/hybridcni/hybridcni/framework/report"
	"github.com/hybridcni/hybridcni/framework/timeline"
)

// dropRule drops pod a's UDP probes to x at a's own OUTPUT chain: an outage
// of one pair only, in a namespace this test made.
func dropRule(op string, a, x *labPod) []string {
	return []string{op, "OUTPUT", "-p", "udp", "-d", x.ip, "--dport", "9000", "-j", "DROP"}
}

// TestLabTimelinePlacesAndAttributesAScriptedOutage: a quiet lab's baseline
// loses nothing; an outage of known start and length on one pair (an
// iptables DROP in the client's namespace) lands on the timeline within one
// probe interval of the injected window, attributed to the event injected
// at the same time, and the budget message names it beside the baseline.
func TestLabTimelinePlacesAndAttributesAScriptedOutage(t *testing.T) {
	c := newCluster(t, clusterOpts{masquerade: true})
	a, b, x := c.nodes[0].pods[0], c.nodes[0].pods[1], c.nodes[1].pods[0]
	outagePair := probe.MeterPair{From: a.source(), To: probe.UDPTarget(x.name, x.ip, udpPort)}
	pairs := []probe.MeterPair{
		outagePair,
		{From: x.source(), To: probe.UDPTarget(b.name, b.ip, udpPort)}, // never touched
	}

	// The baseline: nothing changing.
	m := startMeter(t, pairs)
	time.Sleep(2 * time.Second)
	base := stopMeter(t, m)
	for _, p := range base.Pairs {
		if p.Lost != 0 || p.Sent < 80 {
			t.Errorf("baseline %s: sent %d lost %d on a quiet lab, want ~100 sent and none lost", p.Name, p.Sent, p.Lost)
		}
	}

	// The hop: a scripted outage of 700 ms, injected as an event.
	rec := timeline.NewRecorder()
	m = startMeter(t, pairs)
	time.Sleep(300 * time.Millisecond)
	insStart := time.Now()
	iptables(t, a.ns, dropRule("-I", a, x)...)
	insEnd := time.Now()
	time.Sleep(700 * time.Millisecond)
	delStart := time.Now()
	iptables(t, a.ns, dropRule("-D", a, x)...)
	delEnd := time.Now()
	rec.Add(report.Event{Kind: report.EventInjected, Start: insStart, End: delEnd, Node: "node1", Subject: a.name,
		Text: "iptables DROP of " + a.name + " -> " + x.name})
	// Something else, well before the outage: not a cause.
	rec.Add(report.Event{Kind: report.EventPodReady, Start: insStart.Add(-250 * time.Millisecond), Node: "node2", Text: "an unrelated pod turned ready"})
	time.Sleep(300 * time.Millisecond)
	during := stopMeter(t, m)

	tl := probe.BuildTimeline("scripted outage", base, during, rec.Events())
	path := filepath.Join(t.TempDir(), "timeline.json")
	must(t, report.WriteTimeline(path, tl))
	tl, err := report.ReadTimeline(path)
	must(t, err)

	var hit, quiet *report.TimelinePair
	for i := range tl.Pairs {
		switch tl.Pairs[i].Pair {
		case outagePair.Name():
			hit = &tl.Pairs[i]
		default:
			quiet = &tl.Pairs[i]
		}
	}
	if hit == nil || quiet == nil {
		t.Fatalf("pairs on the timeline: %+v", tl.Pairs)
	}
	if len(quiet.Gaps) != 0 {
		t.Errorf("%s: gaps %+v, but nothing touched it", quiet.Pair, quiet.Gaps)
	}
	if hit.Baseline == nil || hit.Baseline.Lost != 0 {
		t.Errorf("%s: baseline %+v beside the hop, want 0 lost", hit.Pair, hit.Baseline)
	}
	if len(hit.Gaps) != 1 {
		t.Fatalf("%s: %d gaps, want exactly the outage: %+v", hit.Pair, len(hit.Gaps), hit.Gaps)
	}
	g := hit.Gaps[0]
	// The rule takes effect during the insert command and goes during the
	// delete: the gap's edges are each the send time of a probe, so within
	// one probe interval after those commands (plus the meter's own
	// lateness on a loaded machine).
	var late time.Duration
	for _, p := range during.Pairs {
		late = max(late, time.Duration(p.MaxLateMS*float64(time.Millisecond)))
	}
	slack := meterInterval + late
	t.Logf("insert %s-%s, delete %s-%s, gap %s-%s (%.0f ms), interval %v, meter late up to %v",
		insStart.Format("15:04:05.000"), insEnd.Format("15:04:05.000"), delStart.Format("15:04:05.000"), delEnd.Format("15:04:05.000"),
		g.Start.Format("15:04:05.000"), g.End.Format("15:04:05.000"), g.MS, meterInterval, late)
	if g.Start.Before(insStart) || g.Start.After(insEnd.Add(slack)) {
		t.Errorf("gap starts at %s, want within one interval of the insert (%s-%s, slack %v)", g.Start.Format("15:04:05.000"),
			insStart.Format("15:04:05.000"), insEnd.Format("15:04:05.000"), slack)
	}
	if g.End.Before(delStart) || g.End.After(delEnd.Add(slack)) {
		t.Errorf("gap ends at %s, want within one interval of the delete (%s-%s, slack %v)", g.End.Format("15:04:05.000"),
			delStart.Format("15:04:05.000"), delEnd.Format("15:04:05.000"), slack)
	}
	if len(g.Causes) != 1 || g.Causes[0] != "iptables DROP of "+a.name+" -> "+x.name {
		t.Errorf("gap causes %q, want only the injected DROP", g.Causes)
	}

	err = probe.Budget{MaxGap: 500 * time.Millisecond}.CheckHop(tl)
	if err == nil {
		t.Fatalf("a %.0f ms gap passed a 500 ms budget", g.MS)
	}
	for _, want := range []string{outagePair.Name() + ": longest gap", "baseline on this pair with nothing changing: loss 0.00%", "while iptables DROP of " + a.name} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("budget message lacks %q:\n%v", want, err)
		}
	}
	if svg := string(tl.SVG()); !strings.Contains(svg, `class="gap"`) || !strings.Contains(svg, "iptables DROP") {
		t.Errorf("the picture lacks the gap or the injected event")
	}
}

// BenchmarkMeterOverheadOnHop: what the meter's probe load costs the
// operation it measures. The lab "hop" is 20 iptables rule changes in a node
// namespace (exec-heavy, like a CNI agent's start-up); each op runs it with
// no meter, then with the meter on 4 pairs at 50 probes/s. Reports both
// times and the meter processes' CPU per second of metering.
func BenchmarkMeterOverheadOnHop(b *testing.B) {
	c := newCluster(b, clusterOpts{masquerade: true})
	n1 := c.nodes[0]
	a, p, x, y := n1.pods[0], n1.pods[1], c.nodes[1].pods[0], c.nodes[1].pods[1]
	pairs := []probe.MeterPair{
		{From: a.source(), To: probe.UDPTarget(x.name, x.ip, udpPort)},
		{From: x.source(), To: probe.UDPTarget(a.name, a.ip, udpPort)},
		{From: p.source(), To: probe.UDPTarget(y.name, y.ip, udpPort)},
		{From: y.source(), To: probe.UDPTarget(p.name, p.ip, udpPort)},
	}
	hop := func() time.Duration {
		start := time.Now()
		for i := 0; i < 10; i++ {
			iptables(b, n1.ns, "-A", "FORWARD", "-s", "10.99.99.99", "-j", "ACCEPT")
			iptables(b, n1.ns, "-D", "FORWARD", "-s", "10.99.99.99", "-j", "ACCEPT")
		}
		return time.Since(start)
	}
	var off, on, cpu []float64
	for b.Loop() {
		off = append(off, float64(hop().Microseconds())/1000)
		before := childCPU()
		m, err := probe.StartMeter(context.Background(), pairs)
		must(b, err)
		started := time.Now()
		on = append(on, float64(hop().Microseconds())/1000)
		rep, err := m.Stop()
		must(b, err)
		metered := time.Since(started)
		cpu = append(cpu, float64((childCPU()-before).Milliseconds())/metered.Seconds())
		for _, r := range rep.Pairs {
			if r.Lost != 0 {
				b.Logf("%s lost %d of %d during the benchmark's hop", r.Name, r.Lost, r.Sent)
			}
		}
	}
	b.ReportMetric(median(off), "hop-ms-no-meter")
	b.ReportMetric(median(on), "hop-ms-with-meter")
	b.ReportMetric(median(cpu), "meter-cpu-ms/s")
}

// childCPU is the CPU time of this process's finished children (the meter
// processes, once stopped).
func childCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_CHILDREN, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
