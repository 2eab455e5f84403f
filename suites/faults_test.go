package suites

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/onsi/ginkgo/v2"
	"github.com/onsi/ginkgo/v2/types"
)

// With faults on, "faults-before-cni" follows before-cni, "faults" follows
// install and "faults-after-delete" follows delete; each fault is inject, its checks must fail, heal, its
// checks pass again, labelled with the phase, the fault and the check.
func TestFaultPhasesLayout(t *testing.T) {
	l := planRun(upgradeRun(t), []string{"1.16.19", "1.17.18"}, nil, nil)
	planFaults(l, nil)
	var names []string
	for _, p := range l.phases {
		names = append(names, p.Name)
	}
	want := []string{"before-cni", FaultsBeforeCNIPhase, "install", FaultsPhase, "upgrade-1", "upgrade-2", "rollback", "delete", FaultsAfterDeletePhase}
	if !slices.Equal(names, want) {
		t.Fatalf("phases %v, want %v", names, want)
	}
	var titles []string
	for _, s := range l.specs[FaultsPhase] {
		titles = append(titles, s.title)
		for _, lb := range s.labels {
			if _, err := types.ValidateAndCleanupLabel(lb, types.CodeLocation{}); err != nil {
				t.Errorf("label %q: %v", lb, err)
			}
		}
		if !slices.Contains(s.labels, "phase:faults") || !slices.Contains(s.labels, "version:1.16.18") {
			t.Errorf("%q labels %v", s.title, s.labels)
		}
		if !s.step && !slices.Contains(s.labels, "check:"+s.entry.Check.Label()) {
			t.Errorf("%q labels %v, want its check", s.title, s.labels)
		}
	}
	seq := []string{
		"fault: agent-affinity-removed: inject",
		"fault: agent-affinity-removed: placement fails",
		"fault: agent-affinity-removed: heal",
		"fault: agent-affinity-removed: healed: placement: an agent on every hybrid node and none on cloud nodes",
	}
	if i := slices.Index(titles, seq[0]); i < 0 || !slices.Equal(titles[i:i+4], seq) {
		t.Errorf("fault phase specs:\n%s", strings.Join(titles, "\n"))
	}
	var del []string
	for _, s := range l.specs[FaultsAfterDeletePhase] {
		del = append(del, s.title)
	}
	if !slices.Contains(del, "fault: crd-recreated: cleanup/crds fails") || !slices.Contains(del, "fault: cni-file-left: cleanup/nodes fails") {
		t.Errorf("after-delete fault specs:\n%s", strings.Join(del, "\n"))
	}
	for _, s := range l.specs[FaultsAfterDeletePhase] {
		if !s.step && s.entry.Phase.Name != "delete" {
			t.Errorf("%q runs its check as phase %q, want delete", s.title, s.entry.Phase.Name)
		}
	}
}

// A label filter selects faults by their must-fail specs; without faults
// the layout has no fault phase.
func TestFaultPhasesFilter(t *testing.T) {
	f, err := types.ParseLabelFilter("fault:crd-recreated")
	if err != nil {
		t.Fatal(err)
	}
	l := planRun(upgradeRun(t), nil, nil, f)
	if l.matched != 0 {
		t.Fatalf("the filter selects %d checks without faults", l.matched)
	}
	planFaults(l, f)
	if l.matched != 1 || len(l.specs[FaultsPhase]) != 0 || len(l.specs[FaultsAfterDeletePhase]) != 4 {
		t.Errorf("matched %d, faults %d specs, after delete %d specs", l.matched, len(l.specs[FaultsPhase]), len(l.specs[FaultsAfterDeletePhase]))
	}
	plain := planRun(upgradeRun(t), nil, nil, nil)
	for _, p := range plain.phases {
		if strings.HasPrefix(p.Name, "faults") {
			t.Errorf("phase %s without Options.Faults", p.Name)
		}
	}
}

func TestContainsAny(t *testing.T) {
	if !containsAny("hybrid node hybrid-1 has no cilium pod", []string{"", "hybrid-1"}) || containsAny("x", []string{""}) {
		t.Error("containsAny")
	}
}

// The fault phase after install runs a since-install check (ipam/unchanged)
// as the fault phase itself, so its failure reads "between install and
// faults", against the install's snapshot; the other checks run as install.
func TestFaultPhaseJudgesSinceInstallChecks(t *testing.T) {
	l := planRun(upgradeRun(t), []string{"1.16.19"}, nil, nil)
	planFaults(l, nil)
	found := false
	for _, s := range l.specs[FaultsPhase] {
		if s.step {
			continue
		}
		want := "install"
		if s.entry.Check.Name() == "ipam/unchanged" {
			found, want = true, FaultsPhase
			if s.entry.Phase.Version != "1.16.18" || s.entry.Skip != "" {
				t.Errorf("%q: phase %+v, skip %q", s.title, s.entry.Phase, s.entry.Skip)
			}
		}
		if s.entry.Phase.Name != want {
			t.Errorf("%q runs its check as phase %q, want %s", s.title, s.entry.Phase.Name, want)
		}
	}
	if !found {
		t.Error("no fault phase spec runs ipam/unchanged (fault ipam-setting-changed)")
	}
}

// Under a held fault a check waits a multiple of its own pass in this run
// (at least faultWaitFloor), not its whole timeout; what the pass waited by
// design (readiness's settle window) counts once, not twice; a check
// that never passed in this run keeps its own timeouts. The bound reaches
// the body's context.
func TestFaultWaitFollowsTheCheckPass(t *testing.T) {
	w := &world{}
	if d, said := w.faultWait("bgp/sessions"); d != 0 || said != "own timeouts" {
		t.Errorf("no pass recorded: bound %s (%q), want none", d, said)
	}
	w.tookToPass("bgp/sessions", 1*time.Second, 0)
	w.tookToPass("bgp/graceful-restart", 50*time.Second, 0)
	w.tookToPass("bgp/graceful-restart", 30*time.Second, 0) // the slowest pass counts
	// The settle window is waited again under the fault, once.
	w.tookToPass("readiness/nodes-ready", 10100*time.Millisecond, 10*time.Second)
	w.tookToPass("readiness/nodes-ready", 18*time.Second, 10*time.Second)
	// A wait by design that is not waited again is no part of the pass.
	w.once = 10 * time.Second
	w.tookToPass("bgp/services", 11200*time.Millisecond-w.once, 0)
	w.tookToPass("bgp/services", 1500*time.Millisecond, 0)
	for check, want := range map[string]struct {
		d    time.Duration
		said string
	}{
		"bgp/sessions":          {faultWaitFloor, "5s (floor; pass 1s)"},
		"bgp/graceful-restart":  {100 * time.Second, "1m40s (2 × 50s pass)"},
		"readiness/nodes-ready": {26 * time.Second, "26s (10s by design + 2 × 8s)"},
		"bgp/services":          {faultWaitFloor, "5s (floor; pass 1.5s)"},
	} {
		if d, said := w.faultWait(check); d != want.d || said != want.said {
			t.Errorf("%s: bound %s (%q), want %s (%q)", check, d, said, want.d, want.said)
		}
	}
	c, cancel := context.WithTimeout(context.Background(), time.Millisecond)
	defer cancel()
	var sc ginkgo.SpecContext = boundedSpec{nil, c}
	<-sc.Done()
	if _, ok := sc.Deadline(); !ok || !errors.Is(sc.Err(), context.DeadlineExceeded) {
		t.Errorf("bounded context: deadline %v, err %v", ok, sc.Err())
	}
}
