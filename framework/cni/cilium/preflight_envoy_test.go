package cilium

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/hybridcni/hybridcni/framework/chart"
)

// cachedChart loads a Cilium chart hack/cilium-image.sh packaged, or skips
// saying how to build it (../shared/charts holds no 1.18).
func cachedChart(t *testing.T, version string) *chart.Chart {
	root := os.Getenv("HYBRIDCNI_CACHE")
	if root == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			t.Fatal(err)
		}
		root = filepath.Join(home, ".cache", "hybridcni")
	}
	path := filepath.Join(root, OfflineChartDir, "cilium-"+version+".tgz")
	if _, err := os.Stat(path); err != nil {
		t.Skipf("no Cilium %s chart at %s: make cilium-images CILIUM_VERSIONS=%s", version, path, version)
	}
	c, err := chart.LoadPath(path)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// envoyConfigMounts names the pre-flight DaemonSet's volumes that read the
// Envoy bootstrap ConfigMap.
func envoyConfigMounts(t *testing.T, c *chart.Chart, values map[string]any) []string {
	objs, err := chart.Render(context.Background(), c, values, chart.RenderOptions{ReleaseName: PreflightRelease, Namespace: Namespace, KubeVersion: "1.33.0"})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	found := false
	for _, o := range objs {
		if o.GetKind() != "DaemonSet" || o.GetName() != PreflightName {
			continue
		}
		found = true
		vols, _, _ := unstructured.NestedSlice(o.Object, "spec", "template", "spec", "volumes")
		for _, v := range vols {
			if cm, _, _ := unstructured.NestedString(v.(map[string]any), "configMap", "name"); cm == "cilium-envoy-config" {
				out = append(out, v.(map[string]any)["name"].(string))
			}
		}
	}
	if !found {
		t.Fatalf("chart %s renders no DaemonSet %s", c.Version(), PreflightName)
	}
	return out
}

// From 1.18 the pre-flight mounts the Envoy ConfigMap unless told Envoy is
// off; the guide's release turns Envoy off, so that ConfigMap never exists
// and the pre-flight pods wait for it forever (kind, 1.17.0 -> 1.18.0).
// The pre-flight release carries the release's Envoy mode.
func TestPreflightFollowsTheReleasesEnvoyMode(t *testing.T) {
	c := cachedChart(t, "1.18.0")
	release := (&Profile{}).Values(testRun())
	if got := envoyConfigMounts(t, c, chart.MergeValues(map[string]any{"preflight": map[string]any{}}, PreflightValues())); len(got) == 0 {
		t.Fatalf("chart 1.18.0's pre-flight with the guide's values alone mounts no Envoy ConfigMap: the fault this test guards against is gone, revisit ReleasePreflightValues")
	}
	if got := envoyConfigMounts(t, c, ReleasePreflightValues(release)); len(got) > 0 {
		t.Errorf("the pre-flight of a release with envoy.enabled false mounts the Envoy ConfigMap (volumes %v), which that release never creates", got)
	}
}
