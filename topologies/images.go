package topologies

import (
	"context"
	"fmt"
	"sort"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/hybridcni/hybridcni/framework/chart"
	"github.com/hybridcni/hybridcni/framework/cni"
	_ "github.com/hybridcni/hybridcni/framework/cni/all" // every CNI's profile
	"github.com/hybridcni/hybridcni/framework/config"
	"github.com/hybridcni/hybridcni/framework/plan"
)

// Image is one image a run needs and why.
type Image struct {
	Ref string `json:"ref"`
	// For says where it runs: "kind node", "harness", "cilium 1.16.19 chart", ...
	For string `json:"for"`
	// Version is the CNI version that needs it: the first of the run's
	// versions (install, then each hop) whose chart names it, so an image
	// two versions share belongs to the earlier. Empty for the node and
	// harness images. A provider can load a later hop's images while the
	// earlier versions are being checked.
	Version string `json:"version,omitempty"`
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

// RunImages derives the images a run needs: the kind node image, the
// harness images, and the images of the CNI chart rendered for the run at
// each version it installs (cni.version and cni.upgradeTo), each CNI image
// with the version it first belongs to (Image.Version), in install-then-hop
// order.
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
		// Every version the upgrade goes through, hop by hop.
		available, err := src.Versions(ctx, p.ChartName())
		if err != nil {
			return nil, err
		}
		hops, err := plan.UpgradePath(r.CNI.Version, r.CNI.UpgradeTo, available)
		if err != nil {
			return nil, err
		}
		versions = append(versions, hops...)
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
				out = append(out, Image{Ref: img, For: fmt.Sprintf("%s %s chart", r.CNI.Name, v), Version: v})
			}
		}
		if l, ok := p.(cni.ImageLister); ok {
			for _, img := range l.ExtraImages(v) {
				if !seen[img] {
					seen[img] = true
					out = append(out, Image{Ref: img, For: fmt.Sprintf("%s %s (deployed by its operator)", r.CNI.Name, v), Version: v})
				}
			}
		}
	}
	return out, nil
}
