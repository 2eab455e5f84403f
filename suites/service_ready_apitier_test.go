package suites

import (
	"context"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/hybridcni/hybridcni/framework/cni/cnitest"
	"github.com/hybridcni/hybridcni/framework/testenv"
)

// waitServiceReady on a real API server (kwok pods): a Service whose
// selector matches no pod (coredns scaled to 0) fails once noBackend ran
// out, naming the selector, not after the whole wait; one whose pod exists
// but is not ready (Pending on a node nobody runs) waits the whole time; one
// with a ready pod passes.
func TestWaitServiceReadyAPITier(t *testing.T) {
	cnitest.RequireAPITier(t)
	ctx := context.Background()
	// A cloud node is Ready without a CNI (no network gate): kwok runs its pods.
	env := testenv.StartT(t, testenv.WithHybridNodes(1), testenv.WithCloudNodes(1))
	kube := env.Kube()
	const ns = "svc-ready"
	if _, err := kube.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	service := func(name string) {
		t.Helper()
		svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
			Spec: corev1.ServiceSpec{Selector: map[string]string{"app": name}, Ports: []corev1.ServicePort{{Port: 53}}}}
		if _, err := kube.CoreV1().Services(ns).Create(ctx, svc, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	pod := func(name, node string) {
		t.Helper()
		p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: map[string]string{"app": name}},
			Spec: corev1.PodSpec{NodeName: node, Tolerations: []corev1.Toleration{{Operator: corev1.TolerationOpExists}},
				Containers: []corev1.Container{{Name: "c", Image: "dns:test"}}}}
		if _, err := kube.CoreV1().Pods(ns).Create(ctx, p, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	const within, noBackend = 12 * time.Second, 2 * time.Second

	service("scaled-to-zero")
	start := time.Now()
	err := waitServiceReady(ctx, kube, ns, "scaled-to-zero", within, noBackend)
	took := time.Since(start)
	if err == nil || !strings.Contains(err.Error(), "no pod matches its selector app=scaled-to-zero") {
		t.Fatalf("no pod: %v, want a failure naming the selector", err)
	}
	if took < noBackend || took >= within {
		t.Errorf("no pod: failed after %s, want after %s and before %s", took, noBackend, within)
	}
	t.Logf("no pod, after %s: %v", took.Round(time.Millisecond), err)

	service("pending")
	pod("pending", "no-such-node")
	start = time.Now()
	err = waitServiceReady(ctx, kube, ns, "pending", within, noBackend)
	if err == nil || !strings.Contains(err.Error(), "not ready within") || time.Since(start) < within {
		t.Fatalf("a pod not ready: %v after %s, want the whole wait %s", err, time.Since(start), within)
	}

	service("ready")
	pod("ready", env.CloudNodes()[0])
	if err := waitServiceReady(ctx, kube, ns, "ready", time.Minute, noBackend); err != nil {
		t.Fatalf("a ready pod: %v", err)
	}
}
