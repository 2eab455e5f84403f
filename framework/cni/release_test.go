package cni

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

func agentRelease(objs ...any) (*Release, *fake.Clientset) {
	sel := &metav1.LabelSelector{MatchLabels: map[string]string{"k8s-app": "agent"}}
	ds := &appsv1.DaemonSet{ObjectMeta: metav1.ObjectMeta{Name: "agent", Namespace: "kube-system"}, Spec: appsv1.DaemonSetSpec{Selector: sel}}
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "agent-x1", Namespace: "kube-system", Labels: map[string]string{"k8s-app": "agent"}}}
	other := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "coredns-1", Namespace: "kube-system", Labels: map[string]string{"k8s-app": "kube-dns"}}}
	kc := fake.NewClientset(ds, pod, other)
	r := &Release{Cluster: &Cluster{Kube: kc}, Options: Options{Timeout: 2 * time.Second}, Name: "agent",
		Spec: func(context.Context) ReadinessSpec {
			return ReadinessSpec{Workloads: []Workload{{Kind: KindDaemonSet, Namespace: "kube-system", Name: "agent", Agent: true}}}
		}}
	return r, kc
}

// Uninstall waits for the agent's pods, not for other pods, and names the
// ones that outlive the wait.
func TestWaitPodsGone(t *testing.T) {
	ctx := context.Background()
	r, kc := agentRelease()
	sets := r.workloadPods(ctx)
	if len(sets) != 1 || sets[0].selector != "k8s-app=agent" {
		t.Fatalf("workload pods = %+v", sets)
	}
	err := r.waitPodsGone(ctx, sets)
	if err == nil || !strings.Contains(err.Error(), "pod kube-system/agent-x1 of DaemonSet kube-system/agent") || strings.Contains(err.Error(), "coredns") {
		t.Fatalf("a pod that never goes: %v", err)
	}
	go func() {
		time.Sleep(300 * time.Millisecond)
		_ = kc.CoreV1().Pods("kube-system").Delete(ctx, "agent-x1", metav1.DeleteOptions{})
	}()
	if err := r.waitPodsGone(ctx, sets); err != nil {
		t.Fatalf("the pod went, yet: %v", err)
	}
}
