package cni

import (
	"context"
	"errors"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	dynfake "k8s.io/client-go/dynamic/fake"
	k8stesting "k8s.io/client-go/testing"
)

// A CRD whose finalizer backs off while its instances cannot be listed
// (storage reinitializing) is woken with an annotation, at most every
// crdNudgeEvery, and the report says so.
func TestUnblockCRDNudgesABackingOffFinalizer(t *testing.T) {
	crd := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
		"metadata": map[string]any{"name": "bgppeers.crd.projectcalico.org", "finalizers": []any{crdCleanupFinalizer}},
		"spec": map[string]any{"group": "crd.projectcalico.org", "names": map[string]any{"plural": "bgppeers"},
			"versions": []any{map[string]any{"name": "v1", "storage": true}}},
		"status": map[string]any{"conditions": []any{map[string]any{"type": "Terminating", "reason": "InstanceDeletionFailed",
			"lastTransitionTime": time.Now().Add(-time.Minute).UTC().Format(time.RFC3339)}}},
	}}
	peers := schema.GroupVersionResource{Group: "crd.projectcalico.org", Version: "v1", Resource: "bgppeers"}
	dc := dynfake.NewSimpleDynamicClientWithCustomListKinds(runtime.NewScheme(),
		map[schema.GroupVersionResource]string{CRDGVR: "CustomResourceDefinitionList", peers: "BGPPeerList"}, crd)
	dc.PrependReactor("list", "bgppeers", func(k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, errors.New("storage is (re)initializing")
	})
	c := &Cluster{Dynamic: dc}
	rep := &CleanupReport{}
	ctx := context.Background()
	c.unblockCRD(ctx, crd, rep)
	c.unblockCRD(ctx, crd, rep)
	got, err := dc.Resource(CRDGVR).Get(ctx, crd.GetName(), metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got.GetAnnotations()["hybridcni.dev/cleanup-nudge"] == "" {
		t.Errorf("the CRD was not nudged: %v", got.GetAnnotations())
	}
	if len(rep.Nudged) != 1 || len(rep.FinalizersRemoved) != 0 {
		t.Errorf("report: nudged %v (want once), finalizers removed %v (want none: instances unknown)", rep.Nudged, rep.FinalizersRemoved)
	}
}
