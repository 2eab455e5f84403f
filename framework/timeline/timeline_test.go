package timeline

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/hybridcni/hybridcni/framework/report"
	"github.com/hybridcni/hybridcni/framework/router"
)

func TestRecorderSpansAndOpenSpans(t *testing.T) {
	r := NewRecorder()
	base := time.Date(2026, 12, 4, 15, 0, 0, 0, time.UTC)
	r.now = func() time.Time { return base.Add(10 * time.Second) }
	if !r.Open("k", base, report.Event{Kind: report.EventBGPDown, Text: "down"}) || r.Open("k", base.Add(time.Second), report.Event{Text: "again"}) {
		t.Fatal("a second Open of the same key must not replace the first")
	}
	r.Open("still", base.Add(2*time.Second), report.Event{Kind: report.EventPodDown, Text: "pod down"})
	if !r.Close("k", base.Add(3*time.Second), ", until up") || r.Close("k", base, "") {
		t.Fatal("Close of an open span reports true, of a closed one false")
	}
	r.Instant(report.EventStep, "", "", "now")
	ev := r.Events()
	if len(ev) != 3 {
		t.Fatalf("%d events: %+v", len(ev), ev)
	}
	if ev[0].Text != "down, until up" || !ev[0].End.Equal(base.Add(3*time.Second)) {
		t.Errorf("closed span: %+v", ev[0])
	}
	if ev[1].Text != "pod down (not over when the recording ended)" || !ev[1].End.Equal(base.Add(10*time.Second)) {
		t.Errorf("open span: %+v", ev[1])
	}
	if ev[2].Span() {
		t.Errorf("instant has an end: %+v", ev[2])
	}
}

func agentPod(name, node string, ready bool) *corev1.Pod {
	yes := true
	st := corev1.ConditionFalse
	if ready {
		st = corev1.ConditionTrue
	}
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "kube-system",
			OwnerReferences: []metav1.OwnerReference{{Kind: "DaemonSet", Name: "cilium", Controller: &yes}}},
		Spec:   corev1.PodSpec{NodeName: node},
		Status: corev1.PodStatus{Phase: corev1.PodRunning, Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: st}}},
	}
}

// A DaemonSet's pod on a node is deleted and its replacement turns ready:
// one span, keyed by workload and node, from the deletion to the readiness.
func TestPodWatcherSpansAnAgentRestartPerNode(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	old := agentPod("cilium-abc", "worker", true)
	other := agentPod("cilium-xyz", "worker2", true)
	kube := fake.NewClientset(old, other, daemonSet("cilium"))
	rec := NewRecorder()
	if err := NewPodWatcher(kube, rec, "kube-system").Start(ctx); err != nil {
		t.Fatal(err)
	}
	pods := kube.CoreV1().Pods("kube-system")
	must(t, pods.Delete(ctx, "cilium-abc", metav1.DeleteOptions{}))
	_, err := pods.Create(ctx, agentPod("cilium-def", "worker", false), metav1.CreateOptions{})
	must(t, err)
	time.Sleep(50 * time.Millisecond)
	_, err = pods.UpdateStatus(ctx, agentPod("cilium-def", "worker", true), metav1.UpdateOptions{})
	must(t, err)
	var ev []report.Event
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if ev = rec.Events(); len(ev) == 1 && !strings.Contains(ev[0].Text, "not over") {
			break
		}
	}
	if len(ev) != 1 {
		t.Fatalf("want one span, got %+v", ev)
	}
	e := ev[0]
	if e.Kind != report.EventPodDown || e.Node != "worker" || e.Text != "kube-system/cilium on worker down: cilium-abc deleted, until cilium-def ready" ||
		e.End.Sub(e.Start) < 40*time.Millisecond {
		t.Fatalf("span %+v (%v long)", e, e.End.Sub(e.Start))
	}
}

func daemonSet(name string) *appsv1.DaemonSet {
	return &appsv1.DaemonSet{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "kube-system"}}
}

// A pre-flight check's DaemonSet is uninstalled while its pod on a node is
// still starting: the span ends when the pod goes, not "not over when the
// recording ended", which would be blamed for every later gap; the agent's
// own pods, whose DaemonSet stays, are untouched.
func TestPodWatcherEndsTheSpanOfARemovedWorkload(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	yes := true
	check := agentPod("cilium-pre-flight-check-abc", "worker", false)
	check.OwnerReferences = []metav1.OwnerReference{{Kind: "DaemonSet", Name: "cilium-pre-flight-check", Controller: &yes}}
	agent := agentPod("cilium-abc", "worker", true)
	kube := fake.NewClientset(check, agent, daemonSet("cilium"), daemonSet("cilium-pre-flight-check"))
	rec := NewRecorder()
	if err := NewPodWatcher(kube, rec, "kube-system").Start(ctx); err != nil {
		t.Fatal(err)
	}
	must(t, kube.AppsV1().DaemonSets("kube-system").Delete(ctx, "cilium-pre-flight-check", metav1.DeleteOptions{}))
	must(t, kube.CoreV1().Pods("kube-system").Delete(ctx, check.Name, metav1.DeleteOptions{}))
	var ev []report.Event
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if ev = rec.Events(); len(ev) == 1 && !strings.Contains(ev[0].Text, "not over") {
			break
		}
	}
	if len(ev) != 1 || ev[0].Text != "kube-system/cilium-pre-flight-check on worker down: cilium-pre-flight-check-abc not ready, until its workload was removed" {
		t.Fatalf("want the pre-flight span closed at its removal, got %+v", ev)
	}
}

func TestRouterWatcherSessionsAndRoutes(t *testing.T) {
	rec := NewRecorder()
	w := NewRouterWatcher(nil, rec, map[string]string{"10.80.0.2": "worker"})
	w.up["10.80.0.2"] = true
	w.routes["10.85.0.0/25"] = "10.80.0.2"
	t1 := time.Date(2026, 12, 4, 15, 0, 0, 0, time.UTC)
	w.handle(router.Event{Type: router.EventPeer, Peer: router.Peer{Address: "10.80.0.2", State: "active"}}, t1)
	w.handle(router.Event{Type: router.EventPeer, Peer: router.Peer{Address: "10.80.0.2", State: "connect"}}, t1.Add(time.Second))
	w.handle(router.Event{Type: router.EventRoute, Route: router.Route{Prefix: "10.85.0.0/25", NextHop: "10.80.0.2", Withdrawn: true}}, t1.Add(100*time.Millisecond))
	w.handle(router.Event{Type: router.EventPeer, Peer: router.Peer{Address: "10.80.0.2", State: "established"}}, t1.Add(3*time.Second))
	w.handle(router.Event{Type: router.EventRoute, Route: router.Route{Prefix: "10.85.0.0/25", NextHop: "10.80.0.2"}}, t1.Add(3100*time.Millisecond))
	w.handle(router.Event{Type: router.EventRoute, Route: router.Route{Prefix: "10.85.0.0/25", NextHop: "10.80.0.2"}}, t1.Add(4*time.Second)) // no change
	ev := rec.Events()
	want := []string{
		"BGP session with worker (10.80.0.2) down (active), until established again",
		"route 10.85.0.0/25 via worker (10.80.0.2) withdrawn, until re-learned via worker (10.80.0.2)",
	}
	if len(ev) != len(want) {
		t.Fatalf("events %+v", ev)
	}
	for i := range want {
		if ev[i].Text != want[i] || !ev[i].Span() {
			t.Errorf("event %d: %+v, want span %q", i, ev[i], want[i])
		}
	}
	if d := ev[0].End.Sub(ev[0].Start); d != 3*time.Second {
		t.Errorf("session down for %v, want 3s", d)
	}
}

func TestLoadSamplerReadsProcStat(t *testing.T) {
	dir := t.TempDir()
	write := func(stat string) {
		must(t, os.WriteFile(filepath.Join(dir, "stat"), []byte(stat), 0o644))
		must(t, os.WriteFile(filepath.Join(dir, "loadavg"), []byte("3.50 2.00 1.00 2/300 1234\n"), 0o644))
	}
	write("cpu  100 0 100 800 0 0 0 0 0 0\ncpu0 1 2 3\n")
	busy, total, err := cpuTimes(dir)
	if err != nil || busy != 200 || total != 1000 {
		t.Fatalf("busy %d total %d %v", busy, total, err)
	}
	if l := load1(dir); l != 3.5 {
		t.Fatalf("load1 %v", l)
	}
	rec := NewRecorder()
	s := NewLoadSampler(rec, 30*time.Millisecond)
	s.proc = dir
	ctx, cancel := context.WithCancel(context.Background())
	must(t, s.Start(ctx))
	write("cpu  1000 0 100 810 0 0 0 0 0 0\n") // 900 of 910 jiffies busy
	time.Sleep(100 * time.Millisecond)
	cancel()
	s.Wait()
	samples := s.Samples()
	if len(samples) == 0 || samples[0].BusyPercent < 98 || samples[0].Load1 != 3.5 {
		t.Fatalf("samples %+v", samples)
	}
	ev := rec.Events()
	if len(ev) != 1 || ev[0].Kind != report.EventHostLoaded {
		t.Fatalf("a 99%% busy host is not a host-loaded span: %+v", ev)
	}
	if !strings.Contains(Summary(samples), "peak load 3.5") {
		t.Fatal(Summary(samples))
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
