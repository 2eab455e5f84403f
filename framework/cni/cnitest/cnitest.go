// Package cnitest holds fixtures for lifecycle tests on the API tier: the
// CRDs a CNI operator registers at start-up (kwok runs no operator) and a
// stand-in for the tigera-operator's reconciliation.
package cnitest

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/hybridcni/hybridcni/framework/cni"
	"github.com/hybridcni/hybridcni/framework/testenv"
)

// CRD describes a fixture CRD with an open schema.
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
	u := &unstructured.Unstructured{Object: map[string]any{
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
	return u
}

// CiliumOperatorCRDs are some of the CRDs the cilium-operator registers at
// start-up, with the BGP ones served as bgpVersions (first = storage).
func CiliumOperatorCRDs(bgpVersions ...string) []CRD {
	if len(bgpVersions) == 0 {
		bgpVersions = []string{"v2alpha1"}
	}
	return []CRD{
		{Group: "cilium.io", Kind: "CiliumNetworkPolicy", Plural: "ciliumnetworkpolicies", Namespaced: true, Versions: []string{"v2"}},
		{Group: "cilium.io", Kind: "CiliumNode", Plural: "ciliumnodes", Versions: []string{"v2"}},
		{Group: "cilium.io", Kind: "CiliumEndpoint", Plural: "ciliumendpoints", Namespaced: true, Versions: []string{"v2"}},
		{Group: "cilium.io", Kind: "CiliumBGPClusterConfig", Plural: "ciliumbgpclusterconfigs", Versions: bgpVersions},
		{Group: "cilium.io", Kind: "CiliumBGPPeerConfig", Plural: "ciliumbgppeerconfigs", Versions: bgpVersions},
		{Group: "cilium.io", Kind: "CiliumBGPAdvertisement", Plural: "ciliumbgpadvertisements", Versions: bgpVersions},
	}
}

// RegisterCRDs creates crds and waits until they are Established.
func RegisterCRDs(t testing.TB, c *cni.Cluster, crds ...CRD) {
	t.Helper()
	ctx := context.Background()
	var objs []*unstructured.Unstructured
	var names []string
	for _, crd := range crds {
		objs = append(objs, crd.Object())
		names = append(names, crd.Name())
	}
	if _, err := c.Apply(ctx, objs); err != nil {
		t.Fatalf("register CRDs: %v", err)
	}
	if err := c.WaitCRDsEstablished(ctx, names, 30*time.Second); err != nil {
		t.Fatal(err)
	}
}

// CRDNames lists the CRDs whose name contains any of subs.
func CRDNames(t testing.TB, c *cni.Cluster, subs ...string) []string {
	t.Helper()
	list, err := c.Dynamic.Resource(cni.CRDGVR).List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatalf("list CRDs: %v", err)
	}
	var out []string
	for _, u := range list.Items {
		for _, s := range subs {
			if strings.Contains(u.GetName(), s) {
				out = append(out, u.GetName())
				break
			}
		}
	}
	return out
}

// Logger writes driver progress to t.Log.
type Logger struct{ T testing.TB }

func (l Logger) Write(p []byte) (int, error) {
	l.T.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// Sprint formats objects for failure messages.
func Sprint(objs []*unstructured.Unstructured) string {
	var s []string
	for _, o := range objs {
		s = append(s, fmt.Sprintf("%s %s", o.GetKind(), o.GetName()))
	}
	return strings.Join(s, ", ")
}

// RequireAPITier skips t (one line) under -short or HYBRIDCNI_UNIT_ONLY, or
// when the API tier binaries are absent.
func RequireAPITier(t testing.TB) {
	t.Helper()
	if testing.Short() || os.Getenv("HYBRIDCNI_UNIT_ONLY") != "" {
		t.Skip("API tier: skipped (-short or HYBRIDCNI_UNIT_ONLY)")
	}
	testenv.RequireBinaries(t)
}
