package topologies

import (
	"context"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/hybridcni/hybridcni/framework/chart/charttest"
	"github.com/hybridcni/hybridcni/framework/cni/cilium"
	"github.com/hybridcni/hybridcni/framework/config"
)

func TestImagesFromObjects(t *testing.T) {
	ds := &unstructured.Unstructured{Object: map[string]any{"kind": "DaemonSet", "spec": map[string]any{"template": map[string]any{"spec": map[string]any{
		"initContainers": []any{map[string]any{"image": "quay.io/x/init:v1"}},
		"containers":     []any{map[string]any{"image": "quay.io/x/agent:v1"}, map[string]any{"image": "quay.io/x/init:v1"}},
	}}}}}
	pod := &unstructured.Unstructured{Object: map[string]any{"kind": "Pod", "spec": map[string]any{"containers": []any{map[string]any{"image": "busybox:1"}}}}}
	cm := &unstructured.Unstructured{Object: map[string]any{"kind": "ConfigMap", "data": map[string]any{"image": "not-an-image"}}}
	got := ImagesFromObjects([]*unstructured.Unstructured{ds, pod, cm})
	if want := []string{"busybox:1", "quay.io/x/agent:v1", "quay.io/x/init:v1"}; !slices.Equal(got, want) {
		t.Fatalf("images = %v, want %v", got, want)
	}
}

// The real charts: Cilium's agent and operator images, Calico's operator
// plus what it deploys, at both versions of an upgrade run.
func TestRunImagesFromTheRealCharts(t *testing.T) {
	dir := charttest.Dir(t)
	ctx := context.Background()
	cil := run(t, func(r *config.Run) { r.CNI.ChartSource = dir; r.CNI.Version = "1.16.19"; r.CNI.UpgradeTo = "1.17.18" })
	imgs, err := RunImages(ctx, cil, Images{Router: "hybridcni/router:dev", Echo: "hybridcni/echo:dev"})
	if err != nil {
		t.Fatal(err)
	}
	var refs []string
	for _, im := range imgs {
		refs = append(refs, im.Ref+" for "+im.For)
	}
	all := strings.Join(refs, "\n")
	for _, want := range []string{"kindest/node:v1.37.0@sha256:", "hybridcni/router:dev for harness", "quay.io/cilium/cilium:v1.16.19", "quay.io/cilium/cilium:v1.17.18",
		"quay.io/cilium/operator-generic:v1.16.19"} {
		if !strings.Contains(all, want) {
			t.Errorf("cilium images lack %s:\n%s", want, all)
		}
	}
	if strings.Contains(all, "envoy") {
		t.Errorf("envoy is disabled on hybrid nodes but listed:\n%s", all)
	}
	checkImageVersions(t, imgs, "1.16.19", "1.17.18")
	cal := run(t, func(r *config.Run) {
		r.CNI.Name = config.Calico
		r.CNI.ChartSource = dir
		r.CNI.Version = "v3.29.7"
		r.CNI.UpgradeTo = "v3.30.7"
	})
	imgs, err = RunImages(ctx, cal, Images{})
	if err != nil {
		t.Fatal(err)
	}
	refs = nil
	for _, im := range imgs {
		refs = append(refs, im.Ref)
	}
	all = strings.Join(refs, "\n")
	for _, want := range []string{"quay.io/tigera/operator:", "docker.io/calico/node:v3.29.7", "docker.io/calico/node:v3.30.7", "docker.io/calico/goldmane:v3.30.7"} {
		if !strings.Contains(all, want) {
			t.Errorf("calico images lack %s:\n%s", want, all)
		}
	}
	if strings.Contains(all, "goldmane:v3.29.7") {
		t.Errorf("goldmane listed for 3.29:\n%s", all)
	}
	checkImageVersions(t, imgs, "v3.29.7", "v3.30.7")
}

// checkImageVersions: each CNI image carries the version whose chart (or
// operator) first names it, as its For says, the versions in run order
// from first to last; the node and harness images carry none.
func checkImageVersions(t *testing.T, imgs []Image, first, last string) {
	t.Helper()
	var order []string
	for _, im := range imgs {
		if im.For == "kind node" || im.For == "harness" {
			if im.Version != "" {
				t.Errorf("%s (%s) has version %q, want none", im.Ref, im.For, im.Version)
			}
			continue
		}
		if im.Version == "" || !strings.Contains(im.For, " "+im.Version+" ") {
			t.Errorf("%s (%s) has version %q", im.Ref, im.For, im.Version)
		}
		if len(order) == 0 || order[len(order)-1] != im.Version {
			if slices.Contains(order, im.Version) {
				t.Errorf("version %s's images are not together in run order: %s after %v", im.Version, im.Ref, order)
			}
			order = append(order, im.Version)
		}
		// The CNI's own images are tagged with their version (the Tigera
		// operator has its own numbering).
		ref, _, _ := strings.Cut(im.Ref, "@")
		if tag := ref[strings.LastIndex(ref, ":")+1:]; !strings.Contains(ref, "tigera/operator") &&
			strings.TrimPrefix(tag, "v") != strings.TrimPrefix(im.Version, "v") {
			t.Errorf("%s belongs to %s", im.Ref, im.Version)
		}
	}
	if len(order) < 2 || order[0] != first || order[len(order)-1] != last {
		t.Errorf("image versions in order %v, want %s first and %s last", order, first, last)
	}
}

// The offline values file covers every image the real Cilium chart renders:
// the run needs only the images hack/cilium-image.sh builds, never a pull.
func TestRunImagesOfflineCiliumNeedsOnlyLocalImages(t *testing.T) {
	dir := charttest.Dir(t)
	r := run(t, func(r *config.Run) {
		r.CNI.ChartSource = dir
		r.CNI.Version = cilium.OfflineVersion
		r.CNI.ValuesFiles = []string{filepath.Join("..", cilium.OfflineValuesFile)}
		r.BGP.Enabled = true
	})
	imgs, err := RunImages(context.Background(), r, Images{Node: "hybridcni/node:v1.37.2"})
	if err != nil {
		t.Fatal(err)
	}
	var cni []string
	for _, im := range imgs {
		if im.For != "kind node" && im.For != "harness" {
			cni = append(cni, im.Ref)
		}
	}
	want := cilium.OfflineImages()
	slices.Sort(cni)
	slices.Sort(want)
	if !slices.Equal(cni, want) {
		t.Fatalf("CNI images = %v, want exactly %v", cni, want)
	}
}
