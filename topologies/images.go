package topologies

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/Masterminds/semver/v3"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/hybridcni/hybridcni/framework/chart"
	"github.com/hybridcni/hybridcni/framework/cni"
	_ "github.com/hybridcni/hybridcni/framework/cni/calico" // registers the profile
	_ "github.com/hybridcni/hybridcni/framework/cni/cilium" // registers the profile
	"github.com/hybridcni/hybridcni/framework/config"
)

// Image is one image a run needs and why.
type Image struct {
	Ref string `json:"ref"`
	// For says where it runs: "kind node", "harness", "cilium 1.16.19 chart", ...
	For string `json:"for"`
}

// ImagesFromObjects lists the container images of rendered manifests: every
// pod template's containers and init containers (and bare pods'), sorted.
func ImagesFromObjects(objs []*unstructured.Unstructured) []string {
	seen := map[string]bool{}
	for _, o := range objs {
		spec, ok := cni.PodSpec(o)
		if !ok {
			spec, ok, _ = unstructured.NestedMap(o.Object, "spec")
			if !ok || o.GetKind() != "Pod" {
				continue
			}
		}
		for _, field := range []string{"initContainers", "containers", "ephemeralContainers"} {
			cs, _, _ := unstructured.NestedSlice(spec, field)
			for _, c := range cs {
				if m, ok := c.(map[string]any); ok {
					if img, _ := m["image"].(string); img != "" {
						seen[img] = true
					}
				}
			}
		}
	}
	out := make([]string, 0, len(seen))
	for img := range seen {
		out = append(out, img)
	}
	sort.Strings(out)
	return out
}

// calicoComponents are the images the tigera operator deploys itself: they
// are in the operator binary, not in the chart's manifests. The operator
// pulls Calico's open-source images from docker.io by default.
var calicoComponents = []string{"node", "cni", "kube-controllers", "typha", "apiserver", "csi", "node-driver-registrar", "pod2daemon-flexvol"}

// calicoComponents330 are added by Calico 3.30 (Goldmane, Whisker).
var calicoComponents330 = []string{"goldmane", "whisker", "whisker-backend"}

// CalicoOperatorImages lists the Calico images the operator of a version deploys.
func CalicoOperatorImages(version string) []string {
	v := "v" + strings.TrimPrefix(version, "v")
	names := calicoComponents
	if sv, err := semver.NewVersion(v); err == nil && !sv.LessThan(semver.MustParse("3.30.0")) {
		names = append(append([]string(nil), names...), calicoComponents330...)
	}
	out := make([]string, len(names))
	for i, n := range names {
		out[i] = "docker.io/calico/" + n + ":" + v
	}
	return out
}

// RunImages derives the images a run needs: the kind node image, the
// harness images, and the images of the CNI chart rendered for the run at
// each version it installs (cni.version and cni.upgradeTo).
func RunImages(ctx context.Context, r config.Run, harness Images) ([]Image, error) {
	var out []Image
	node := harness.Node
	if node == "" {
		var err error
		if node, err = NodeImage(r.Kubernetes.Version); err != nil {
			return nil, err
		}
	}
	out = append(out, Image{Ref: node, For: "kind node"})
	for _, ref := range []string{harness.Router, harness.Echo} {
		if ref != "" {
			out = append(out, Image{Ref: ref, For: "harness"})
		}
	}
	p, err := cni.Lookup(r.CNI.Name)
	if err != nil {
		return nil, err
	}
	src, err := chart.NewSource(r.CNI.ChartSource)
	if err != nil {
		return nil, err
	}
	versions := []string{r.CNI.Version}
	if r.CNI.UpgradeTo != "" {
		versions = append(versions, r.CNI.UpgradeTo)
	}
	seen := map[string]bool{}
	for _, v := range versions {
		c, err := src.Load(ctx, p.ChartName(), v)
		if err != nil {
			return nil, err
		}
		rv := r
		rv.CNI.Version = v
		vals, err := chart.MergeValuesFiles(p.Values(rv), r.CNI.ValuesFiles)
		if err != nil {
			return nil, err
		}
		objs, err := chart.Render(ctx, c, vals, chart.RenderOptions{ReleaseName: p.ReleaseName(), Namespace: p.Namespace(), KubeVersion: r.Kubernetes.Version})
		if err != nil {
			return nil, fmt.Errorf("render %s %s: %w", p.ChartName(), v, err)
		}
		imgs := ImagesFromObjects(objs)
		for _, img := range imgs {
			if !seen[img] {
				seen[img] = true
				out = append(out, Image{Ref: img, For: fmt.Sprintf("%s %s chart", r.CNI.Name, v)})
			}
		}
		if r.CNI.Name == config.Calico {
			for _, img := range CalicoOperatorImages(v) {
				if !seen[img] {
					seen[img] = true
					out = append(out, Image{Ref: img, For: fmt.Sprintf("calico %s (deployed by the operator)", v)})
				}
			}
		}
	}
	return out, nil
}
