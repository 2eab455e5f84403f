package testenv

import (
	"context"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	k8swait "k8s.io/apimachinery/pkg/util/wait"
)

// A Running pod that the node lifecycle controller marked NotReady (Ready
// False, containers still ready) turns Ready again, as on a kubelet's next
// status sync; a pod whose containers are not ready stays NotReady.
func TestPodReadyAgainAfterNodeControllerMarkedIt(t *testing.T) {
	t.Parallel()
	e := StartT(t, WithoutNetworkGate(), WithHybridNodes(1))
	ctx := context.Background()
	pods := e.Kube().CoreV1().Pods("default")
	node := e.HybridNodes()[0]
	mk := func(name string) *corev1.Pod {
		p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name},
			Spec: corev1.PodSpec{NodeName: node, Containers: []corev1.Container{{Name: "c", Image: "example/c"}},
				Tolerations: []corev1.Toleration{{Operator: corev1.TolerationOpExists}}}}
		if _, err := pods.Create(ctx, p, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		return p
	}
	ready := func(name string) (bool, *corev1.Pod) {
		p, err := pods.Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, nil
		}
		for _, c := range p.Status.Conditions {
			if c.Type == corev1.PodReady {
				return c.Status == corev1.ConditionTrue, p
			}
		}
		return false, p
	}
	waitReady := func(name string, within time.Duration) error {
		return k8swait.PollUntilContextTimeout(ctx, 100*time.Millisecond, within, true, func(context.Context) (bool, error) {
			ok, _ := ready(name)
			return ok, nil
		})
	}
	// mark sets Ready (and, for a crashing pod, ContainersReady) False.
	mark := func(name string, containers bool) {
		_, p := ready(name)
		for i := range p.Status.Conditions {
			c := &p.Status.Conditions[i]
			if c.Type == corev1.PodReady || (containers && c.Type == corev1.ContainersReady) {
				c.Status = corev1.ConditionFalse
			}
		}
		if _, err := pods.UpdateStatus(ctx, p, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	for _, n := range []string{"marked", "crashing"} {
		mk(n)
		if err := waitReady(n, 30*time.Second); err != nil {
			t.Fatalf("pod %s never Ready: %v", n, err)
		}
	}
	mark("marked", false)
	mark("crashing", true)
	if err := waitReady("marked", 15*time.Second); err != nil {
		t.Errorf("pod marked NotReady by the node controller did not turn Ready again: %v", err)
	}
	// Well past the stage's delay: the crashing pod stays NotReady.
	if err := waitReady("crashing", 3*time.Second); err == nil {
		t.Error("a pod whose containers are not ready turned Ready")
	}
}
