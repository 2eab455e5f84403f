package suites

import (
	"context"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
)

// A Service with no pod whose Deployment is scaled to zero fails once
// scaledToZeroFor ran out, naming the Deployment, not after noBackend; one
// whose Deployment still wants replicas waits noBackend.
func TestWaitServiceReadyScaledToZero(t *testing.T) {
	defer func(d time.Duration) { scaledToZeroFor = d }(scaledToZeroFor)
	scaledToZeroFor = time.Second
	const within, noBackend = 20 * time.Second, 6 * time.Second
	cluster := func(replicas int32) *fake.Clientset {
		sel := map[string]string{"k8s-app": "kube-dns"}
		return fake.NewClientset(
			&corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "kube-dns", Namespace: "kube-system"},
				Spec: corev1.ServiceSpec{Selector: sel}},
			&appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "coredns", Namespace: "kube-system"},
				Spec: appsv1.DeploymentSpec{Replicas: &replicas, Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: sel}}}},
			// Another Deployment of the namespace, selected by nothing.
			&appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "other", Namespace: "kube-system"},
				Spec: appsv1.DeploymentSpec{Replicas: new(int32), Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "x"}}}}},
		)
	}
	ctx := context.Background()

	start := time.Now()
	err := waitServiceReady(ctx, cluster(0), "kube-system", "kube-dns", within, noBackend)
	took := time.Since(start)
	if err == nil || !strings.Contains(err.Error(), "Deployment kube-system/coredns scaled to 0 replicas") || strings.Contains(err.Error(), "other") {
		t.Fatalf("scaled to zero: %v, want a failure naming Deployment kube-system/coredns only", err)
	}
	if took < scaledToZeroFor || took >= noBackend {
		t.Errorf("scaled to zero: failed after %s, want after %s and before noBackend %s", took, scaledToZeroFor, noBackend)
	}

	start = time.Now()
	err = waitServiceReady(ctx, cluster(2), "kube-system", "kube-dns", within, noBackend)
	took = time.Since(start)
	if err == nil || strings.Contains(err.Error(), "scaled to 0") || took < noBackend {
		t.Fatalf("a Deployment wanting 2 replicas: %v after %s, want the no-pod failure after %s", err, took, noBackend)
	}
}
