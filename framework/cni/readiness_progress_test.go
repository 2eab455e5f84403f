package cni

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/hybridcni/hybridcni/framework/progress"
)

type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string { l.mu.Lock(); defer l.mu.Unlock(); return l.b.String() }

// A readiness wait that lasts writes progress lines to the run's log,
// naming the node it still waits for.
func TestWaitReadinessReportsProgress(t *testing.T) {
	defer func(d time.Duration) { progress.DefaultInterval = d }(progress.DefaultInterval)
	progress.DefaultInterval = 100 * time.Millisecond

	node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "hybrid-2", Labels: map[string]string{HybridLabel: HybridValue}},
		Status: corev1.NodeStatus{Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionFalse, Message: "cni plugin not initialized"}}}}
	var log lockedBuffer
	spec := ReadinessSpec{HybridNodes: []string{"hybrid-2"}, Settle: -1, Progress: &log, Name: "cilium readiness"}
	_, err := WaitReadiness(context.Background(), &Cluster{Kube: fake.NewClientset(node)}, spec, 2*time.Second)
	if !errors.Is(err, ErrNotReady) {
		t.Fatalf("a NotReady node: %v, want ErrNotReady", err)
	}
	out := log.String()
	wants := []string{"waiting for cilium readiness", "of 2s", "node hybrid-2", "not ready"}
	for _, line := range strings.Split(out, "\n") {
		found := 0
		for _, w := range wants {
			if strings.Contains(line, w) {
				found++
			}
		}
		if found == len(wants) {
			return
		}
	}
	t.Errorf("no progress line says all of %q; log:\n%s", wants, out)
}
