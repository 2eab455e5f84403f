package cni

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/fake"
)

func readyNode(name string, hybrid bool) *corev1.Node {
	n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{}},
		Status: corev1.NodeStatus{Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue}}}}
	if hybrid {
		n.Labels[HybridLabel] = HybridValue
	}
	return n
}

func agentSet(name string, desired int32) *appsv1.DaemonSet {
	return &appsv1.DaemonSet{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "kube-system", UID: types.UID("ds-" + name)},
		Spec:   appsv1.DaemonSetSpec{Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"k8s-app": name}}},
		Status: appsv1.DaemonSetStatus{DesiredNumberScheduled: desired, NumberReady: desired, UpdatedNumberScheduled: desired}}
}

func agentPod(ds *appsv1.DaemonSet, name, node string) *corev1.Pod {
	return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ds.Namespace, UID: types.UID("pod-" + name), Labels: ds.Spec.Selector.MatchLabels,
		OwnerReferences: []metav1.OwnerReference{{UID: ds.UID, Kind: "DaemonSet", Name: ds.Name}}},
		Spec: corev1.PodSpec{NodeName: node},
		Status: corev1.PodStatus{Phase: corev1.PodRunning,
			Conditions:        []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}},
			ContainerStatuses: []corev1.ContainerStatus{{Name: "agent", Ready: true}}}}
}

// An operator scaled to 0, a DaemonSet that desires no pod, and a
// configured hybrid node that is missing or unlabelled are not ready.
func TestReadinessRefusesZeroReplicasNoPodsAndMissingNodes(t *testing.T) {
	zero := int32(0)
	op := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "operator", Namespace: "kube-system"},
		Spec:   appsv1.DeploymentSpec{Replicas: &zero, Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "operator"}}},
		Status: appsv1.DeploymentStatus{}}
	agent := agentSet("agent", 1)
	csi := agentSet("csi", 0)
	kube := fake.NewClientset(readyNode("h-1", true), readyNode("cloud-1", false), agent, agentPod(agent, "agent-a", "h-1"), csi, op)
	spec := ReadinessSpec{
		Workloads: []Workload{
			{Kind: KindDaemonSet, Namespace: "kube-system", Name: "agent", Agent: true},
			{Kind: KindDaemonSet, Namespace: "kube-system", Name: "csi"},
			{Kind: KindDeployment, Namespace: "kube-system", Name: "operator", HybridOnly: true},
		},
		HybridNodes: []string{"h-1", "h-2", "cloud-1"},
	}
	r, err := CheckReadiness(context.Background(), &Cluster{Kube: kube}, spec)
	if err != nil {
		t.Fatal(err)
	}
	msg := r.Err().Error()
	for _, want := range []struct{ object, reason, detail string }{
		{"Deployment kube-system/operator", ReasonScaledToZero, "spec.replicas is 0"},
		{"DaemonSet kube-system/csi", ReasonNoPods, "desiredNumberScheduled is 0"},
		{"node h-2", ReasonMissing, "a configured hybrid node is not registered (1 hybrid nodes listed: h-1)"},
		{"node cloud-1", ReasonNotHybrid, "lacks the label eks.amazonaws.com/compute-type=hybrid"},
	} {
		if !r.Has(want.object, want.reason) || !strings.Contains(msg, want.detail) {
			t.Errorf("no problem %s: %s (%s) in\n%s", want.object, want.reason, want.detail, msg)
		}
	}
	if r.Has("DaemonSet kube-system/agent", "") || r.Has("node h-1", "") {
		t.Errorf("the healthy agent was reported:\n%s", msg)
	}
}

// A container that restarted within the settle window is "restarting" in a
// single check: the kubelet's timestamps say so even when the poll lands
// between two crashes.
func TestCheckReadinessNamesRecentRestart(t *testing.T) {
	agent := agentSet("agent", 1)
	p := agentPod(agent, "agent-a", "h-1")
	p.Status.ContainerStatuses[0].RestartCount = 5
	p.Status.ContainerStatuses[0].State.Running = &corev1.ContainerStateRunning{StartedAt: metav1.NewTime(time.Now().Add(-2 * time.Second))}
	p.Status.ContainerStatuses[0].LastTerminationState.Terminated = &corev1.ContainerStateTerminated{ExitCode: 1, Reason: "Error",
		FinishedAt: metav1.NewTime(time.Now().Add(-3 * time.Second)), Message: "level=fatal msg=\"cannot reach the API server\""}
	kube := fake.NewClientset(readyNode("h-1", true), agent, p)
	spec := ReadinessSpec{Workloads: []Workload{{Kind: KindDaemonSet, Namespace: "kube-system", Name: "agent", Agent: true}}, Settle: 30 * time.Second}
	r, err := CheckReadiness(context.Background(), &Cluster{Kube: kube}, spec)
	if err != nil {
		t.Fatal(err)
	}
	if !r.Has("pod kube-system/agent-a on node h-1", ReasonRestarting) {
		t.Fatalf("a container that restarted 2s ago is not reported:\n%v", r.Err())
	}
	for _, want := range []string{"container agent restarted 2", "within the 30s settle window", "restart count 5", "last exit code 1 Error", "cannot reach the API server"} {
		if !strings.Contains(r.Err().Error(), want) {
			t.Errorf("%q missing from %v", want, r.Err())
		}
	}
	// An old restart is history, not instability.
	spec.Settle = time.Second
	if r, err := CheckReadiness(context.Background(), &Cluster{Kube: kube}, spec); err != nil || !r.OK() {
		t.Fatalf("a restart older than the settle window still counts: %v %v", err, r.Err())
	}
}

// A crash-looping agent that is Ready at every poll (its restart count
// climbing between polls, as kwok or a fast crash shows it) never passes
// WaitReadiness; once it stops restarting it passes after the settle window.
func TestWaitReadinessNeedsAStableSettleWindow(t *testing.T) {
	agent := agentSet("agent", 1)
	kube := fake.NewClientset(readyNode("h-1", true), agent, agentPod(agent, "agent-a", "h-1"))
	c := &Cluster{Kube: kube}
	spec := ReadinessSpec{Workloads: []Workload{{Kind: KindDaemonSet, Namespace: "kube-system", Name: "agent", Agent: true}}, Settle: time.Second}
	ctx := context.Background()

	stop := crashEvery(t, kube, "agent-a", 400*time.Millisecond) // Ready at every poll, restarting between
	_, err := WaitReadiness(ctx, c, spec, 3*time.Second)
	stop()
	if err == nil {
		t.Fatal("a crash-looping agent passed WaitReadiness")
	}
	for _, want := range []string{"not stable", "pod kube-system/agent-a on node h-1: container agent restarted (restart count"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("%q missing from %v", want, err)
		}
	}

	// Stable now: ready after (not before) the settle window.
	start := time.Now()
	if _, err := WaitReadiness(ctx, c, spec, 5*time.Second); err != nil {
		t.Fatalf("a stable agent: %v", err)
	}
	if d := time.Since(start); d < time.Second {
		t.Fatalf("ready after %s, inside the 1s settle window", d)
	}

	// A pod that goes away breaks the window too, and a wait shorter than
	// the window cannot pass.
	spec.Settle = 10 * time.Second
	_, err = WaitReadiness(ctx, c, spec, 1500*time.Millisecond)
	if err == nil || !strings.Contains(err.Error(), "ready for only") || !strings.Contains(err.Error(), "of the 10s settle window") {
		t.Fatalf("a wait shorter than the settle window: %v", err)
	}
	if breaks := settleBreaks(map[string]podSeen{"kube-system/agent-a": {uid: "1", node: "h-1"}}, map[string]podSeen{}); len(breaks) != 1 ||
		breaks[0] != "pod kube-system/agent-a on node h-1 went away" {
		t.Fatalf("breaks = %q", breaks)
	}
	if breaks := settleBreaks(map[string]podSeen{"kube-system/agent-a": {uid: "1", node: "h-1"}}, map[string]podSeen{"kube-system/agent-a": {uid: "2", node: "h-1"}}); len(breaks) != 1 ||
		!strings.Contains(breaks[0], "was replaced") {
		t.Fatalf("breaks = %q", breaks)
	}
}

// A container restarting again and again ends the wait once it has
// restarted CrashLoop times during it, naming pod, node and container,
// long before the timeout; CrashLoop < 0 waits the timeout out.
func TestWaitReadinessEndsOnACrashLoop(t *testing.T) {
	agent := agentSet("agent", 1)
	kube := fake.NewClientset(readyNode("h-1", true), agent, agentPod(agent, "agent-a", "h-1"))
	c := &Cluster{Kube: kube}
	ctx := context.Background()
	spec := ReadinessSpec{Workloads: []Workload{{Kind: KindDaemonSet, Namespace: "kube-system", Name: "agent", Agent: true}}, Settle: time.Second}

	stop := crashEvery(t, kube, "agent-a", 300*time.Millisecond)
	_, err := WaitReadiness(ctx, c, spec, time.Minute)
	stop()
	if err == nil {
		t.Fatal("a crash-looping agent passed")
	}
	for _, want := range []string{"not stable", "pod kube-system/agent-a on node h-1: container agent restarted 3 times during the wait", "not waited out to the 1m0s timeout"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("%q missing from %v", want, err)
		}
	}

	spec.CrashLoop = -1
	stop = crashEvery(t, kube, "agent-a", 300*time.Millisecond)
	_, err = WaitReadiness(ctx, c, spec, 2*time.Second)
	stop()
	if err == nil || strings.Contains(err.Error(), "not waited out") || !strings.Contains(err.Error(), "after 2s") {
		t.Fatalf("CrashLoop -1: %v, want the timeout's error", err)
	}
}

// crashEvery plays a kubelet restarting the pod's first container every
// interval (its restart count climbing) until stop is called.
func crashEvery(t *testing.T, kube *fake.Clientset, pod string, interval time.Duration) (stop func()) {
	ctx := context.Background()
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-done:
				return
			case <-time.After(interval):
			}
			p, err := kube.CoreV1().Pods("kube-system").Get(ctx, pod, metav1.GetOptions{})
			if err != nil {
				t.Error(err)
				return
			}
			p.Status.ContainerStatuses[0].RestartCount++
			if _, err := kube.CoreV1().Pods("kube-system").UpdateStatus(ctx, p, metav1.UpdateOptions{}); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	return func() { close(done); wg.Wait() }
}

// A wait cut short by its caller's deadline (a bounded wait under a held
// fault) says what was still not ready, as its own timeout would: a bare
// "context deadline exceeded" named nothing, and the fault matrix could not
// tell a caught fault from any other failure.
func TestWaitReadinessCutShortSaysWhy(t *testing.T) {
	agent := agentSet("agent", 1)
	kube := fake.NewClientset(readyNode("h-1", false), agent, agentPod(agent, "agent-a", "h-1"))
	spec := ReadinessSpec{Workloads: []Workload{{Kind: KindDaemonSet, Namespace: "kube-system", Name: "agent", Agent: true}}, Settle: time.Second}
	ctx, cancel := context.WithTimeout(context.Background(), 1500*time.Millisecond)
	defer cancel()
	_, err := WaitReadiness(ctx, &Cluster{Kube: kube}, spec, time.Minute)
	if err == nil {
		t.Fatal("a NotReady node passed")
	}
	if !errors.Is(err, context.DeadlineExceeded) || !errors.Is(err, ErrNotReady) {
		t.Errorf("%v: want both the caller's deadline and ErrNotReady", err)
	}
	if !strings.Contains(err.Error(), "node h-1") || strings.Contains(err.Error(), "after 1m0s") {
		t.Errorf("%v: want node h-1 named and the time waited, not the unreached timeout", err)
	}
}

// An operator held at zero replicas fails the wait once a settle window has
// shown it so, naming it, not at the timeout: nothing makes spec.replicas 0
// right by waiting.
func TestWaitReadinessFailsAScaledToZeroDeploymentAfterTheSettleWindow(t *testing.T) {
	zero := int32(0)
	op := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "operator", Namespace: "kube-system"},
		Spec: appsv1.DeploymentSpec{Replicas: &zero, Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "operator"}}}}
	agent := agentSet("agent", 1)
	kube := fake.NewClientset(readyNode("h-1", true), agent, agentPod(agent, "agent-a", "h-1"), op)
	spec := ReadinessSpec{Workloads: []Workload{
		{Kind: KindDaemonSet, Namespace: "kube-system", Name: "agent", Agent: true},
		{Kind: KindDeployment, Namespace: "kube-system", Name: "operator"},
	}, Settle: time.Second}
	start := time.Now()
	_, err := WaitReadiness(context.Background(), &Cluster{Kube: kube}, spec, time.Minute)
	took := time.Since(start)
	if err == nil {
		t.Fatal("an operator scaled to zero passed WaitReadiness")
	}
	if took >= 30*time.Second {
		t.Errorf("failed after %s: the minute's timeout was waited out", took)
	}
	for _, want := range []string{"Deployment kube-system/operator: scaled to zero for the whole 1s settle window", "spec.replicas 0 is not waited out"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("%q missing from %v", want, err)
		}
	}
}
