package main

import (
	"context"
	"encoding/json"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/hybridcni/hybridcni/framework/chart"
	"github.com/hybridcni/hybridcni/framework/chart/charttest"
	"github.com/hybridcni/hybridcni/framework/plan"
	"github.com/hybridcni/hybridcni/framework/versions"
)

func planJSON(t testing.TB, args ...string) plan.Plan {
	t.Helper()
	code, out, errOut := run(t, append([]string{"plan", "-o", "json"}, args...)...)
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var p plan.Plan
	if err := json.Unmarshal([]byte(out), &p); err != nil {
		t.Fatalf("%v:\n%s", err, out)
	}
	return p
}

// Upgrade plans on the real index: from the oldest to the newest version of
// each chart, the hops follow the rule whatever versions the source holds.
func TestPlanUpgradeOnTheRealIndex(t *testing.T) {
	dir := charttest.Dir(t)
	src, err := chart.NewSource(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ cni, chart, phase string }{
		{"cilium", "cilium", "pre-flight"}, {"calico", "tigera-operator", "operator CRDs"},
	} {
		vs, err := src.Versions(context.Background(), c.chart)
		if err != nil {
			t.Fatal(err)
		}
		// The newest version reachable one minor at a time (the source may
		// skip a minor: tigera-operator has no 3.31).
		from := vs[0]
		var to string
		var want []string
		for i := len(vs) - 1; i > 0 && to == ""; i-- {
			if hops, err := plan.UpgradePath(from, vs[i], vs); err == nil {
				to, want = vs[i], hops
			}
		}
		if to == "" {
			t.Skipf("%s has no version reachable from %s in %s", c.chart, from, dir)
		}
		p := planJSON(t, "--cni", c.cni, "--chart-repo", dir, "--version", strings.TrimPrefix(from, "v"), "--upgrade-to", to, "--bgp")
		if !slices.Equal(p.UpgradePath, want) || p.Version != from {
			t.Errorf("%s: plan %s -> %v, want %s -> %v", c.cni, p.Version, p.UpgradePath, from, want)
		}
		// Every hop is listed with its CNI-specific first step, then the upgrade.
		var names []string
		for _, s := range p.Steps {
			names = append(names, s.Name)
		}
		all := strings.Join(names, "\n")
		for _, hop := range want {
			first, up := strings.Index(all, c.phase+" "+"of "+hop), strings.Index(all, "upgrade to "+hop)
			if c.cni == "cilium" {
				first = strings.Index(all, "pre-flight for "+hop)
			}
			if first < 0 || up < 0 || first > up {
				t.Errorf("%s hop %s: %q at %d, upgrade at %d", c.cni, hop, c.phase, first, up)
			}
		}
		// Same-minor plan: a single hop to the newest patch of the minor.
		sv := versions.Parse(vs)[0]
		if newest, ok := versions.NewestPatch(vs, sv.Major(), sv.Minor()); ok && newest != from {
			p := planJSON(t, "--cni", c.cni, "--chart-repo", dir, "--version", from, "--upgrade-to", newest)
			if !slices.Equal(p.UpgradePath, []string{newest}) {
				t.Errorf("%s same minor %s -> %s: hops %v", c.cni, from, newest, p.UpgradePath)
			}
		}
	}
}

func TestPlanText(t *testing.T) {
	dir := charttest.Dir(t)
	code, out, errOut := run(t, "plan", "--chart-repo", dir, "--cni", "calico", "--hybrid-nodes", "3", "--cloud-nodes", "1")
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	for _, s := range []string{"topology", "3 hybrid node(s)", "1 cloud node(s)", "helm install release calico in namespace kube-system",
		"helm uninstall calico -n kube-system", "calico or tigera"} {
		if !strings.Contains(out, s) {
			t.Errorf("plan lacks %q:\n%s", s, out)
		}
	}
}

func TestPlanInvalidInputExits2(t *testing.T) {
	dir := charttest.Dir(t)
	cases := []struct {
		name  string
		args  []string
		field string
	}{
		{"target older", []string{"--version", "1.17.18", "--upgrade-to", "1.16.19"}, "cni.upgradeTo"},
		{"target not in source", []string{"--upgrade-to", "1.99.0"}, "cni.upgradeTo"},
		{"version not in source", []string{"--version", "1.10.0"}, "cni.version"},
		{"bad output", []string{"--output", "yaml"}, "--output"},
		{"wrong chart for the CNI", []string{"--chart-repo", calicoArchive(t, dir)}, "cni.chartSource"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			args := append([]string{"plan", "--chart-repo", dir}, c.args...)
			code, _, errOut := run(t, args...)
			if code != exitInvalid || !strings.Contains(errOut, c.field) {
				t.Errorf("exit %d, stderr %q: want exit 2 naming %s", code, errOut, c.field)
			}
		})
	}
	if code, _, _ := run(t, "plan", "--chart-repo", "http://127.0.0.1:1/"); code != exitFailure {
		t.Errorf("unreachable repository exits %d, want 1", code)
	}
}

func BenchmarkPlan(b *testing.B) {
	dir, reason := charttest.Find()
	if dir == "" {
		b.Skip("real charts not found: " + reason)
	}
	src, err := chart.NewSource(dir)
	if err != nil {
		b.Fatal(err)
	}
	for _, c := range []struct{ cni, chart string }{{"cilium", "cilium"}, {"calico", "tigera-operator"}} {
		vs, err := src.Versions(context.Background(), c.chart)
		if err != nil || len(vs) == 0 {
			b.Fatalf("%s: %v %v", c.chart, vs, err)
		}
		args := []string{"plan", "--chart-repo", dir, "--cni", c.cni, "--version", vs[0]}
		name := c.cni + "-" + vs[0]
		if len(vs) > 1 {
			args = append(args, "--upgrade-to", vs[len(vs)-1])
			name += "-to-" + vs[len(vs)-1]
		}
		b.Run(name, func(b *testing.B) {
			for range b.N {
				if code, _, errOut := run(b, args...); code != exitOK {
					b.Fatalf("exit %d: %s", code, errOut)
				}
			}
		})
	}
}

// calicoArchive is the path of one tigera-operator archive of the source.
func calicoArchive(t *testing.T, dir string) string {
	t.Helper()
	matches, _ := filepath.Glob(filepath.Join(dir, "tigera-operator-*.tgz"))
	if len(matches) == 0 {
		t.Skip("no tigera-operator archive in " + dir)
	}
	return matches[0]
}
