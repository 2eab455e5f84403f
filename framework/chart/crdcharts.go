package chart

import (
	"context"
	"fmt"
	"sync"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// Some charts ship their CRDs as a separate chart of the same version
// (tigera-operator from Calico 3.32 on: crd.projectcalico.org.v1 or
// projectcalico.org.v3). The chart's objects cannot install before those
// CRDs exist, and Helm cannot install CRDs and objects of their kinds in one
// release, so the CRD chart is applied first. The package that knows such a
// chart registers a CRDChartRule for it; Render then puts the CRD chart's
// objects first, as an install applies them, and the lifecycle driver asks
// the same rule (see CRDChartFor).

// CRDChartRule names the separate CRD chart a chart version needs on a
// cluster without that CNI (a fresh install, or an offline render), "" when
// the version carries its CRDs itself.
type CRDChartRule func(version string) string

var (
	crdRulesMu sync.Mutex
	crdRules   = map[string]CRDChartRule{}
)

// RegisterCRDChart registers the CRD-chart rule of chart chartName.
func RegisterCRDChart(chartName string, rule CRDChartRule) {
	crdRulesMu.Lock()
	defer crdRulesMu.Unlock()
	crdRules[chartName] = rule
}

// CRDChartFor is the CRD chart c needs by its registered rule, "" when
// none: no rule, or c has a crds/ folder of its own.
func CRDChartFor(c *Chart) string {
	if len(c.c.CRDObjects()) > 0 {
		return ""
	}
	crdRulesMu.Lock()
	rule := crdRules[c.Name()]
	crdRulesMu.Unlock()
	if rule == nil {
		return ""
	}
	return rule(c.Version())
}

// Source is the chart source c was loaded from (nil for LoadPath).
func (c *Chart) Source() *Source { return c.src }

// CRDChartObjects loads CRD chart name at version from s and renders it for
// kubeVersion: its CustomResourceDefinitions first, then anything else it
// holds (admission policies), in Helm's install order within each part.
func (s *Source) CRDChartObjects(ctx context.Context, name, version, kubeVersion string) ([]*unstructured.Unstructured, error) {
	docs, err := s.crdChartDocs(ctx, name, version, kubeVersion)
	if err != nil {
		return nil, err
	}
	return Objects(docs), nil
}

func (s *Source) crdChartDocs(ctx context.Context, name, version, kubeVersion string) ([]Doc, error) {
	c, err := s.Load(ctx, name, version)
	if err != nil {
		return nil, fmt.Errorf("CRD chart %s %s: %w", name, version, err)
	}
	docs, err := RenderDocs(ctx, c, nil, RenderOptions{ReleaseName: name, Namespace: "default", KubeVersion: kubeVersion})
	if err != nil {
		return nil, err
	}
	var crds, rest []Doc
	for _, d := range docs {
		if d.Object.GetKind() == "CustomResourceDefinition" {
			crds = append(crds, d)
		} else {
			rest = append(rest, d)
		}
	}
	if len(crds) == 0 {
		return nil, fmt.Errorf("CRD chart %s %s renders no CustomResourceDefinition", name, version)
	}
	return append(crds, rest...), nil
}

// companionCRDs are the objects of the CRD chart c needs (CRDChartFor),
// from the source c came from; none when c needs none.
func companionCRDs(ctx context.Context, c *Chart, kubeVersion string) ([]Doc, error) {
	name := CRDChartFor(c)
	if name == "" {
		return nil, nil
	}
	if c.src == nil {
		return nil, fmt.Errorf("chart %s %s ships its CRDs as chart %s, and it was not loaded from a chart source that could hold that chart (load it with Source.Load)",
			c.Name(), c.Version(), name)
	}
	docs, err := c.src.crdChartDocs(ctx, name, c.Version(), kubeVersion)
	if err != nil {
		return nil, fmt.Errorf("chart %s %s ships its CRDs as chart %s: %w (fix: put %s %s into the chart source %s)",
			c.Name(), c.Version(), name, err, name, c.Version(), c.src.Location)
	}
	return docs, nil
}

// SplitCRDs separates the CustomResourceDefinitions of objs from the rest,
// keeping the order of each.
func SplitCRDs(objs []*unstructured.Unstructured) (crds, rest []*unstructured.Unstructured) {
	for _, o := range objs {
		if o.GetKind() == "CustomResourceDefinition" {
			crds = append(crds, o)
		} else {
			rest = append(rest, o)
		}
	}
	return crds, rest
}
