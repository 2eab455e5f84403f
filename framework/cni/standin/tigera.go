package standin

import (
	"context"
	"fmt"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/hybridcni/hybridcni/framework/cni"
)

// Finalizers the real tigera-operator sets.
const (
	InstallationFinalizer = "tigera.io/operator-cleanup"
	CNIProtector          = "tigera.io/cni-protector"
)

var (
	installationGVR = schema.GroupVersionResource{Group: "operator.tigera.io", Version: "v1", Resource: "installations"}
	apiServerGVR    = schema.GroupVersionResource{Group: "operator.tigera.io", Version: "v1", Resource: "apiservers"}
)

// TigeraOperator stands in for the tigera-operator, which kwok cannot
// run: when the chart's Installation appears (or changes) it makes what the
// operator makes from it (calico-system with calico-node and
// csi-node-driver DaemonSets, calico-kube-controllers and calico-typha,
// calico-apiserver when an APIServer exists, tigerastatus objects) using
// the node selectors the Installation carries, and puts the operator's
// finalizers on the Installation and the calico-node ServiceAccount. Once
// the Installation is being deleted it stops, as an operator removed by
// `helm uninstall` would: the finalizers stay.
//
// It also plays the guide's dependency of Calico without NAT: when the
// Installation has BGP Enabled and a pool with natOutgoing Disabled, pod
// addresses leave the nodes untranslated and Calico's components cannot
// start until they are advertised. Until a BGPPeer and the BGPConfiguration
// "default" exist (in crd.projectcalico.org or projectcalico.org, whichever
// is served), calico-node's pods are held NotReady and tigerastatus calico
// reports Available=False, Progressing=True with the reason (see
// waitingForBGP).
type TigeraOperator struct {
	c      *cni.Cluster
	cancel context.CancelFunc
	done   chan struct{}
	mu     sync.Mutex
	errs   []error
	// lastErr is the last round's error (nil once a round succeeds).
	lastErr error
	rounds  int
	// Broken names a component whose pods never get a node (its node
	// selector matches nothing), to test failure reporting; see SetBroken.
	Broken string
	// noFinalizers: an operator that finishes its teardown in time.
	noFinalizers bool
}

// TigeraOption configures the stand-in operator.
type TigeraOption func(*TigeraOperator)

// WithoutFinalizers leaves the operator's finalizers off, as when the real
// operator completes its teardown before it is removed.
func WithoutFinalizers() TigeraOption { return func(f *TigeraOperator) { f.noFinalizers = true } }

// WithBroken starts the stand-in with a broken component (see SetBroken).
func WithBroken(component string) TigeraOption {
	return func(f *TigeraOperator) { f.Broken = component }
}

// StartTigeraOperator starts the stand-in; it runs until Close or until
// ctx ends.
func StartTigeraOperator(ctx context.Context, c *cni.Cluster, opts ...TigeraOption) (*TigeraOperator, error) {
	f := &TigeraOperator{c: c, done: make(chan struct{})}
	for _, o := range opts {
		o(f)
	}
	ctx, f.cancel = context.WithCancel(ctx)
	go func() {
		defer close(f.done)
		var seen int64 = -1
		seenBroken := f.broken()
		seenWaiting := "-"
		holding := false
		// The Installation's CRD comes with the chart, so the stand-in
		// looks for the Installation rather than watching a resource that
		// may not exist yet.
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			inst, err := c.Dynamic.Resource(installationGVR).Get(ctx, "default", metav1.GetOptions{})
			b := f.broken()
			if err != nil || inst.GetDeletionTimestamp() != nil {
				continue
			}
			waiting := f.waitingForBGP(ctx, inst)
			if waiting != "" || holding {
				// kwok makes new calico-node pods Ready: hold them, or
				// finish releasing them.
				n, _ := f.holdNodePods(ctx, waiting)
				holding = n > 0
			}
			if inst.GetGeneration() == seen && b == seenBroken && waiting == seenWaiting {
				continue
			}
			if err := f.reconcile(ctx, inst, waiting); err != nil {
				if ctx.Err() == nil {
					f.mu.Lock()
					f.errs = append(f.errs, err)
					f.lastErr = err
					f.mu.Unlock()
				}
				continue
			}
			seen, seenBroken, seenWaiting = inst.GetGeneration(), b, waiting
			f.mu.Lock()
			f.lastErr = nil
			f.mu.Unlock()
		}
	}()
	return f, nil
}

// Close stops the stand-in and returns the error of its last round, if
// that round failed (Errors has them all).
func (f *TigeraOperator) Close() error {
	f.cancel()
	<-f.done
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.lastErr
}

// Rounds is how many times the stand-in reconciled.
func (f *TigeraOperator) Rounds() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.rounds
}

// Errors returns reconcile errors so far.
func (f *TigeraOperator) Errors() []error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]error(nil), f.errs...)
}

func (f *TigeraOperator) reconcile(ctx context.Context, inst *unstructured.Unstructured, waiting string) error {
	sel := func(component string) map[string]any {
		m, _, _ := unstructured.NestedMap(inst.Object, "spec", component, "spec", "template", "spec", "nodeSelector")
		if component == f.broken() {
			return map[string]any{"hybridcni.test/no-such-node": "true"}
		}
		return m
	}
	cp, _, _ := unstructured.NestedMap(inst.Object, "spec", "controlPlaneNodeSelector")
	_, err := f.c.Dynamic.Resource(apiServerGVR).Get(ctx, "default", metav1.GetOptions{})
	apiServer := err == nil
	if err != nil && !apierrors.IsNotFound(err) {
		return err
	}

	objs := []*unstructured.Unstructured{
		obj("v1", "Namespace", "", "calico-system", nil),
		f.nodeServiceAccount(),
		workload("DaemonSet", "calico-system", "calico-node", sel("calicoNodeDaemonSet")),
		workload("DaemonSet", "calico-system", "csi-node-driver", sel("csiNodeDriverDaemonSet")),
		workload("Deployment", "calico-system", "calico-kube-controllers", sel("calicoKubeControllersDeployment")),
		workload("Deployment", "calico-system", "calico-typha", sel("typhaDeployment")),
	}
	if apiServer {
		objs = append(objs,
			obj("v1", "Namespace", "", "calico-apiserver", nil),
			workload("Deployment", "calico-apiserver", "calico-apiserver", cp))
	}
	if _, err := f.c.Apply(ctx, objs); err != nil {
		return fmt.Errorf("tigera-operator stand-in: %w", err)
	}
	if _, err := f.holdNodePods(ctx, waiting); err != nil {
		return err
	}
	if f.noFinalizers {
		return f.statuses(ctx, apiServer, waiting)
	}
	// The operator's finalizer on the Installation.
	fin := obj("operator.tigera.io/v1", "Installation", "", "default", nil)
	fin.SetFinalizers([]string{InstallationFinalizer})
	delete(fin.Object, "spec")
	if _, err := f.c.Apply(ctx, []*unstructured.Unstructured{fin}); err != nil {
		return fmt.Errorf("tigera-operator stand-in: finalizer: %w", err)
	}
	return f.statuses(ctx, apiServer, waiting)
}

// nodeServiceAccount is calico-node's ServiceAccount, with the finalizer
// the operator puts on it.
func (f *TigeraOperator) nodeServiceAccount() *unstructured.Unstructured {
	sa := obj("v1", "ServiceAccount", "calico-system", "calico-node", nil)
	if !f.noFinalizers {
		sa.SetFinalizers([]string{CNIProtector})
	}
	return sa
}

func (f *TigeraOperator) statuses(ctx context.Context, apiServer bool, waiting string) error {
	if err := f.setTigeraStatus(ctx, "calico", waiting); err != nil {
		return err
	}
	if apiServer {
		if err := f.setTigeraStatus(ctx, "apiserver", ""); err != nil {
			return err
		}
	}
	f.mu.Lock()
	f.rounds++
	f.mu.Unlock()
	return nil
}

// setTigeraStatus reports component name Available, or, with a waiting
// reason, Available=False and Progressing=True with that reason.
func (f *TigeraOperator) setTigeraStatus(ctx context.Context, name, waiting string) error {
	ri := f.c.Dynamic.Resource(cni.TigeraStatusGVR)
	u, err := ri.Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		u, err = ri.Create(ctx, obj("operator.tigera.io/v1", "TigeraStatus", "", name, map[string]any{}), metav1.CreateOptions{})
	}
	if err != nil {
		return fmt.Errorf("tigera-operator stand-in: tigerastatus %s: %w", name, err)
	}
	now := time.Now().UTC().Format(time.RFC3339)
	cond := func(t, s, reason, msg string) map[string]any {
		return map[string]any{"type": t, "status": s, "reason": reason, "message": msg, "lastTransitionTime": now}
	}
	if waiting == "" {
		u.Object["status"] = map[string]any{"conditions": []any{
			cond("Available", "True", "AllObjectsAvailable", "All objects available"),
			cond("Progressing", "False", "AllObjectsAvailable", ""),
			cond("Degraded", "False", "AllObjectsAvailable", ""),
		}}
	} else {
		u.Object["status"] = map[string]any{"conditions": []any{
			cond("Available", "False", "ResourceNotReady", waiting),
			cond("Progressing", "True", "ResourceNotReady", waiting),
			cond("Degraded", "False", "ResourceNotReady", ""),
		}}
	}
	_, err = ri.UpdateStatus(ctx, u, metav1.UpdateOptions{})
	return err
}

// SetTigeraStatus sets a condition on a tigerastatus (to fake a degraded operator).
func SetTigeraStatus(ctx context.Context, c *cni.Cluster, name, condType, status, msg string) error {
	ri := c.Dynamic.Resource(cni.TigeraStatusGVR)
	u, err := ri.Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return err
	}
	conds, _, _ := unstructured.NestedSlice(u.Object, "status", "conditions")
	for i, x := range conds {
		m := x.(map[string]any)
		if m["type"] == condType {
			m["status"], m["message"] = status, msg
			conds[i] = m
		}
	}
	if err := unstructured.SetNestedSlice(u.Object, conds, "status", "conditions"); err != nil {
		return err
	}
	_, err = ri.UpdateStatus(ctx, u, metav1.UpdateOptions{})
	return err
}

func obj(apiVersion, kind, ns, name string, spec map[string]any) *unstructured.Unstructured {
	u := &unstructured.Unstructured{Object: map[string]any{}}
	if spec != nil {
		u.Object["spec"] = spec
	}
	u.SetAPIVersion(apiVersion)
	u.SetKind(kind)
	u.SetNamespace(ns)
	u.SetName(name)
	return u
}

// workload is a DaemonSet or one-replica Deployment whose pods carry
// k8s-app: name, placed by nodeSelector.
func workload(kind, ns, name string, nodeSelector map[string]any) *unstructured.Unstructured {
	podSpec := map[string]any{
		"containers":  []any{map[string]any{"name": name, "image": "quay.io/calico/" + name + ":fake"}},
		"tolerations": []any{map[string]any{"operator": "Exists"}},
	}
	if len(nodeSelector) > 0 {
		podSpec["nodeSelector"] = nodeSelector
	}
	spec := map[string]any{
		"selector": map[string]any{"matchLabels": map[string]any{"k8s-app": name}},
		"template": map[string]any{
			"metadata": map[string]any{"labels": map[string]any{"k8s-app": name}},
			"spec":     podSpec,
		},
	}
	if kind == "Deployment" {
		spec["replicas"] = int64(1)
	}
	return obj("apps/v1", kind, ns, name, spec)
}

// SetBroken changes the broken component; the stand-in reconciles again.
func (f *TigeraOperator) SetBroken(component string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.Broken = component
}

func (f *TigeraOperator) broken() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.Broken
}
