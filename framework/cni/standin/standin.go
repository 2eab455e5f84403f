// Package standin plays the CNI operators on a cluster whose pods run no
// containers (the API tier: kwok nodes). Helm, the lifecycle drivers,
// readiness and cleanup stay real; the stand-ins only make what the
// operators would make once their Deployment exists: the Cilium CRDs the
// cilium-operator registers at start-up, and calico-system as the
// tigera-operator builds it from the Installation.
package standin

import (
	"context"
	"fmt"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/hybridcni/hybridcni/framework/cni"
	"github.com/hybridcni/hybridcni/framework/config"
)

// CRD describes a CRD with an open schema, as a stand-in registers it.
type CRD struct {
	Group      string
	Kind       string
	Plural     string
	Namespaced bool
	// Versions served; the first is the storage version.
	Versions []string
}

// Name is plural.group.
func (c CRD) Name() string { return c.Plural + "." + c.Group }

// Object is the CRD as the API server takes it.
func (c CRD) Object() *unstructured.Unstructured {
	scope := "Cluster"
	if c.Namespaced {
		scope = "Namespaced"
	}
	var versions []any
	for i, v := range c.Versions {
		versions = append(versions, map[string]any{
			"name": v, "served": true, "storage": i == 0,
			"schema": map[string]any{"openAPIV3Schema": map[string]any{
				"type": "object", "x-kubernetes-preserve-unknown-fields": true,
			}},
		})
	}
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "apiextensions.k8s.io/v1",
		"kind":       "CustomResourceDefinition",
		"metadata":   map[string]any{"name": c.Name()},
		"spec": map[string]any{
			"group": c.Group,
			"scope": scope,
			"names": map[string]any{
				"kind": c.Kind, "plural": c.Plural, "singular": strings.ToLower(c.Kind), "listKind": c.Kind + "List",
			},
			"versions": versions,
		},
	}}
}

// RegisterCRDs server-side applies crds and waits (bounded by timeout)
// until they are Established.
func RegisterCRDs(ctx context.Context, c *cni.Cluster, timeout time.Duration, crds ...CRD) error {
	var objs []*unstructured.Unstructured
	var names []string
	for _, crd := range crds {
		objs = append(objs, crd.Object())
		names = append(names, crd.Name())
	}
	if _, err := c.Apply(ctx, objs); err != nil {
		return fmt.Errorf("register CRDs: %w", err)
	}
	return c.WaitCRDsEstablished(ctx, names, timeout)
}

// Stop ends a stand-in and returns the errors it could not get past.
type Stop func() error

// Start starts the stand-in for cniName's operator on c, if that CNI has
// one (kube-router has no operator: Start returns a no-op Stop). It plays a
// healthy operator: the tigera-operator finishes its teardown before Helm
// removes it (no finalizers left; tests of a stuck teardown start
// StartTigeraOperator themselves). The stand-in runs until Stop is called
// or ctx ends.
func Start(ctx context.Context, cniName string, c *cni.Cluster) (Stop, error) {
	switch cniName {
	case config.Cilium:
		op, err := StartCiliumOperator(ctx, c)
		if err != nil {
			return nil, err
		}
		return op.Close, nil
	case config.Calico:
		op, err := StartTigeraOperator(ctx, c, WithoutFinalizers())
		if err != nil {
			return nil, err
		}
		return op.Close, nil
	}
	return func() error { return nil }, nil
}
