package diagnostics

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
)

func read(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

func TestKubernetesCollectsNodesPodsLogsAndEvents(t *testing.T) {
	cs := fake.NewSimpleClientset(
		&corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "hybrid-1", Labels: map[string]string{"eks.amazonaws.com/compute-type": "hybrid"}},
			Status: corev1.NodeStatus{Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionFalse, Reason: "NetworkPluginNotReady"}}}},
		&corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "cilium-abcde", Namespace: "kube-system"},
			Spec: corev1.PodSpec{NodeName: "hybrid-1", Containers: []corev1.Container{{Name: "cilium-agent"}}},
			Status: corev1.PodStatus{Phase: corev1.PodPending, ContainerStatuses: []corev1.ContainerStatus{{Name: "cilium-agent", RestartCount: 3,
				State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "CrashLoopBackOff"}}}}}},
		&corev1.Event{ObjectMeta: metav1.ObjectMeta{Name: "e1", Namespace: "kube-system"}, Type: "Warning", Reason: "BackOff",
			InvolvedObject: corev1.ObjectReference{Kind: "Pod", Name: "cilium-abcde"}, Message: "Back-off restarting failed container"},
	)
	dir := t.TempDir()
	if err := Collect(context.Background(), dir, Kubernetes{Client: cs, Namespaces: []string{"kube-system"}}); err != nil {
		t.Fatal(err)
	}
	k := filepath.Join(dir, "kubernetes")
	if s := read(t, filepath.Join(k, "nodes.txt")); !strings.Contains(s, "hybrid-1") || !strings.Contains(s, "False (NetworkPluginNotReady)") {
		t.Errorf("nodes.txt:\n%s", s)
	}
	if s := read(t, filepath.Join(k, "kube-system", "pods.txt")); !strings.Contains(s, "cilium-agent: CrashLoopBackOff") {
		t.Errorf("pods.txt:\n%s", s)
	}
	if s := read(t, filepath.Join(k, "kube-system", "events.txt")); !strings.Contains(s, "pod/cilium-abcde: Back-off restarting") {
		t.Errorf("events.txt:\n%s", s)
	}
	for _, f := range []string{"cilium-abcde.cilium-agent.log", "cilium-abcde.cilium-agent.previous.log"} {
		if _, err := os.Stat(filepath.Join(k, "kube-system", "logs", f)); err != nil {
			t.Errorf("log %s: %v", f, err)
		}
	}
}

func TestCollectKeepsGoingPastAFailingSource(t *testing.T) {
	dir := t.TempDir()
	ran := false
	err := Collect(context.Background(), dir,
		SourceFunc{N: "router", F: func(context.Context, string) error { return errors.New("router API unreachable") }},
		SourceFunc{N: "probes", F: func(_ context.Context, d string) error {
			ran = true
			return os.WriteFile(filepath.Join(d, "table.txt"), []byte("OK"), 0o644)
		}},
	)
	if err == nil || !strings.Contains(err.Error(), "router: router API unreachable") {
		t.Fatalf("error %v should name the failing source", err)
	}
	if !ran {
		t.Fatal("a failing source stopped the others")
	}
	if s := read(t, filepath.Join(dir, "router", "ERROR.txt")); !strings.Contains(s, "unreachable") {
		t.Errorf("ERROR.txt = %q", s)
	}
}
