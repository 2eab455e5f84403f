// Package cni describes the CNIs the harness qualifies on hybrid nodes: each
// profile turns a run into the Helm values and BGP resources of the EKS
// hybrid-nodes guide. Profiles register themselves; lifecycle drivers build on them.
package cni

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/hybridcni/hybridcni/framework/config"
)

// The label every hybrid node carries, and its value.
const (
	HybridLabel = "eks.amazonaws.com/compute-type"
	HybridValue = "hybrid"
)

// Profile is one CNI as the hybrid-nodes guide installs it.
type Profile interface {
	// Name is the CNI's name in a run (cni.name).
	Name() string
	// ChartName is the Helm chart's name in the chart source.
	ChartName() string
	// ReleaseName and Namespace are the Helm release the guide installs.
	ReleaseName() string
	Namespace() string
	// Values are the guide's Helm values for run (before cni.valuesFiles).
	Values(run config.Run) map[string]any
	// BGPResources are the objects that peer the hybrid nodes with the
	// on-prem router, applied after install when BGP is on.
	BGPResources(run config.Run) []*unstructured.Unstructured
}

// ComponentNamespaces is implemented by profiles whose components run
// outside the release namespace (Calico's operator-made calico-system).
type ComponentNamespaces interface {
	ComponentNamespaces() []string
}

// Namespaces are where a profile's objects live: kube-system, the release
// namespace and its component namespaces, each once.
func Namespaces(p Profile) []string {
	ns := []string{"kube-system", p.Namespace()}
	if c, ok := p.(ComponentNamespaces); ok {
		ns = append(ns, c.ComponentNamespaces()...)
	}
	seen := map[string]bool{}
	out := ns[:0]
	for _, n := range ns {
		if !seen[n] {
			seen[n] = true
			out = append(out, n)
		}
	}
	return out
}

var (
	mu       sync.RWMutex
	profiles = map[string]Profile{}
)

// Register makes a profile available to Lookup; profiles call it from init.
func Register(p Profile) {
	mu.Lock()
	defer mu.Unlock()
	profiles[p.Name()] = p
}

// Lookup returns the profile for a CNI name, or a *config.Error on cni.name.
func Lookup(name string) (Profile, error) {
	mu.RLock()
	defer mu.RUnlock()
	if p, ok := profiles[name]; ok {
		return p, nil
	}
	return nil, config.Invalid("cni.name", fmt.Sprintf("no profile for CNI %q", name),
		"use one of: "+strings.Join(namesLocked(), ", "))
}

// Names lists the registered profiles.
func Names() []string {
	mu.RLock()
	defer mu.RUnlock()
	return namesLocked()
}

func namesLocked() []string {
	out := make([]string, 0, len(profiles))
	for n := range profiles {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// HybridNodeAffinity is a required node affinity to hybrid nodes, as Helm values.
func HybridNodeAffinity() map[string]any {
	return map[string]any{
		"nodeAffinity": map[string]any{
			"requiredDuringSchedulingIgnoredDuringExecution": map[string]any{
				"nodeSelectorTerms": []any{map[string]any{
					"matchExpressions": []any{map[string]any{
						"key": HybridLabel, "operator": "In", "values": []any{HybridValue},
					}},
				}},
			},
		},
	}
}

// HybridNodeSelector is a node selector on the hybrid label.
func HybridNodeSelector() map[string]any {
	return map[string]any{HybridLabel: HybridValue}
}

// RequiresHybridNodes reports whether a pod spec (as unstructured content)
// can only be scheduled on hybrid nodes: a nodeSelector on the hybrid label,
// or a required node affinity whose every term demands it.
func RequiresHybridNodes(podSpec map[string]any) bool {
	if sel, ok := podSpec["nodeSelector"].(map[string]any); ok && sel[HybridLabel] == HybridValue {
		return true
	}
	terms, _, _ := unstructured.NestedSlice(podSpec, "affinity", "nodeAffinity",
		"requiredDuringSchedulingIgnoredDuringExecution", "nodeSelectorTerms")
	if len(terms) == 0 {
		return false
	}
	for _, t := range terms {
		term, _ := t.(map[string]any)
		exprs, _, _ := unstructured.NestedSlice(term, "matchExpressions")
		if !slices.ContainsFunc(exprs, func(e any) bool {
			m, _ := e.(map[string]any)
			vals, _, _ := unstructured.NestedStringSlice(m, "values")
			return m["key"] == HybridLabel && m["operator"] == "In" && slices.Equal(vals, []string{HybridValue})
		}) {
			return false
		}
	}
	return true
}

// PodSpec returns the pod template spec of a workload object, if it has one.
func PodSpec(obj *unstructured.Unstructured) (map[string]any, bool) {
	spec, ok, _ := unstructured.NestedMap(obj.Object, "spec", "template", "spec")
	return spec, ok
}

// Find returns the first object of kind named name, or nil.
func Find(objs []*unstructured.Unstructured, kind, name string) *unstructured.Unstructured {
	for _, o := range objs {
		if o.GetKind() == kind && o.GetName() == name {
			return o
		}
	}
	return nil
}

// Object builds an unstructured object.
func Object(apiVersion, kind, name string, spec map[string]any) *unstructured.Unstructured {
	o := &unstructured.Unstructured{Object: map[string]any{"spec": spec}}
	o.SetAPIVersion(apiVersion)
	o.SetKind(kind)
	o.SetName(name)
	return o
}
