package cni

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/restmapper"
	"sigs.k8s.io/e2e-framework/klient/wait"
)

// FieldManager is the server-side apply field manager of the harness.
const FieldManager = "hybridcni"

// ServedVersion asks API discovery which version of group serves kind:
// the group's preferred version when it serves kind, else the first other
// version that does. ok is false when no version serves it.
func ServedVersion(dc discovery.DiscoveryInterface, group, kind string) (version string, ok bool, err error) {
	groups, err := dc.ServerGroups()
	if err != nil {
		return "", false, fmt.Errorf("API discovery: %w", err)
	}
	for _, g := range groups.Groups {
		if g.Name != group {
			continue
		}
		order := []string{g.PreferredVersion.Version}
		for _, v := range g.Versions {
			if v.Version != g.PreferredVersion.Version {
				order = append(order, v.Version)
			}
		}
		for _, v := range order {
			res, err := dc.ServerResourcesForGroupVersion(group + "/" + v)
			if err != nil {
				if apierrors.IsNotFound(err) {
					continue
				}
				return "", false, fmt.Errorf("API discovery of %s/%s: %w", group, v, err)
			}
			for _, r := range res.APIResources {
				if r.Kind == kind {
					return v, true, nil
				}
			}
		}
	}
	return "", false, nil
}

// Mapper returns a REST mapper from fresh discovery.
func (c *Cluster) Mapper() (meta.RESTMapper, error) {
	groups, err := restmapper.GetAPIGroupResources(c.Discovery)
	if err != nil {
		return nil, fmt.Errorf("API discovery: %w", err)
	}
	return restmapper.NewDiscoveryRESTMapper(groups), nil
}

// ResourceFor maps an object to its resource client.
func (c *Cluster) ResourceFor(m meta.RESTMapper, obj *unstructured.Unstructured) (dynamic.ResourceInterface, error) {
	gvk := obj.GroupVersionKind()
	mapping, err := m.RESTMapping(gvk.GroupKind(), gvk.Version)
	if err != nil {
		return nil, fmt.Errorf("%s %s: the cluster does not serve %s: %w", obj.GetKind(), obj.GetName(), gvk.GroupVersion(), err)
	}
	if mapping.Scope.Name() == meta.RESTScopeNameNamespace {
		ns := obj.GetNamespace()
		if ns == "" {
			ns = metav1.NamespaceDefault
		}
		return c.Dynamic.Resource(mapping.Resource).Namespace(ns), nil
	}
	return c.Dynamic.Resource(mapping.Resource), nil
}

// Apply server-side applies objs in order with force-conflicts (the
// harness owns these fields) and returns them as the server stored them.
func (c *Cluster) Apply(ctx context.Context, objs []*unstructured.Unstructured) ([]*unstructured.Unstructured, error) {
	m, err := c.Mapper()
	if err != nil {
		return nil, err
	}
	var out []*unstructured.Unstructured
	for _, o := range objs {
		ri, err := c.ResourceFor(m, o)
		if err != nil {
			return out, err
		}
		data, err := json.Marshal(o.Object)
		if err != nil {
			return out, err
		}
		force := true
		got, err := ri.Patch(ctx, o.GetName(), types.ApplyPatchType, data, metav1.PatchOptions{FieldManager: FieldManager, Force: &force})
		if err != nil {
			return out, fmt.Errorf("server-side apply %s %s: %w", o.GetKind(), o.GetName(), err)
		}
		out = append(out, got)
	}
	return out, nil
}

// CRDGVR is the CustomResourceDefinition resource.
var CRDGVR = schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}

// WaitCRDsEstablished waits until every named CRD reports Established.
func (c *Cluster) WaitCRDsEstablished(ctx context.Context, names []string, timeout time.Duration) error {
	pending := ""
	cond := func(ctx context.Context) (bool, error) {
		for _, n := range names {
			u, err := c.Dynamic.Resource(CRDGVR).Get(ctx, n, metav1.GetOptions{})
			if err != nil {
				pending = n + ": " + err.Error()
				return false, nil
			}
			if !crdCondition(u, "Established") {
				pending = n + ": not Established yet"
				return false, nil
			}
		}
		return true, nil
	}
	wctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if err := wait.For(cond, wait.WithContext(wctx), wait.WithInterval(100*time.Millisecond), wait.WithImmediate()); err != nil {
		return fmt.Errorf("CRDs not established after %s: %s", timeout, pending)
	}
	return nil
}

func crdCondition(u *unstructured.Unstructured, t string) bool {
	conds, _, _ := unstructured.NestedSlice(u.Object, "status", "conditions")
	for _, c := range conds {
		m, _ := c.(map[string]any)
		if m["type"] == t && m["status"] == "True" {
			return true
		}
	}
	return false
}

// WaitServed waits until API discovery shows kind in group, and returns
// the version ServedVersion picks.
func (c *Cluster) WaitServed(ctx context.Context, group, kind string, timeout time.Duration) (string, error) {
	var version string
	var lastErr error
	cond := func(context.Context) (bool, error) {
		v, ok, err := ServedVersion(c.Discovery, group, kind)
		lastErr = err
		version = v
		return ok, nil
	}
	wctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if err := wait.For(cond, wait.WithContext(wctx), wait.WithInterval(200*time.Millisecond), wait.WithImmediate()); err != nil {
		if lastErr != nil {
			return "", fmt.Errorf("%s (%s) not served after %s: %v", kind, group, timeout, lastErr)
		}
		return "", fmt.Errorf("%s (%s) not served after %s", kind, group, timeout)
	}
	return version, nil
}
