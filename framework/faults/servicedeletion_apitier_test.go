package faults

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/hybridcni/hybridcni/framework/cni"
	"github.com/hybridcni/hybridcni/framework/cni/cnitest"
	"github.com/hybridcni/hybridcni/framework/testenv"
)

// service-deletion-stuck on a real API server: a Service made for BGP
// advertisement while the fault holds, deleted 100 ms after it was created
// (as a check that sees it advertised at once would), stays Terminating;
// one that was there before the fault and one not for advertisement go;
// heal lets the held ones go. Polled every 200 ms, the fault missed such a
// Service about every other time.
func TestServiceDeletionStuckAPITier(t *testing.T) {
	ctx := context.Background()
	target := apiTierTarget(t, 1)
	sc := target.cluster.Kube.CoreV1().Services(target.Namespace())
	svc := func(name string, advertised bool) *corev1.Service {
		s := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: name},
			Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{Port: 80}}}}
		if advertised {
			s.Labels = map[string]string{"advertise": "bgp"}
		}
		return s
	}
	if _, err := sc.Create(ctx, svc("before-the-fault", true), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	heal, _, err := serviceDeletionStuck(ctx, target)
	if err != nil {
		t.Fatal(err)
	}
	healed := false
	t.Cleanup(func() {
		if !healed {
			_ = heal(context.Background())
		}
	})
	createDelete := func(name string, advertised bool) {
		t.Helper()
		if _, err := sc.Create(ctx, svc(name, advertised), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		time.Sleep(100 * time.Millisecond)
		if err := sc.Delete(ctx, name, metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	var held []string
	for i := range 3 {
		name := fmt.Sprintf("advertised-%d", i)
		createDelete(name, true)
		held = append(held, name)
	}
	createDelete("not-advertised", false)
	if err := sc.Delete(ctx, "before-the-fault", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	for _, name := range held {
		s, err := sc.Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			t.Fatalf("Service %s, deleted 100 ms after its creation under the fault: %v; want it held Terminating", name, err)
		}
		if s.DeletionTimestamp == nil || !slices.Contains(s.Finalizers, finalizer) {
			t.Errorf("Service %s: deletion %v, finalizers %v; want Terminating, held by %s", name, s.DeletionTimestamp, s.Finalizers, finalizer)
		}
	}
	for _, name := range []string{"not-advertised", "before-the-fault"} {
		if _, err := sc.Get(ctx, name, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
			t.Errorf("Service %s is no Service the fault holds, yet after its deletion: %v", name, err)
		}
	}
	healed = true
	if err := heal(ctx); err != nil {
		t.Fatalf("heal: %v", err)
	}
	for _, name := range held {
		if _, err := sc.Get(ctx, name, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
			t.Errorf("Service %s after heal: %v; want it gone", name, err)
		}
	}
}

// apiTierTarget is a fault target on a real API server (kwok nodes, no
// CNI) with hybrid hybrid nodes and the workload namespace made; it skips
// without the API tier.
func apiTierTarget(t *testing.T, hybrid int) *liveTarget {
	t.Helper()
	cnitest.RequireAPITier(t)
	env := testenv.StartT(t, testenv.WithHybridNodes(hybrid), testenv.WithCloudNodes(0))
	c, err := cni.NewCluster(env.RESTConfig())
	if err != nil {
		t.Fatal(err)
	}
	var nodes []Node
	for _, n := range env.HybridNodes() {
		nodes = append(nodes, Node{Name: n})
	}
	target := &liveTarget{shellTarget: shellTarget{rules: map[string]int{}}, cluster: c, nodes: nodes}
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: target.Namespace()}}
	if _, err := c.Kube.CoreV1().Namespaces().Create(context.Background(), ns, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	return target
}
