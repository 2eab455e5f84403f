package calico_test

import (
	"context"
	"slices"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/hybridcni/hybridcni/framework/chart"
	"github.com/hybridcni/hybridcni/framework/chart/charttest"
	"github.com/hybridcni/hybridcni/framework/cni/calico"
	"github.com/hybridcni/hybridcni/framework/config"
)

func realSource(t *testing.T) *chart.Source {
	t.Helper()
	src, err := chart.NewSource(charttest.Dir(t))
	if err != nil {
		t.Fatal(err)
	}
	return src
}

func kindNames(objs []*unstructured.Unstructured, kind string) []string {
	var out []string
	for _, o := range objs {
		if o.GetKind() == kind {
			out = append(out, o.GetName())
		}
	}
	return out
}

func firstIndex(objs []*unstructured.Unstructured, kind string) int {
	return slices.IndexFunc(objs, func(o *unstructured.Unstructured) bool { return o.GetKind() == kind })
}

// The rule: tigera-operator 3.32 has no crds/ and takes
// crd.projectcalico.org.v1 on a fresh cluster or one that stores Calico's
// resources as crd.projectcalico.org/v1; projectcalico.org.v3 only where
// Calico already runs on projectcalico.org/v3 CRDs. Before 3.32 the chart
// carries its CRDs.
func TestCRDChartRule(t *testing.T) {
	ctx := context.Background()
	src := realSource(t)
	for _, tc := range []struct{ version, layout, want string }{
		{"v3.29.6", calico.LayoutNone, ""},
		{"v3.30.7", calico.LayoutV1, ""},
		{"v3.32.0", calico.LayoutNone, calico.CRDChartV1},
		{"v3.32.0", calico.LayoutV1, calico.CRDChartV1},
		{"v3.32.0", calico.LayoutV3, calico.CRDChartV3},
	} {
		ch, err := src.Load(ctx, calico.ChartName, tc.version)
		if err != nil {
			t.Fatal(err)
		}
		if got := calico.CRDChart(ch, tc.layout); got != tc.want {
			t.Errorf("CRDChart(%s, layout %q) = %q, want %q", tc.version, tc.layout, got, tc.want)
		}
	}
}

// What each CRD chart holds, as the rule's documentation says: both carry
// the operator's CRDs; v1 Calico's resources as crd.projectcalico.org, v3
// as projectcalico.org (with admission policies beside them).
func TestCRDChartContents(t *testing.T) {
	ctx := context.Background()
	src := realSource(t)
	ch, err := src.Load(ctx, calico.ChartName, "v3.32.0")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		layout, has, hasNot string
		others              bool
	}{
		{calico.LayoutNone, "bgppeers.crd.projectcalico.org", "bgppeers.projectcalico.org", false},
		{calico.LayoutV3, "bgppeers.projectcalico.org", "bgppeers.crd.projectcalico.org", true},
	} {
		objs, from, err := calico.CRDObjects(ctx, src, ch, tc.layout, "1.31.0")
		if err != nil {
			t.Fatal(err)
		}
		crds := kindNames(objs, "CustomResourceDefinition")
		for _, want := range []string{"installations.operator.tigera.io", "tigerastatuses.operator.tigera.io", "apiservers.operator.tigera.io", tc.has} {
			if !slices.Contains(crds, want) {
				t.Errorf("%s: no CRD %s", from, want)
			}
		}
		if slices.Contains(crds, tc.hasNot) {
			t.Errorf("%s: CRD %s of the other layout", from, tc.hasNot)
		}
		if others := len(objs) - len(crds); (others > 0) != tc.others {
			t.Errorf("%s: %d objects besides CRDs", from, others)
		}
		if i := slices.IndexFunc(objs, func(o *unstructured.Unstructured) bool { return o.GetKind() != "CustomResourceDefinition" }); i >= 0 && i < len(crds) {
			t.Errorf("%s: a %s before the last CRD", from, objs[i].GetKind())
		}
	}
}

// `hybridcni render` of Calico 3.32 (cmd/hybridcni/render.go: Source.Load
// then chart.Render) puts the CRD chart's CRDs first, as the install
// applies them; 3.30 renders its own crds/ as before.
func TestRenderCalico332HasTheCRDChart(t *testing.T) {
	ctx := context.Background()
	src := realSource(t)
	run := config.Default()
	run.Complete()
	for _, v := range []string{"v3.32.0", "v3.30.7"} {
		ch, err := src.Load(ctx, calico.ChartName, v)
		if err != nil {
			t.Fatal(err)
		}
		objs, err := chart.Render(ctx, ch, calico.New().Values(run), chart.RenderOptions{ReleaseName: calico.ReleaseName, Namespace: calico.Namespace, KubeVersion: "1.31.0"})
		if err != nil {
			t.Fatal(err)
		}
		crds := kindNames(objs, "CustomResourceDefinition")
		if !slices.Contains(crds, "installations.operator.tigera.io") || !slices.Contains(crds, "bgppeers.crd.projectcalico.org") {
			t.Errorf("render %s: CRDs %v lack the Installation's or Calico's", v, crds)
		}
		if slices.Contains(crds, "bgppeers.projectcalico.org") {
			t.Errorf("render %s: has the projectcalico.org/v3 CRDs too", v)
		}
		if ci, ii := firstIndex(objs, "CustomResourceDefinition"), firstIndex(objs, "Installation"); ci < 0 || ii < 0 || ci > ii {
			t.Errorf("render %s: first CRD at %d, Installation at %d", v, ci, ii)
		}
		if err := calico.CheckRendered(objs, run); err != nil {
			t.Errorf("render %s: %v", v, err)
		}
		skipped, err := chart.Render(ctx, ch, calico.New().Values(run), chart.RenderOptions{ReleaseName: calico.ReleaseName, Namespace: calico.Namespace, KubeVersion: "1.31.0", SkipCRDs: true})
		if err != nil {
			t.Fatal(err)
		}
		if n := kindNames(skipped, "CustomResourceDefinition"); len(n) != 0 {
			t.Errorf("render %s with SkipCRDs: %d CRDs", v, len(n))
		}
	}
}

// A 3.32 chart loaded without a source cannot find its CRD chart: render
// says so instead of leaving the CRDs out.
func TestRenderCalico332WithoutSource(t *testing.T) {
	dir := charttest.Dir(t)
	ch, err := chart.LoadPath(dir + "/tigera-operator-v3.32.0.tgz")
	if err != nil {
		t.Fatal(err)
	}
	_, err = chart.Render(context.Background(), ch, nil, chart.RenderOptions{ReleaseName: "calico", Namespace: "kube-system", KubeVersion: "1.31.0"})
	wantAll(t, err, "tigera-operator v3.32.0 ships its CRDs as chart crd.projectcalico.org.v1")
}
