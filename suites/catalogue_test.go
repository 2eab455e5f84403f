package suites

import (
	"context"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/onsi/ginkgo/v2/types"

	"github.com/hybridcni/hybridcni/framework/chart/charttest"
	"github.com/hybridcni/hybridcni/framework/checks"
	"github.com/hybridcni/hybridcni/framework/cni"
	"github.com/hybridcni/hybridcni/framework/config"
	"github.com/hybridcni/hybridcni/framework/plan"
)

// Every catalogue check has a body here, and every body a declaration.
func TestEveryCheckHasABody(t *testing.T) {
	seen := map[string]bool{}
	for _, c := range checks.Catalogue() {
		if seen[c.Name()] {
			t.Errorf("check %s declared twice", c.Name())
		}
		seen[c.Name()] = true
		if bodies[c.Name()] == nil {
			t.Errorf("check %s has no body in suites (bodies)", c.Name())
		}
		if len(c.FeatureLabels()) == 0 {
			t.Errorf("check %s counts for no feature row", c.Name())
		}
	}
	for name := range bodies {
		if !seen[name] {
			t.Errorf("body %s is not in the catalogue (framework/checks)", name)
		}
	}
}

func upgradeRun(t *testing.T) config.Run {
	t.Helper()
	r := config.Default()
	r.CNI = config.CNI{Name: config.Cilium, Version: "1.16.18", UpgradeTo: "1.17.18", ChartSource: "unused"}
	r.Nodes = config.Nodes{Hybrid: 2, Cloud: 1}
	r.BGP.Enabled = true
	r.Network.Masquerade = false
	r.Complete()
	return r
}

// The checks of every version run after install, after each hop and
// after rollback, each labelled with that phase and version.
func TestEveryVersionIsChecked(t *testing.T) {
	l := planRun(upgradeRun(t), []string{"1.16.19", "1.17.18"}, nil, nil)
	var names []string
	for _, p := range l.phases {
		names = append(names, p.Name)
	}
	if want := []string{"before-cni", "install", "upgrade-1", "upgrade-2", "rollback", "delete"}; !slices.Equal(names, want) {
		t.Fatalf("phases %v, want %v", names, want)
	}
	want := map[string]string{"install": "1.16.18", "upgrade-1": "1.16.19", "upgrade-2": "1.17.18", "rollback": "1.16.18"}
	for phase, version := range want {
		got := map[string]bool{}
		for _, s := range l.specs[phase] {
			if s.step {
				continue
			}
			got[s.entry.Check.Name()] = true
			if !slices.Contains(s.labels, "version:"+version) || !slices.Contains(s.labels, "phase:"+phase) {
				t.Errorf("%s %q labels %v, want version:%s and phase:%s", phase, s.title, s.labels, version, phase)
			}
			for _, l := range s.labels {
				if _, err := types.ValidateAndCleanupLabel(l, types.CodeLocation{}); err != nil {
					t.Errorf("label %q is not a valid Ginkgo label: %v", l, err)
				}
			}
		}
		for _, c := range checks.Catalogue() {
			if c.Stages()&checks.EveryVersion == checks.EveryVersion && !got[c.Name()] {
				t.Errorf("phase %s lacks check %s", phase, c.Name())
			}
		}
		if phase != "install" && !got["ipam/unchanged"] {
			t.Errorf("phase %s does not compare IPAM with install", phase)
		}
	}
	if steps := stepTitles(l, "upgrade-2"); len(steps) != 1 || !strings.Contains(steps[0], "hop 2 to 1.17.18") {
		t.Errorf("upgrade-2 steps %v", steps)
	}
}

func stepTitles(l *layout, phase string) []string {
	var out []string
	for _, s := range l.specs[phase] {
		if s.step {
			out = append(out, s.title)
		}
	}
	return out
}

// A filter selects checks, never the lifecycle steps the checks depend on.
func TestFilterKeepsTheLifecycle(t *testing.T) {
	f, err := types.ParseLabelFilter("feature:bgp && version:1.17.18")
	if err != nil {
		t.Fatal(err)
	}
	l := planRun(upgradeRun(t), []string{"1.16.19", "1.17.18"}, nil, f)
	if l.matched == 0 {
		t.Fatal("the filter selected nothing")
	}
	for _, p := range l.phases {
		for _, s := range l.specs[p.Name] {
			if !s.step && (p.Name != "upgrade-2" || !slices.Contains(s.entry.Check.FeatureLabels(), checks.BGP)) {
				t.Errorf("%s: %q is not selected by the filter", p.Name, s.title)
			}
		}
	}
	for _, phase := range []string{"install", "upgrade-1", "upgrade-2", "rollback", "delete"} {
		if len(stepTitles(l, phase)) == 0 {
			t.Errorf("phase %s lost its lifecycle step to the filter", phase)
		}
	}
}

// A filter that selects no check, or does not parse, is bad input on
// --label-filter, found before anything is created.
func TestFilterErrors(t *testing.T) {
	charts, why := charttest.Find()
	if charts == "" {
		t.Skip("unit tier: skipped: real charts not found: " + why)
	}
	r := upgradeRun(t)
	r.CNI.ChartSource = charts
	for _, filter := range []string{"feature:nothing-like-this", "feature:bgp &&", "version:9.9.9"} {
		_, err := Layout(context.Background(), Options{Runs: []config.Run{r}, LabelFilter: filter})
		if err == nil {
			t.Errorf("filter %q: no error", filter)
			continue
		}
		if got := config.Fields(err); !slices.Equal(got, []string{"--label-filter"}) {
			t.Errorf("filter %q: %v names %v, want --label-filter", filter, err, got)
		}
	}
	if _, err := Layout(context.Background(), Options{Runs: []config.Run{r}, LabelFilter: "feature:bgp"}); err != nil {
		t.Errorf("feature:bgp: %v", err)
	}
	r.CNI.Version = "9.9.9"
	if _, err := Layout(context.Background(), Options{Runs: []config.Run{r}}); err == nil || !strings.Contains(err.Error(), "9.9.9") {
		t.Errorf("a version the chart source lacks: %v", err)
	}
}

// plan, the dry-run listing and the suites come from one catalogue: they
// list the same checks, phase by phase.
func TestPlanListingAndSuitesAgree(t *testing.T) {
	charts, why := charttest.Find()
	if charts == "" {
		t.Skip("unit tier: skipped: real charts not found: " + why)
	}
	r := upgradeRun(t)
	r.CNI.ChartSource = charts
	layouts, err := Layout(context.Background(), Options{Runs: []config.Run{r}})
	if err != nil {
		t.Fatal(err)
	}
	l := layouts[0]
	p, _ := cni.Lookup(r.CNI.Name)
	pl, err := plan.Build(r, p, append(l.hops, r.CNI.Version))
	if err != nil {
		t.Fatal(err)
	}
	var listing strings.Builder
	if err := writeListing(&listing, &listing, layouts); err != nil {
		t.Fatal(err)
	}
	for _, ph := range l.phases {
		var planned []string
		for _, s := range pl.Steps {
			if s.Phase == plan.PhaseCheck && strings.HasPrefix(s.Name, "checks "+ph.Name) {
				for _, d := range s.Details {
					planned = append(planned, strings.SplitN(d, " (skips: ", 2)[0])
				}
			}
		}
		var defined []string
		for _, s := range l.specs[ph.Name] {
			if !s.step {
				defined = append(defined, s.title)
				if !regexp.MustCompile(`(?m) check  +` + regexp.QuoteMeta(s.title) + `$`).MatchString(listing.String()) {
					t.Errorf("the dry-run listing lacks %s: %q", ph.Name, s.title)
				}
			}
		}
		if !slices.Equal(planned, defined) {
			t.Errorf("phase %s: plan lists %q, the suites define %q", ph.Name, planned, defined)
		}
	}
	if !strings.Contains(listing.String(), "DRY RUN: nothing was created and nothing ran") {
		t.Error("the listing does not say it is a dry run")
	}
}
