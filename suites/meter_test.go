package suites

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/hybridcni/hybridcni/framework/report"
)

// Where the environment has no dataplane, measureHop only runs the upgrade,
// once, and returns its error wrapped (errors.Is holds), naming the hop.
func TestMeasureHopWithoutDataplaneRunsTheUpgradeAndReturnsItsError(t *testing.T) {
	w := &world{env: &Env{Lacking: map[Capability]string{Dataplane: "pods run no containers"}}}
	boom := errors.New("helm upgrade: timed out")
	calls := 0
	d, err := w.measureHop(context.Background(), "1.16.19 -> 1.17.0", func(context.Context) error { calls++; return boom })
	if calls != 1 || !errors.Is(err, boom) || !strings.Contains(err.Error(), "1.16.19 -> 1.17.0") {
		t.Fatalf("calls %d, err %v", calls, err)
	}
	if d.Hop != "1.16.19 -> 1.17.0" || d.Sent != 0 || len(d.Pairs) != 0 {
		t.Fatalf("summary %+v without a dataplane", d)
	}
	if _, err := w.measureHop(context.Background(), "hop", func(context.Context) error { return nil }); err != nil {
		t.Fatalf("a successful upgrade without a dataplane: %v", err)
	}
}

// Repeated hops come out as one disruption entry: the worst hop's figures,
// every hop's timeline, the upgrades' distribution.
func TestRepeatSummary(t *testing.T) {
	hop := func(name string, gap float64) report.Disruption {
		return report.Disruption{Hop: name, LongestGapMs: gap, Timelines: []string{"disruption/" + name + ".json"},
			Pairs: []report.PairFigures{{Pair: "p", Figures: report.Figures{LongestGapMs: gap}}}}
	}
	res := RepeatResult{Hops: []report.Disruption{hop("upgrade-1", 100), hop("rollback-1", 2500), hop("upgrade-2", 300)}}
	res.Upgrades = report.Distribute([]report.Disruption{res.Hops[0], res.Hops[2]})
	s := repeatSummary(res)
	if s.Hop != "rollback-1" || s.LongestGapMs != 2500 || len(s.Timelines) != 3 || s.Repeats == nil || s.Repeats.Pairs[0].LongestGapMs.Worst != 300 {
		t.Fatalf("%+v", s)
	}
}

// The probe pods ask for CAP_NET_ADMIN (their UDP receive buffers) only
// where the environment allows it: never on an existing cluster.
func TestProbePodsNetAdminOnlyWhereAllowed(t *testing.T) {
	for _, allowed := range []bool{true, false} {
		w := &world{env: &Env{EchoImage: "hybridcni/echo:test", ProbeNetAdmin: allowed}}
		sc := w.echoPodSpec("worker", "a").Spec.Containers[0].SecurityContext
		has := sc != nil && sc.Capabilities != nil && len(sc.Capabilities.Add) == 1 && sc.Capabilities.Add[0] == "NET_ADMIN"
		if has != allowed || (!allowed && sc != nil) {
			t.Errorf("ProbeNetAdmin %v: security context %+v", allowed, sc)
		}
	}
}
