package cni_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/Masterminds/semver/v3"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/hybridcni/hybridcni/framework/chart"
	"github.com/hybridcni/hybridcni/framework/chart/charttest"
	"github.com/hybridcni/hybridcni/framework/cni"
	"github.com/hybridcni/hybridcni/framework/cni/calico"
	"github.com/hybridcni/hybridcni/framework/cni/cilium"
	"github.com/hybridcni/hybridcni/framework/config"
)

type checkFunc func([]*unstructured.Unstructured, config.Run) error

var checks = map[string]checkFunc{
	config.Cilium: cilium.CheckRendered,
	config.Calico: calico.CheckRendered,
}

// runFor is a valid run of profile p at version, on a non-default address
// plan so the values visibly come from the run.
func runFor(t testing.TB, p cni.Profile, source, version string, bgp, masq bool) config.Run {
	t.Helper()
	r := config.Default()
	r.CNI = config.CNI{Name: p.Name(), Version: version, ChartSource: source}
	r.Network.PodCIDR = "10.123.0.0/16"
	r.Network.BlockSize = 26
	r.Network.Masquerade = masq
	r.Network.AllowUnroutablePods = !masq && !bgp
	r.BGP.Enabled = bgp
	r.Complete()
	if err := r.Validate(); err != nil {
		t.Fatal(err)
	}
	return r
}

func render(t testing.TB, c *chart.Chart, p cni.Profile, run config.Run) []*unstructured.Unstructured {
	t.Helper()
	vals, err := chart.MergeValuesFiles(p.Values(run), run.CNI.ValuesFiles)
	if err != nil {
		t.Fatal(err)
	}
	objs, err := chart.Render(context.Background(), c, vals, chart.RenderOptions{
		ReleaseName: p.ReleaseName(), Namespace: p.Namespace(), KubeVersion: run.Kubernetes.Version,
	})
	if err != nil {
		t.Fatal(err)
	}
	return objs
}

func profiles() []cni.Profile { return []cni.Profile{cilium.New(), calico.New()} }

// Every chart version in the shared source, both CNIs, BGP on/off, masquerading on/off.
func TestRealChartsRenderTheHybridProfile(t *testing.T) {
	dir := charttest.Dir(t)
	src, err := chart.NewSource(dir)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, p := range profiles() {
		vs, err := src.Versions(ctx, p.ChartName())
		if err != nil {
			t.Fatal(err)
		}
		if len(vs) == 0 {
			t.Fatalf("no %s charts in %s", p.ChartName(), dir)
		}
		for _, v := range vs {
			c, err := src.Load(ctx, p.ChartName(), v)
			if err != nil {
				t.Fatal(err)
			}
			for _, bgp := range []bool{false, true} {
				for _, masq := range []bool{true, false} {
					name := fmt.Sprintf("%s/%s/bgp=%t,masquerade=%t", p.Name(), v, bgp, masq)
					t.Run(name, func(t *testing.T) {
						run := runFor(t, p, dir, v, bgp, masq)
						objs := render(t, c, p, run)
						check := checks[p.Name()]
						if err := check(objs, run); err != nil {
							t.Fatalf("rendered chart does not match the run:\n%v", err)
						}
						// The same objects must fail a run that asks for the opposite.
						flip := run
						flip.Network.Masquerade = !masq
						if err := check(objs, flip); err == nil || !strings.Contains(err.Error(), masqKey(p)) {
							t.Errorf("check against masquerade=%t passed or missed %s: %v", !masq, masqKey(p), err)
						}
						flip = run
						flip.BGP.Enabled = !bgp
						if err := check(objs, flip); err == nil || !strings.Contains(err.Error(), bgpKey(p)) {
							t.Errorf("check against bgp=%t passed or missed %s: %v", !bgp, bgpKey(p), err)
						}
					})
				}
			}
		}
	}
}

func masqKey(p cni.Profile) string {
	if p.Name() == config.Cilium {
		return "enable-ipv4-masquerade"
	}
	return "natOutgoing"
}

func bgpKey(p cni.Profile) string {
	if p.Name() == config.Cilium {
		return "enable-bgp-control-plane"
	}
	return "calicoNetwork.bgp"
}

// Extra values files are merged last: they can undo the profile, and the
// check must then fail.
func TestValuesFilesOverrideTheProfile(t *testing.T) {
	dir := charttest.Dir(t)
	src, err := chart.NewSource(dir)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	overrides := map[string]struct{ values, wantErr string }{
		config.Cilium: {"envoy:\n  enabled: true\noperator:\n  affinity: null\n", "Envoy must be off"},
		config.Calico: {"installation:\n  calicoNetwork:\n    ipPools:\n    - cidr: 10.200.0.0/16\n", "ipPools[0].cidr"},
	}
	for _, p := range profiles() {
		vs, err := src.Versions(ctx, p.ChartName())
		if err != nil {
			t.Fatal(err)
		}
		v := vs[len(vs)-1]
		c, err := src.Load(ctx, p.ChartName(), v)
		if err != nil {
			t.Fatal(err)
		}
		file := filepath.Join(t.TempDir(), "extra.yaml")
		if err := os.WriteFile(file, []byte(overrides[p.Name()].values), 0o644); err != nil {
			t.Fatal(err)
		}
		run := runFor(t, p, dir, v, true, true)
		run.CNI.ValuesFiles = []string{file}
		err = checks[p.Name()](render(t, c, p, run), run)
		if err == nil || !strings.Contains(err.Error(), overrides[p.Name()].wantErr) {
			t.Errorf("%s %s with %s: check error = %v, want %q", p.Name(), v, file, err, overrides[p.Name()].wantErr)
		}
	}
}

// Calico 3.30 added Goldmane and Whisker to the operator chart.
func TestCalicoGoldmaneAndWhiskerFrom330(t *testing.T) {
	dir := charttest.Dir(t)
	src, err := chart.NewSource(dir)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	p := calico.New()
	vs, err := src.Versions(ctx, p.ChartName())
	if err != nil {
		t.Fatal(err)
	}
	since := semver.MustParse("3.30.0")
	for _, v := range vs {
		c, err := src.Load(ctx, p.ChartName(), v)
		if err != nil {
			t.Fatal(err)
		}
		objs := render(t, c, p, runFor(t, p, dir, v, false, true))
		want := !semver.MustParse(v).LessThan(since)
		for _, kind := range []string{"Goldmane", "Whisker"} {
			if got := cni.Find(objs, kind, "default") != nil; got != want {
				t.Errorf("calico %s: %s rendered = %t, want %t", v, kind, got, want)
			}
		}
	}
}

// Every value the Cilium profile sets is a value the chart has, so a typo
// or a renamed value cannot be silently ignored by Helm.
func TestCiliumValuesExistInTheChart(t *testing.T) {
	dir := charttest.Dir(t)
	src, err := chart.NewSource(dir)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	p := cilium.New()
	vs, err := src.Versions(ctx, p.ChartName())
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range vs {
		c, err := src.Load(ctx, p.ChartName(), v)
		if err != nil {
			t.Fatal(err)
		}
		run := runFor(t, p, dir, v, true, true)
		for _, path := range leafPaths(p.Values(run), nil) {
			if !hasPath(c.DefaultValues(), path) {
				t.Errorf("cilium %s has no value %s", v, strings.Join(path, "."))
			}
		}
	}
}

// leafPaths lists the paths of a values tree down to the first non-map value;
// affinity trees stop at the top key (the chart's default affinity differs).
func leafPaths(m map[string]any, prefix []string) [][]string {
	var out [][]string
	for k, v := range m {
		path := append(append([]string{}, prefix...), k)
		if sub, ok := v.(map[string]any); ok && k != "affinity" {
			out = append(out, leafPaths(sub, path)...)
			continue
		}
		out = append(out, path)
	}
	return out
}

func hasPath(m map[string]any, path []string) bool {
	for i, k := range path {
		v, ok := m[k]
		if !ok {
			return false
		}
		if i == len(path)-1 {
			return true
		}
		if m, ok = v.(map[string]any); !ok {
			return false
		}
	}
	return true
}

func BenchmarkRender(b *testing.B) {
	dir, reason := charttest.Find()
	if dir == "" {
		b.Skip("real charts not found: " + reason)
	}
	src, err := chart.NewSource(dir)
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	for _, p := range profiles() {
		vs, err := src.Versions(ctx, p.ChartName())
		if err != nil {
			b.Fatal(err)
		}
		for _, v := range vs {
			b.Run(p.Name()+"-"+v, func(b *testing.B) {
				c, err := src.Load(ctx, p.ChartName(), v)
				if err != nil {
					b.Fatal(err)
				}
				run := runFor(b, p, dir, v, true, true)
				objs := 0
				b.ResetTimer()
				for range b.N {
					objs = len(render(b, c, p, run))
				}
				b.ReportMetric(float64(objs), "objects")
			})
		}
	}
}
