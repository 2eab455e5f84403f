package cni

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/rest"
	k8stesting "k8s.io/client-go/testing"

	"github.com/hybridcni/hybridcni/framework/chart"
	"github.com/hybridcni/hybridcni/framework/config"
)

// inheritSettle is the settle window of these tests: a whole window is
// at least four looks (250 ms apart), an inherited one is one look.
const inheritSettle = time.Second

// inheritRelease is a release whose agent DaemonSet runs one ready pod
// (agent-a on hybrid node h-1), and a counter of readiness looks (each
// CheckReadiness lists the nodes once).
func inheritRelease(t *testing.T) (*Release, *fake.Clientset, *atomic.Int32, *lockedBuffer) {
	t.Helper()
	agent := agentSet("agent", 1)
	kube := fake.NewClientset(readyNode("h-1", true), agent, agentPod(agent, "agent-a", "h-1"))
	var looks atomic.Int32
	kube.PrependReactor("list", "nodes", func(k8stesting.Action) (bool, runtime.Object, error) {
		looks.Add(1)
		return false, nil, nil
	})
	log := &lockedBuffer{}
	r := &Release{Cluster: &Cluster{Kube: kube}, Options: Options{Timeout: 20 * time.Second, Log: log}, CNI: "agent", Name: "agent", Namespace: "kube-system",
		Spec: func(context.Context) ReadinessSpec {
			return ReadinessSpec{Workloads: []Workload{{Kind: KindDaemonSet, Namespace: "kube-system", Name: "agent", Agent: true}}, Settle: inheritSettle}
		}}
	return r, kube, &looks, log
}

// waitCounted is one WaitReady, with the looks it took and how long.
func waitCounted(t *testing.T, r *Release, looks *atomic.Int32) (*Readiness, int32, time.Duration, error) {
	t.Helper()
	looks.Store(0)
	start := time.Now()
	res, err := r.WaitReady(context.Background())
	return res, looks.Load(), time.Since(start), err
}

// wholeWindow asserts that a wait observed a settle window of its own: it
// began during the wait, lasted the whole window, took more than one look,
// and inherited nothing.
func wholeWindow(t *testing.T, what string, res *Readiness, looks int32, took time.Duration, err error, first *Readiness) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	if res.Inherited || !res.StableSince.After(first.StableSince) || looks < 2 || took < inheritSettle {
		t.Fatalf("%s: the window was inherited (inherited %v, stable since %s, the first wait's %s, %d looks, %s), want a whole window of its own",
			what, res.Inherited, res.StableSince.Format(time.StampMilli), first.StableSince.Format(time.StampMilli), looks, took)
	}
	if strings.Contains(res.Stability(), "earlier wait") {
		t.Errorf("%s: %q", what, res.Stability())
	}
}

func setRestarts(t *testing.T, kube *fake.Clientset, pod string, n int32) {
	t.Helper()
	ctx := context.Background()
	p, err := kube.CoreV1().Pods("kube-system").Get(ctx, pod, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	p.Status.ContainerStatuses[0].RestartCount = n
	if _, err := kube.CoreV1().Pods("kube-system").UpdateStatus(ctx, p, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
}

// A wait right after one that ended ready and stable, nothing changed in
// between, continues its window: it passes on its first look, says the
// window began in the earlier wait, and so does the run's log.
func TestWaitReadyContinuesTheEarlierWindow(t *testing.T) {
	r, _, looks, log := inheritRelease(t)
	first, n, took, err := waitCounted(t, r, looks)
	if err != nil {
		t.Fatal(err)
	}
	if first.Inherited || first.StableSince.IsZero() || n < 2 || took < inheritSettle {
		t.Fatalf("the first wait: inherited %v, stable since %s, %d looks in %s: want a whole window", first.Inherited, first.StableSince, n, took)
	}
	for i := range 2 { // and the one after that
		res, n, _, err := waitCounted(t, r, looks)
		if err != nil {
			t.Fatal(err)
		}
		if n != 1 || !res.Inherited || !res.StableSince.Equal(first.StableSince) {
			t.Fatalf("wait %d after a stable one: %d looks, inherited %v, stable since %s (the first wait's %s): want the first look, inherited",
				i+2, n, res.Inherited, res.StableSince.Format(time.StampMilli), first.StableSince.Format(time.StampMilli))
		}
		if s := res.Stability(); !strings.Contains(s, "ready and stable since "+first.StableSince.Format("15:04:05.000")) || !strings.HasSuffix(s, ", the window began in an earlier wait") {
			t.Errorf("stability = %q", s)
		}
	}
	if !strings.Contains(log.String(), "agent: ready and stable since ") || !strings.Contains(log.String(), "the window began in an earlier wait") {
		t.Errorf("the log does not say the window was inherited:\n%s", log.String())
	}
}

// A container restart between the two waits starts the window over and
// names the restart. A crash loop already showing at the first look is
// caught as without an earlier wait (the restart between the waits does not
// count toward it), and the wait after a failed one starts over. One that
// has not shown yet at the first look is for ForgetReady: whoever sets it
// off (a fault injected) calls it, and the wait then watches a whole window.
func TestWaitReadyStartsOverAfterARestart(t *testing.T) {
	r, kube, looks, _ := inheritRelease(t)
	first, _, _, err := waitCounted(t, r, looks)
	if err != nil {
		t.Fatal(err)
	}
	setRestarts(t, kube, "agent-a", 1)
	res, n, took, err := waitCounted(t, r, looks)
	wholeWindow(t, "after a restart", res, n, took, err, first)
	if want := "pod kube-system/agent-a on node h-1: container agent restarted (restart count 0 -> 1) (since the earlier wait)"; !strings.Contains(strings.Join(res.Unstable, "\n"), want) {
		t.Errorf("unstable = %q, want %q", res.Unstable, want)
	}

	// A crash loop that began after the stable wait and shows at the first look.
	setRestarts(t, kube, "agent-a", 2)
	stop := crashEvery(t, kube, "agent-a", 300*time.Millisecond)
	_, err = r.WaitReady(context.Background())
	stop()
	if err == nil || !strings.Contains(err.Error(), "container agent restarted 3 times during the wait") {
		t.Fatalf("a crash loop after a stable wait: %v", err)
	}
	res, n, took, err = waitCounted(t, r, looks)
	wholeWindow(t, "after a failed wait", res, n, took, err, first)

	// A crash loop set off right before the wait, its first restart not
	// reported yet: after ForgetReady it is caught.
	r.ForgetReady()
	stop = crashEvery(t, kube, "agent-a", 300*time.Millisecond)
	_, err = r.WaitReady(context.Background())
	stop()
	if err == nil || !strings.Contains(err.Error(), "container agent restarted 3 times during the wait") {
		t.Fatalf("a crash loop set off after ForgetReady: %v", err)
	}
}

// A wait that did not end ready drops the window even when what it saw
// leaves no trace in the pods (a readiness probe failing for a while, no
// restart): the wait after it starts over.
func TestWaitReadyStartsOverAfterAFailedWait(t *testing.T) {
	ctx := context.Background()
	r, kube, looks, _ := inheritRelease(t)
	first, _, _, err := waitCounted(t, r, looks)
	if err != nil {
		t.Fatal(err)
	}
	setReady := func(ready corev1.ConditionStatus) {
		t.Helper()
		p, err := kube.CoreV1().Pods("kube-system").Get(ctx, "agent-a", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		p.Status.Conditions[0].Status = ready
		if _, err := kube.CoreV1().Pods("kube-system").UpdateStatus(ctx, p, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	setReady(corev1.ConditionFalse)
	r.Options.Timeout = 700 * time.Millisecond
	if _, err := r.WaitReady(ctx); err == nil {
		t.Fatal("a pod not ready passed")
	}
	r.Options.Timeout = 20 * time.Second
	setReady(corev1.ConditionTrue)
	res, n, took, err := waitCounted(t, r, looks)
	wholeWindow(t, "after a failed wait", res, n, took, err, first)
}

// A pod replaced between the two waits (same name, new UID), or a pod
// that was not there, starts the window over.
func TestWaitReadyStartsOverAfterAPodChange(t *testing.T) {
	ctx := context.Background()
	t.Run("replaced", func(t *testing.T) {
		r, kube, looks, _ := inheritRelease(t)
		first, _, _, err := waitCounted(t, r, looks)
		if err != nil {
			t.Fatal(err)
		}
		p, err := kube.CoreV1().Pods("kube-system").Get(ctx, "agent-a", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if err := kube.CoreV1().Pods("kube-system").Delete(ctx, "agent-a", metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		p.UID, p.ResourceVersion = types.UID("pod-agent-a-2"), ""
		if _, err := kube.CoreV1().Pods("kube-system").Create(ctx, p, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		res, n, took, err := waitCounted(t, r, looks)
		wholeWindow(t, "after the pod was replaced", res, n, took, err, first)
		if want := "pod kube-system/agent-a on node h-1 was replaced (since the earlier wait)"; !strings.Contains(strings.Join(res.Unstable, "\n"), want) {
			t.Errorf("unstable = %q, want %q", res.Unstable, want)
		}
	})
	t.Run("appeared", func(t *testing.T) {
		r, kube, looks, _ := inheritRelease(t)
		first, _, _, err := waitCounted(t, r, looks)
		if err != nil {
			t.Fatal(err)
		}
		// A second hybrid node joins, its agent ready at once.
		ds, err := kube.AppsV1().DaemonSets("kube-system").Get(ctx, "agent", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		ds.Status.DesiredNumberScheduled, ds.Status.NumberReady, ds.Status.UpdatedNumberScheduled = 2, 2, 2
		if _, err := kube.AppsV1().DaemonSets("kube-system").UpdateStatus(ctx, ds, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
		if _, err := kube.CoreV1().Nodes().Create(ctx, readyNode("h-2", true), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		if _, err := kube.CoreV1().Pods("kube-system").Create(ctx, agentPod(ds, "agent-b", "h-2"), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		res, n, took, err := waitCounted(t, r, looks)
		wholeWindow(t, "after a pod appeared", res, n, took, err, first)
		if want := "pod kube-system/agent-b on node h-2 appeared (since the earlier wait)"; !strings.Contains(strings.Join(res.Unstable, "\n"), want) {
			t.Errorf("unstable = %q, want %q", res.Unstable, want)
		}
	})
}

// Whatever changes the release drops the window, even when its helm
// action fails (it may have changed objects before failing) and nothing
// shows in the pods yet: the next wait observes a whole window of its own.
func TestWaitReadyInheritsNothingAcrossAChange(t *testing.T) {
	ctx := context.Background()
	// A Helm that fails at once (nothing listens there).
	unreachable := chart.NewCluster(&rest.Config{Host: "http://127.0.0.1:1", Timeout: 2 * time.Second})
	for _, step := range []struct {
		name string
		do   func(r *Release)
	}{
		{"install", func(r *Release) {
			_, _ = r.InstallRelease(ctx, config.Run{}, nil, StartStopwatch())
		}},
		{"upgrade", func(r *Release) {
			_ = r.UpgradeRelease(ctx, &Hop{From: "1.0.0", To: "1.1.0"}, nil, nil, StartStopwatch(), "")
		}},
		{"rollback", func(r *Release) { _, _ = r.Rollback(ctx, config.Run{}, 0) }},
		{"uninstall", func(r *Release) { _ = r.UninstallRelease(ctx, StartStopwatch(), false) }},
		{"ForgetReady", func(r *Release) { r.ForgetReady() }},
	} {
		t.Run(step.name, func(t *testing.T) {
			r, _, looks, _ := inheritRelease(t)
			r.Cluster.Helm = unreachable
			first, _, _, err := waitCounted(t, r, looks)
			if err != nil {
				t.Fatal(err)
			}
			step.do(r)
			res, n, took, err := waitCounted(t, r, looks)
			wholeWindow(t, "after "+step.name, res, n, took, err, first)
		})
	}
}

// A ForgetReady during a wait (another step changed the release meanwhile)
// keeps that wait from becoming the window the next one continues.
func TestWaitReadyForgetsAWaitThatSpannedAChange(t *testing.T) {
	r, _, looks, _ := inheritRelease(t)
	first, _, _, err := waitCounted(t, r, looks)
	if err != nil {
		t.Fatal(err)
	}
	forgot := make(chan struct{})
	// Forget once the next wait is under way (its first look done).
	r.Cluster.Kube.(*fake.Clientset).PrependReactor("list", "nodes", func(k8stesting.Action) (bool, runtime.Object, error) {
		select {
		case <-forgot:
		default:
			close(forgot)
			r.ForgetReady()
		}
		return false, nil, nil
	})
	if _, err := r.WaitReady(context.Background()); err != nil {
		t.Fatal(err)
	}
	res, n, took, err := waitCounted(t, r, looks)
	wholeWindow(t, "after a wait that spanned ForgetReady", res, n, took, err, first)
}
