package main

import (
	"slices"
	"strings"
	"testing"

	"github.com/spf13/cobra"

	"github.com/hybridcni/hybridcni/framework/chart/charttest"
	"github.com/hybridcni/hybridcni/framework/checks"
	"github.com/hybridcni/hybridcni/framework/cni"
	"github.com/hybridcni/hybridcni/framework/config"
	"github.com/hybridcni/hybridcni/framework/plan"
)

// TestPlanJSONIsStructured decodes `plan -o json` and checks its steps
// against the check catalogue and the upgrade planner, not against prose:
// every phase's checks step lists the catalogue's checks for that phase in
// order, with features and applies/skip reason; upgrade hops go from
// version to version along the planned path; findings are the profile's.
func TestPlanJSONIsStructured(t *testing.T) {
	dir := charttest.Dir(t)
	for _, args := range [][]string{
		{"--cni", "cilium", "--version", "1.16.18", "--upgrade-to", "1.17.18", "--bgp"},
		{"--cni", "calico", "--version", "v3.29.6", "--upgrade-to", "v3.30.7"},
		{"--cni", "cilium", "--version", "1.16.19"},
	} {
		args = append(args, "--chart-repo", dir)
		t.Run(strings.Join(args[:4], " "), func(t *testing.T) {
			p := planJSON(t, args...)
			run := runFromFlags(t, args)
			prof, err := cni.Lookup(run.CNI.Name)
			if err != nil {
				t.Fatal(err)
			}

			if len(p.Steps) < 5 || p.Steps[0].Kind != plan.KindCluster || p.Steps[len(p.Steps)-1].Kind != plan.KindTeardown {
				t.Fatalf("steps do not go from %s to %s: %+v", plan.KindCluster, plan.KindTeardown, p.Steps)
			}
			for i, s := range p.Steps {
				if s.Kind == "" || s.Phase == "" || s.Name == "" {
					t.Errorf("step %d has no kind, phase or name: %+v", i, s)
				}
			}

			// One checks step per phase that has checks, in the catalogue's order.
			subject := checks.SubjectOf(run)
			var want []checks.Phase
			for _, ph := range checks.Phases(run, p.UpgradePath) {
				if len(checks.For(subject, ph)) > 0 {
					want = append(want, ph)
				}
			}
			var got []plan.Step
			for _, s := range p.Steps {
				if s.Kind == plan.KindChecks {
					got = append(got, s)
				}
			}
			if len(got) != len(want) {
				t.Fatalf("%d checks steps, want one for each of %d phases", len(got), len(want))
			}
			applies := 0
			for i, ph := range want {
				s := got[i]
				if s.CheckPhase != ph.Name || s.Version != ph.Version {
					t.Errorf("checks step %d is phase %s at %q, want %s at %q", i, s.CheckPhase, s.Version, ph.Name, ph.Version)
				}
				entries := checks.For(subject, ph)
				if len(s.Checks) != len(entries) {
					t.Errorf("phase %s: %d checks, the catalogue has %d", ph.Name, len(s.Checks), len(entries))
					continue
				}
				for j, e := range entries {
					c := s.Checks[j]
					if c.Name != e.Check.Name() || !slices.Equal(c.Features, e.Check.FeatureLabels()) {
						t.Errorf("phase %s check %d: %s %v, want %s %v", ph.Name, j, c.Name, c.Features, e.Check.Name(), e.Check.FeatureLabels())
					}
					if c.Applies != (e.Skip == "") || c.SkipReason != e.Skip {
						t.Errorf("phase %s %s: applies %t (%q), want skip reason %q", ph.Name, c.Name, c.Applies, c.SkipReason, e.Skip)
					}
					if c.Applies {
						applies++
					}
				}
			}
			if applies == 0 {
				t.Error("no check applies to the run: the plan would check nothing")
			}

			// Install to the version; hops along the path; rollback back to it.
			var hopsSeen []string
			from := p.Version
			for _, s := range p.Steps {
				switch s.Kind {
				case plan.KindInstall:
					if s.To != p.Version {
						t.Errorf("install to %q, want %s", s.To, p.Version)
					}
				case plan.KindUpgrade:
					if s.To != from && !slices.Contains(hopsSeen, s.To) {
						if s.From != from {
							t.Errorf("hop to %s starts at %q, want %s", s.To, s.From, from)
						}
						hopsSeen = append(hopsSeen, s.To)
						from = s.To
					}
				case plan.KindFindings:
					f, ok := prof.(plan.UpgradeFinder)
					if !ok {
						t.Errorf("findings step for %s, whose profile has no findings", prof.Name())
					} else if w := f.UpgradeFindings(run, s.From, s.To); !slices.Equal(s.Findings, w) || len(w) == 0 {
						t.Errorf("findings %s -> %s: %q, want the profile's %q", s.From, s.To, s.Findings, w)
					}
				case plan.KindRollback:
					if s.To != p.Version || s.From != from {
						t.Errorf("rollback %s -> %s, want %s -> %s", s.From, s.To, from, p.Version)
					}
				}
			}
			if !slices.Equal(hopsSeen, p.UpgradePath) {
				t.Errorf("upgrade steps go through %v, the planner's path is %v", hopsSeen, p.UpgradePath)
			}
		})
	}
}

// runFromFlags is the run the plan command builds from args.
func runFromFlags(t *testing.T, args []string) config.Run {
	t.Helper()
	cmd := &cobra.Command{Use: "plan"}
	flags := addRunFlags(cmd).withUpgradeTo()
	if err := cmd.ParseFlags(args); err != nil {
		t.Fatal(err)
	}
	run, err := flags.run()
	if err != nil {
		t.Fatal(err)
	}
	return run
}
