package chart

import (
	"bytes"
	"fmt"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// CRDObjects returns the CRDs of the chart's crds/ folder (subcharts
// included), in the order Helm would install them. A chart without a
// crds/ folder returns none.
func (c *Chart) CRDObjects() ([]*unstructured.Unstructured, error) {
	var out []*unstructured.Unstructured
	for _, crd := range c.c.CRDObjects() {
		objs, err := Decode(bytes.NewReader(crd.File.Data))
		if err != nil {
			return nil, fmt.Errorf("chart %s %s: %s: %w", c.Name(), c.Version(), crd.Filename, err)
		}
		for _, o := range objs {
			if o.GetKind() == "CustomResourceDefinition" {
				out = append(out, o)
			}
		}
	}
	return out, nil
}

// MergeValues merges over onto base the way `helm -f base -f over` does
// (maps key by key, anything else replaces); neither input changes.
func MergeValues(base, over map[string]any) map[string]any { return mergeMaps(base, over) }
