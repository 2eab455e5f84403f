package cni

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/discovery"
	"sigs.k8s.io/e2e-framework/klient/wait"
)

// CleanupOptions say what a CNI leaves behind after uninstall.
type CleanupOptions struct {
	// MatchCRD selects the CRDs to delete by name.
	MatchCRD func(name string) bool
	// Namespaces the CNI's operator created (deleted when present).
	Namespaces []string
	// Timeout bounds each wait for deletion.
	Timeout time.Duration
	// RemoveFinalizers strips finalizers still holding objects after the
	// wait (their controller is gone), then waits once more (Timeout).
	RemoveFinalizers bool
	// FinalizerGrace bounds the first wait when RemoveFinalizers is set
	// (the owners' last chance); 0 means Timeout.
	FinalizerGrace time.Duration
}

// Stuck is an object deletion could not finish.
type Stuck struct {
	Object     string
	Finalizers []string
	Why        string
}

func (s Stuck) String() string {
	out := s.Object
	if len(s.Finalizers) > 0 {
		out += " held by finalizers " + strings.Join(s.Finalizers, ", ")
	}
	if s.Why != "" {
		out += ": " + s.Why
	}
	return out
}

// CleanupReport says what cleanup removed and what is stuck.
type CleanupReport struct {
	CRDs              []string
	Namespaces        []string
	FinalizersRemoved []string
	// Nudged are CRDs whose backing-off finalizer was woken (bounded, reported).
	Nudged  []string `json:",omitempty"`
	Stuck   []Stuck
	Timings Timings

	nudgedAt map[string]time.Time
}

// Err is nil when nothing is stuck, else an error naming every stuck object.
func (r *CleanupReport) Err() error {
	if r == nil || len(r.Stuck) == 0 {
		return nil
	}
	lines := make([]string, len(r.Stuck))
	held := false
	for i, s := range r.Stuck {
		lines[i] = "  - " + s.String()
		held = held || len(s.Finalizers) > 0
	}
	advice := "the API server is still deleting them: rerun cleanup with a longer --timeout"
	if held {
		advice = "the controller that owns these finalizers is gone: rerun cleanup with --remove-finalizers to strip them, or remove them by hand"
	}
	return fmt.Errorf("cleanup incomplete, %d object(s) stuck:\n%s\n%s", len(r.Stuck), strings.Join(lines, "\n"), advice)
}

// Cleanup deletes the matching CRDs (and with them every custom resource)
// and the operator's namespaces, waits (bounded) for them to go, and
// reports what finalizers keep alive.
func Cleanup(ctx context.Context, c *Cluster, o CleanupOptions) (*CleanupReport, error) {
	sw := StartStopwatch()
	if o.Timeout <= 0 {
		o.Timeout = 2 * time.Minute
	}
	rep := &CleanupReport{}
	crds, err := c.Dynamic.Resource(CRDGVR).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, fmt.Errorf("list CRDs: %w", err)
	}
	for _, u := range crds.Items {
		if o.MatchCRD != nil && o.MatchCRD(u.GetName()) {
			rep.CRDs = append(rep.CRDs, u.GetName())
		}
	}
	sort.Strings(rep.CRDs)
	for _, ns := range o.Namespaces {
		_, err := c.Kube.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("get namespace %s: %w", ns, err)
		}
		rep.Namespaces = append(rep.Namespaces, ns)
	}
	bg := metav1.DeletePropagationBackground
	for _, ns := range rep.Namespaces {
		if err := c.Kube.CoreV1().Namespaces().Delete(ctx, ns, metav1.DeleteOptions{PropagationPolicy: &bg}); err != nil && !apierrors.IsNotFound(err) {
			return rep, fmt.Errorf("delete namespace %s: %w", ns, err)
		}
	}
	for _, n := range rep.CRDs {
		if err := c.Dynamic.Resource(CRDGVR).Delete(ctx, n, metav1.DeleteOptions{PropagationPolicy: &bg}); err != nil && !apierrors.IsNotFound(err) {
			return rep, fmt.Errorf("delete CRD %s: %w", n, err)
		}
	}
	gone := func(d time.Duration) error {
		return sw.Wait(func() error { return c.waitGone(ctx, rep.CRDs, rep.Namespaces, d, rep) })
	}
	first := o.Timeout
	if o.RemoveFinalizers && o.FinalizerGrace > 0 {
		first = o.FinalizerGrace
	}
	if gone(first) == nil {
		rep.Timings = sw.Timings()
		return rep, nil
	}
	stuck, refs, err := c.findStuck(ctx, rep.CRDs, rep.Namespaces)
	if err != nil {
		return rep, err
	}
	if o.RemoveFinalizers && len(refs) > 0 {
		for _, ref := range refs {
			if err := ref.stripFinalizers(ctx, c); err != nil {
				return rep, err
			}
			rep.FinalizersRemoved = append(rep.FinalizersRemoved, ref.describe())
		}
		if gone(o.Timeout) == nil {
			rep.Timings = sw.Timings()
			return rep, nil
		}
		if stuck, _, err = c.findStuck(ctx, rep.CRDs, rep.Namespaces); err != nil {
			return rep, err
		}
	}
	rep.Stuck = stuck
	rep.Timings = sw.Timings()
	return rep, rep.Err()
}

// crdCleanupFinalizer is the API server's own CRD finalizer: it deletes the
// custom resources, then lets the CRD go.
const crdCleanupFinalizer = "customresourcecleanup.apiextensions.k8s.io"

// crdBackoffGrace is how long a CRD may sit Terminating with
// InstanceDeletionFailed before cleanup checks it for instances itself.
const crdBackoffGrace = 5 * time.Second

// unblockCRD handles a known API server delay: the CRD finalizer fails
// with "storage is (re)initializing" and backs off for minutes. When the
// CRD holds nothing but that finalizer and a list shows no instance left,
// the finalizer has nothing to do: remove it, and say so in the report.
func (c *Cluster) unblockCRD(ctx context.Context, u *unstructured.Unstructured, rep *CleanupReport) {
	if fins := u.GetFinalizers(); len(fins) != 1 || fins[0] != crdCleanupFinalizer {
		return
	}
	reason, since := "", time.Time{}
	conds, _, _ := unstructured.NestedSlice(u.Object, "status", "conditions")
	for _, x := range conds {
		m, _ := x.(map[string]any)
		if m["type"] == "Terminating" {
			reason, _ = m["reason"].(string)
			ts, _ := m["lastTransitionTime"].(string)
			since, _ = time.Parse(time.RFC3339, ts)
		}
	}
	if reason != "InstanceDeletionFailed" || time.Since(since) < crdBackoffGrace {
		return
	}
	group, _, _ := unstructured.NestedString(u.Object, "spec", "group")
	plural, _, _ := unstructured.NestedString(u.Object, "spec", "names", "plural")
	gvr := schema.GroupVersionResource{Group: group, Version: storageVersion(u), Resource: plural}
	list, err := c.Dynamic.Resource(gvr).List(ctx, metav1.ListOptions{Limit: 1})
	if err != nil {
		// The instances cannot be listed yet either (storage still
		// reinitializing): wake the finalizer, whose retry has backed off
		// for minutes, with a metadata change; at most every crdNudgeEvery.
		c.nudgeCRD(ctx, u.GetName(), rep)
		return
	}
	if len(list.Items) > 0 {
		return
	}
	ref := objRef{gvr: CRDGVR, kind: "CRD", name: u.GetName(), finalizers: u.GetFinalizers()}
	if ref.stripFinalizers(ctx, c) == nil {
		rep.FinalizersRemoved = append(rep.FinalizersRemoved,
			ref.describe()+": no instances left; the API server's finalizer was backing off (InstanceDeletionFailed)")
	}
}

// crdNudgeEvery spaces the wake-ups of one CRD's finalizer.
const crdNudgeEvery = 10 * time.Second

// nudgeCRD annotates a terminating CRD: an update puts it back at the head
// of the API server's finalizer queue (its failures are retried with
// exponential backoff). Infrastructure retry: bounded by the cleanup's wait
// and listed in the report.
func (c *Cluster) nudgeCRD(ctx context.Context, name string, rep *CleanupReport) {
	if rep.nudgedAt == nil {
		rep.nudgedAt = map[string]time.Time{}
	}
	if time.Since(rep.nudgedAt[name]) < crdNudgeEvery {
		return
	}
	rep.nudgedAt[name] = time.Now()
	patch := fmt.Sprintf(`{"metadata":{"annotations":{"hybridcni.dev/cleanup-nudge":%q}}}`, time.Now().UTC().Format(time.RFC3339Nano))
	if _, err := c.Dynamic.Resource(CRDGVR).Patch(ctx, name, types.MergePatchType, []byte(patch), metav1.PatchOptions{}); err == nil {
		rep.Nudged = append(rep.Nudged, "CRD "+name)
	}
}

func (c *Cluster) waitGone(ctx context.Context, crds, namespaces []string, timeout time.Duration, rep *CleanupReport) error {
	cond := func(ctx context.Context) (bool, error) {
		for _, n := range crds {
			u, err := c.Dynamic.Resource(CRDGVR).Get(ctx, n, metav1.GetOptions{})
			if apierrors.IsNotFound(err) {
				continue
			}
			if err == nil && rep != nil {
				c.unblockCRD(ctx, u, rep)
			}
			return false, nil
		}
		for _, ns := range namespaces {
			if _, err := c.Kube.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
				return false, nil
			}
		}
		return true, nil
	}
	wctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	return wait.For(cond, wait.WithContext(wctx), wait.WithInterval(200*time.Millisecond), wait.WithImmediate())
}

// objRef is an object whose finalizers hold a deletion.
type objRef struct {
	gvr        schema.GroupVersionResource
	kind       string
	namespace  string
	name       string
	finalizers []string
}

func (r objRef) describe() string {
	s := r.kind + " "
	if r.namespace != "" {
		s += r.namespace + "/"
	}
	return s + r.name + " (" + strings.Join(r.finalizers, ", ") + ")"
}

func (r objRef) stripFinalizers(ctx context.Context, c *Cluster) error {
	patch := []byte(`{"metadata":{"finalizers":null}}`)
	ri := c.Dynamic.Resource(r.gvr)
	var err error
	if r.namespace != "" {
		_, err = ri.Namespace(r.namespace).Patch(ctx, r.name, types.MergePatchType, patch, metav1.PatchOptions{})
	} else {
		_, err = ri.Patch(ctx, r.name, types.MergePatchType, patch, metav1.PatchOptions{})
	}
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("remove finalizers of %s: %w", r.describe(), err)
	}
	return nil
}

// findStuck names the remaining CRDs and namespaces and the objects whose
// finalizers hold them.
func (c *Cluster) findStuck(ctx context.Context, crds, namespaces []string) ([]Stuck, []objRef, error) {
	var stuck []Stuck
	var refs []objRef
	seen := map[string]bool{}
	add := func(r objRef, why string) {
		key := r.gvr.String() + "/" + r.namespace + "/" + r.name
		if seen[key] {
			return
		}
		seen[key] = true
		refs = append(refs, r)
		obj := r.kind + " " + r.name
		if r.namespace != "" {
			obj = r.kind + " " + r.namespace + "/" + r.name
		}
		stuck = append(stuck, Stuck{Object: obj, Finalizers: r.finalizers, Why: why})
	}
	for _, n := range crds {
		u, err := c.Dynamic.Resource(CRDGVR).Get(ctx, n, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			continue
		}
		if err != nil {
			return nil, nil, fmt.Errorf("get CRD %s: %w", n, err)
		}
		group, _, _ := unstructured.NestedString(u.Object, "spec", "group")
		plural, _, _ := unstructured.NestedString(u.Object, "spec", "names", "plural")
		kind, _, _ := unstructured.NestedString(u.Object, "spec", "names", "kind")
		version := storageVersion(u)
		held := 0
		if version != "" {
			gvr := schema.GroupVersionResource{Group: group, Version: version, Resource: plural}
			list, err := c.Dynamic.Resource(gvr).List(ctx, metav1.ListOptions{})
			if err == nil {
				for _, it := range list.Items {
					if len(it.GetFinalizers()) > 0 {
						held++
						add(objRef{gvr: gvr, kind: kind, namespace: it.GetNamespace(), name: it.GetName(), finalizers: it.GetFinalizers()},
							"keeps CRD "+n+" from being deleted")
					}
				}
			}
		}
		if held == 0 {
			// Only the API server's own finalizer: still deleting, nothing holds it.
			stuck = append(stuck, Stuck{Object: "CRD " + n, Why: "still being deleted: " + crdTerminatingMessage(u)})
		}
	}
	for _, ns := range namespaces {
		nsObj, err := c.Kube.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			continue
		}
		if err != nil {
			return nil, nil, fmt.Errorf("get namespace %s: %w", ns, err)
		}
		held, err := c.finalizedIn(ctx, ns)
		if err != nil {
			return nil, nil, err
		}
		for _, r := range held {
			add(r, "keeps namespace "+ns+" Terminating")
		}
		if len(held) == 0 {
			stuck = append(stuck, Stuck{Object: "namespace " + ns, Why: "still being deleted: " + namespaceMessage(nsObj)})
		}
	}
	return stuck, refs, nil
}

// finalizedIn lists the objects in namespace ns that carry finalizers.
func (c *Cluster) finalizedIn(ctx context.Context, ns string) ([]objRef, error) {
	lists, err := c.Discovery.ServerPreferredNamespacedResources()
	if err != nil && !discovery.IsGroupDiscoveryFailedError(err) {
		return nil, fmt.Errorf("API discovery: %w", err)
	}
	var out []objRef
	for _, l := range lists {
		gv, err := schema.ParseGroupVersion(l.GroupVersion)
		if err != nil {
			continue
		}
		for _, r := range l.APIResources {
			if strings.Contains(r.Name, "/") || !hasVerb(r.Verbs, "list") || (gv.Group == "" && r.Name == "events") || gv.Group == "events.k8s.io" {
				continue
			}
			gvr := gv.WithResource(r.Name)
			list, err := c.Dynamic.Resource(gvr).Namespace(ns).List(ctx, metav1.ListOptions{})
			if err != nil {
				continue
			}
			for _, it := range list.Items {
				if len(it.GetFinalizers()) > 0 {
					out = append(out, objRef{gvr: gvr, kind: r.Kind, namespace: ns, name: it.GetName(), finalizers: it.GetFinalizers()})
				}
			}
		}
	}
	return out, nil
}

func hasVerb(verbs []string, v string) bool {
	for _, x := range verbs {
		if x == v {
			return true
		}
	}
	return false
}

func storageVersion(crd *unstructured.Unstructured) string {
	vs, _, _ := unstructured.NestedSlice(crd.Object, "spec", "versions")
	first := ""
	for _, v := range vs {
		m, _ := v.(map[string]any)
		name, _ := m["name"].(string)
		if first == "" {
			first = name
		}
		if s, _ := m["storage"].(bool); s {
			return name
		}
	}
	return first
}

func crdTerminatingMessage(u *unstructured.Unstructured) string {
	conds, _, _ := unstructured.NestedSlice(u.Object, "status", "conditions")
	for _, c := range conds {
		m, _ := c.(map[string]any)
		if m["type"] == "Terminating" {
			msg, _ := m["message"].(string)
			return "Terminating: " + msg
		}
	}
	if u.GetDeletionTimestamp() != nil {
		return "Terminating"
	}
	return "still present"
}

func namespaceMessage(ns *corev1.Namespace) string {
	var msgs []string
	for _, c := range ns.Status.Conditions {
		if c.Status == corev1.ConditionTrue && c.Message != "" {
			msgs = append(msgs, c.Message)
		}
	}
	if len(msgs) == 0 {
		return "phase " + string(ns.Status.Phase)
	}
	return strings.Join(msgs, "; ")
}
