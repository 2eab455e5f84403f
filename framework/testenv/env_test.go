package testenv

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/discovery"
	"sigs.k8s.io/e2e-framework/klient/k8s"
	"sigs.k8s.io/e2e-framework/klient/k8s/resources"
	"sigs.k8s.io/e2e-framework/klient/wait"
	"sigs.k8s.io/e2e-framework/klient/wait/conditions"
	"sigs.k8s.io/e2e-framework/pkg/env"
	"sigs.k8s.io/e2e-framework/pkg/envconf"
	"sigs.k8s.io/e2e-framework/pkg/features"

	"github.com/hybridcni/hybridcni/framework/cni"
)

const helperEnv = "HYBRIDCNI_TESTENV_HELPER"

// TestMain doubles as the helper process of TestInterruptStopsEverything.
func TestMain(m *testing.M) {
	if os.Getenv(helperEnv) == "1" {
		os.Exit(runHelper())
	}
	os.Exit(m.Run())
}

// runHelper starts an Env, prints its folder and PIDs, then waits to be
// signalled.
func runHelper() int {
	e, err := Start(context.Background(), WithHybridNodes(1), WithCloudNodes(0))
	if err != nil {
		fmt.Println("ERROR", err)
		return 1
	}
	fmt.Println("DIR", e.Dir())
	for name, pid := range e.PIDs() {
		fmt.Println("PID", name, pid)
	}
	fmt.Println("READY")
	select {}
}

func TestStartStopLeavesNothing(t *testing.T) {
	RequireBinaries(t)
	t.Parallel()
	e, err := Start(context.Background(), WithLogOutput(&testLog{t: t}))
	if err != nil {
		_ = e.Stop()
		t.Fatal(err)
	}
	pids, dir := e.PIDs(), e.Dir()
	if len(pids) != len(binaries) {
		t.Errorf("running components %v, want all of %v", pids, binaries)
	}
	for name, pid := range pids {
		if !alive(pid) {
			t.Errorf("%s (pid %d) not running after Start", name, pid)
		}
	}
	if got := processesUsing(dir); len(got) != len(binaries) {
		t.Errorf("processes using %s: %v, want the %d components", dir, got, len(binaries))
	}
	nodes, err := e.Kube().CoreV1().Nodes().List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(nodes.Items) != 3 || len(e.HybridNodes()) != 2 || len(e.CloudNodes()) != 1 {
		t.Errorf("%d nodes (hybrid %v, cloud %v), want 2 hybrid + 1 cloud", len(nodes.Items), e.HybridNodes(), e.CloudNodes())
	}
	t.Logf("started in %s", e.StartupTime().Round(time.Millisecond))

	stopStart := time.Now()
	if err := e.Stop(); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	t.Logf("stopped in %s", time.Since(stopStart).Round(time.Millisecond))
	assertNothingLeft(t, pids, dir)
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("work folder %s still there after Stop (err %v)", dir, err)
	}
	if err := e.Stop(); err != nil {
		t.Errorf("second Stop: %v", err)
	}
}

// Also the e2e-framework path: Setup/Finish as env.Funcs and an Assess.
func TestServerReportsRealVersion(t *testing.T) {
	RequireBinaries(t)
	t.Parallel()
	cfg := envconf.New()
	ctx, err := Setup(WithHybridNodes(1), WithCloudNodes(0), WithLogOutput(&testLog{t: t}))(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	e, ok := FromContext(ctx)
	if !ok || cfg.KubeconfigFile() != e.Kubeconfig() || cfg.Client() == nil {
		t.Fatalf("Setup did not record the Env (%v) and its kubeconfig (%q) and client", ok, cfg.KubeconfigFile())
	}
	pids := e.PIDs()

	version := features.New("server version").
		Assess("reports the built release", func(ctx context.Context, t *testing.T, cfg *envconf.Config) context.Context {
			dc, err := discovery.NewDiscoveryClientForConfig(cfg.Client().RESTConfig())
			if err != nil {
				t.Fatal(err)
			}
			v, err := dc.ServerVersion()
			if err != nil {
				t.Fatal(err)
			}
			if v.GitVersion != KubeVersion || v.Major != "1" || v.Minor != strings.Split(KubeVersion, ".")[1] {
				t.Errorf("server reports %s (major %q minor %q), want %s: were the version ldflags set by hack/apitier-build.sh?",
					v.GitVersion, v.Major, v.Minor, KubeVersion)
			}
			return ctx
		}).Feature()
	env.NewWithConfig(cfg).Test(t, version)

	if _, err := Finish()(ctx, cfg); err != nil {
		t.Errorf("Finish: %v", err)
	}
	assertNothingLeft(t, pids, e.Dir())
}

func TestWithoutNetworkGateHybridNodesReadyAtOnce(t *testing.T) {
	t.Parallel()
	e := StartT(t, WithoutNetworkGate(), WithHybridNodes(2), WithCloudNodes(1))
	for _, n := range e.Nodes() {
		if n.Gated {
			t.Errorf("node %s gated with WithoutNetworkGate", n.Name)
		}
	}
	assertNodesReady(t, e, append(e.HybridNodes(), e.CloudNodes()...), true)
}

// A CNI-style DaemonSet (hybrid required node affinity, tolerates every
// taint) runs one pod on every hybrid node and none on cloud nodes. The
// same DaemonSet without the affinity lands on every node, which shows the
// cloud nodes would take the pods and the affinity is what keeps them off.
func TestDaemonSetRunsOnHybridNodesOnly(t *testing.T) {
	t.Parallel()
	e := StartT(t, WithHybridNodes(3), WithCloudNodes(2))
	ctx := context.Background()

	ds := agentDaemonSet("hybrid-agent", "cilium", true)
	if err := e.Client().Resources().Create(ctx, ds); err != nil {
		t.Fatal(err)
	}
	waitDaemonSetRunning(t, e, ds, 3)
	got := runningPodsByNode(t, e, "hybrid-agent")
	assertNodeSet(t, "hybrid-agent pods", got, e.HybridNodes())
	for _, n := range e.Nodes() {
		for _, p := range got[n.Name] {
			if p.Status.PodIP != n.InternalIP || p.Status.HostIP != n.InternalIP {
				t.Errorf("host-network pod %s on %s has pod IP %s host IP %s, want the node address %s",
					p.Name, n.Name, p.Status.PodIP, p.Status.HostIP, n.InternalIP)
			}
		}
	}
	// The network gate follows the agent pods through its own informers:
	// a DaemonSet counted ready can be a moment ahead of its nodes.
	waitNodesReady(t, e, e.HybridNodes(), true)

	everywhere := agentDaemonSet("any-node-agent", "not-a-cni", false)
	if err := e.Client().Resources().Create(ctx, everywhere); err != nil {
		t.Fatal(err)
	}
	waitDaemonSetRunning(t, e, everywhere, 5)
	assertNodeSet(t, "any-node-agent pods", runningPodsByNode(t, e, "any-node-agent"), append(e.HybridNodes(), e.CloudNodes()...))
}

// Hybrid nodes are NotReady (as a kubelet without CNI reports it) until a
// CNI agent pod runs on them, and NotReady again once it is gone. Pods
// that do not tolerate not-ready wait for the CNI, as on a real cluster.
func TestHybridNodeReadyOnlyWithCNIAgent(t *testing.T) {
	t.Parallel()
	e := StartT(t, WithHybridNodes(2), WithCloudNodes(1))
	ctx := context.Background()

	assertNodesReady(t, e, e.CloudNodes(), true)
	assertNodesReady(t, e, e.HybridNodes(), false)
	for _, name := range e.HybridNodes() {
		n, err := e.Kube().CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if c := NodeReadyCondition(n); c.Reason != NotReadyReason || !strings.Contains(c.Message, "NetworkPluginNotReady") {
			t.Errorf("node %s Ready condition %s/%q, want %s with NetworkPluginNotReady", name, c.Reason, c.Message, NotReadyReason)
		}
	}

	// A workload for the hybrid nodes, without tolerations: unschedulable
	// while they are NotReady.
	app := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "hybrid-app", Namespace: "default"},
		Spec: corev1.PodSpec{
			NodeSelector: map[string]string{cni.HybridLabel: cni.HybridValue},
			Containers:   []corev1.Container{{Name: "app", Image: "registry.example/app:1"}},
		},
	}
	if err := e.Client().Resources().Create(ctx, app); err != nil {
		t.Fatal(err)
	}
	err := wait.For(conditions.New(e.Client().Resources()).ResourceMatch(app, func(o k8s.Object) bool {
		for _, c := range o.(*corev1.Pod).Status.Conditions {
			if c.Type == corev1.PodScheduled && c.Reason == corev1.PodReasonUnschedulable && strings.Contains(c.Message, "untolerated taint") {
				return true
			}
		}
		return false
	}), wait.WithTimeout(30*time.Second), wait.WithInterval(pollInterval))
	if err != nil {
		t.Fatalf("pod %s not reported unschedulable for a taint: %v (conditions %v)", app.Name, err, app.Status.Conditions)
	}
	for _, name := range e.HybridNodes() {
		n, err := e.Kube().CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if !hasTaint(n, corev1.TaintNodeNotReady, corev1.TaintEffectNoSchedule) {
			t.Errorf("NotReady node %s has taints %v, want %s:NoSchedule", name, n.Spec.Taints, corev1.TaintNodeNotReady)
		}
	}

	ds := agentDaemonSet("cilium", "cilium", true)
	if err := e.Client().Resources().Create(ctx, ds); err != nil {
		t.Fatal(err)
	}
	waitNodesReady(t, e, e.HybridNodes(), true)
	if err := wait.For(conditions.New(e.Client().Resources()).PodRunning(app), wait.WithTimeout(60*time.Second), wait.WithInterval(pollInterval)); err != nil {
		t.Fatalf("pod %s not Running on a hybrid node after the CNI came up: %v", app.Name, err)
	}

	// Without its CNI agent a node goes back to NotReady.
	if err := e.Client().Resources().Delete(ctx, ds, resources.WithDeletePropagation(string(metav1.DeletePropagationForeground))); err != nil {
		t.Fatal(err)
	}
	waitNodesReady(t, e, e.HybridNodes(), false)
	assertNodesReady(t, e, e.CloudNodes(), true)
}

// A start that fails part-way leaves no component running, and Stop after
// it is clean.
func TestStopAfterFailedStart(t *testing.T) {
	RequireBinaries(t)
	for _, component := range []string{KubeAPIServer, Kwok} {
		t.Run(component, func(t *testing.T) {
			e, err := Start(context.Background(), WithExtraArgs(component, "--no-such-flag"), WithLogOutput(&testLog{t: t}))
			if err == nil {
				_ = e.Stop()
				t.Fatalf("Start succeeded with a bad %s flag", component)
			}
			for _, want := range []string{component + " exited", "unknown flag: --no-such-flag"} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error does not contain %q:\n%v", want, err)
				}
			}
			if e == nil {
				t.Fatal("Start returned no Env although etcd was started")
			}
			pids := e.PIDs()
			if _, ok := pids[Etcd]; !ok {
				t.Errorf("etcd was not started before %s failed: %v", component, pids)
			}
			if err := e.Stop(); err != nil {
				t.Errorf("Stop after failed start: %v", err)
			}
			assertNothingLeft(t, pids, e.Dir())
		})
	}
}

// A port taken between picking and binding is the one failure Start
// retries; the retry is reported.
func TestStartRetriesWhenPortTaken(t *testing.T) {
	RequireBinaries(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	taken := l.Addr().(*net.TCPAddr).Port
	calls := 0
	pickPorts = func(n int) ([]int, error) {
		calls++
		p, err := freePorts(n)
		if err == nil && calls == 1 {
			p[0] = taken // etcd's client port
		}
		return p, err
	}
	defer func() { pickPorts = freePorts }()

	var log syncBuffer
	e, err := Start(context.Background(), WithHybridNodes(1), WithCloudNodes(0), WithLogOutput(&log))
	if err != nil {
		_ = e.Stop()
		t.Fatal(err)
	}
	if err := e.Stop(); err != nil {
		t.Fatal(err)
	}
	if calls != 2 {
		t.Errorf("ports picked %d times, want 2 (one retry)", calls)
	}
	for _, want := range []string{"retrying start (attempt 2 of 3)", "address already in use"} {
		if !strings.Contains(log.String(), want) {
			t.Errorf("log does not report %q:\n%s", want, log.String())
		}
	}
}

// SIGINT and SIGTERM stop every component before the process exits; even
// SIGKILL of the test process takes the components with it (Pdeathsig).
func TestInterruptStopsEverything(t *testing.T) {
	RequireBinaries(t)
	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM, syscall.SIGKILL} {
		t.Run(sig.String(), func(t *testing.T) {
			t.Parallel()
			cmd := exec.Command(os.Args[0], "-test.run=^$")
			cmd.Env = append(os.Environ(), helperEnv+"=1")
			out, err := cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			var stderr strings.Builder
			cmd.Stderr = &stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			dir, pids := readHelper(t, cmd, out)
			t.Cleanup(func() { os.RemoveAll(dir) }) // SIGKILL leaves it behind

			if err := cmd.Process.Signal(sig); err != nil {
				t.Fatal(err)
			}
			exited := make(chan error, 1)
			go func() { exited <- cmd.Wait() }()
			select {
			case err = <-exited:
			case <-time.After(30 * time.Second):
				_ = cmd.Process.Kill()
				t.Fatalf("helper still running 30s after %v; stderr:\n%s", sig, stderr.String())
			}
			var ee *exec.ExitError
			if !errors.As(err, &ee) || !ee.Sys().(syscall.WaitStatus).Signaled() || ee.Sys().(syscall.WaitStatus).Signal() != sig {
				t.Errorf("helper ended with %v, want death by %v (the handler re-raises it)", err, sig)
			}
			// Pdeathsig is asynchronous: give the kernel a bounded moment.
			deadline := time.Now().Add(5 * time.Second)
			for anyAlive(pids) && time.Now().Before(deadline) {
				time.Sleep(pollInterval)
			}
			assertNothingLeft(t, pids, dir)
			if sig != syscall.SIGKILL {
				if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
					t.Errorf("work folder %s still there after %v", dir, sig)
				}
			}
		})
	}
}

// Start-to-ready and stop time of the tier, with the default 3 nodes and
// with 50 hybrid nodes.
func BenchmarkStartToReady(b *testing.B) {
	RequireBinaries(b)
	for _, c := range []struct{ hybrid, cloud int }{{2, 1}, {50, 2}} {
		b.Run(fmt.Sprintf("hybrid=%d,cloud=%d", c.hybrid, c.cloud), func(b *testing.B) {
			var start, stop time.Duration
			var rss int64
			for b.Loop() {
				t0 := time.Now()
				e, err := Start(context.Background(), WithHybridNodes(c.hybrid), WithCloudNodes(c.cloud))
				if err != nil {
					_ = e.Stop()
					b.Fatal(err)
				}
				t1 := time.Now()
				for _, pid := range e.PIDs() {
					rss += residentBytes(pid)
				}
				if err := e.Stop(); err != nil {
					b.Fatal(err)
				}
				start += t1.Sub(t0)
				stop += time.Since(t1)
			}
			b.ReportMetric(start.Seconds()/float64(b.N), "s/start")
			b.ReportMetric(stop.Seconds()/float64(b.N), "s/stop")
			b.ReportMetric(float64(rss)/float64(b.N)/(1<<20), "MiB-rss")
		})
	}
}

// --- helpers

type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// residentBytes is the resident memory of pid (VmRSS), 0 if unknown.
func residentBytes(pid int) int64 {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(data), "\n") {
		if f := strings.Fields(l); len(f) >= 2 && f[0] == "VmRSS:" {
			kb, _ := strconv.ParseInt(f[1], 10, 64)
			return kb << 10
		}
	}
	return 0
}

func agentDaemonSet(name, k8sApp string, hybridOnly bool) *appsv1.DaemonSet {
	lbl := map[string]string{"k8s-app": k8sApp, "app.kubernetes.io/name": name}
	spec := corev1.PodSpec{
		HostNetwork: true,
		Tolerations: []corev1.Toleration{{Operator: corev1.TolerationOpExists}},
		Containers:  []corev1.Container{{Name: "agent", Image: "registry.example/agent:1"}},
	}
	if hybridOnly {
		spec.Affinity = &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{
			RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{
				NodeSelectorTerms: []corev1.NodeSelectorTerm{{MatchExpressions: []corev1.NodeSelectorRequirement{{
					Key: cni.HybridLabel, Operator: corev1.NodeSelectorOpIn, Values: []string{cni.HybridValue},
				}}}},
			},
		}}
	}
	return &appsv1.DaemonSet{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "kube-system"},
		Spec: appsv1.DaemonSetSpec{
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app.kubernetes.io/name": name}},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: lbl}, Spec: spec},
		},
	}
}

func waitDaemonSetRunning(t *testing.T, e *Env, ds *appsv1.DaemonSet, want int32) {
	t.Helper()
	err := wait.For(conditions.New(e.Client().Resources()).ResourceMatch(ds, func(o k8s.Object) bool {
		s := o.(*appsv1.DaemonSet).Status
		return s.DesiredNumberScheduled == want && s.NumberReady == want && s.UpdatedNumberScheduled == want
	}), wait.WithTimeout(60*time.Second), wait.WithInterval(pollInterval))
	if err != nil {
		t.Fatalf("DaemonSet %s not ready on %d nodes: %v (status %+v)", ds.Name, want, err, ds.Status)
	}
}

func runningPodsByNode(t *testing.T, e *Env, name string) map[string][]corev1.Pod {
	t.Helper()
	pods, err := e.Kube().CoreV1().Pods("kube-system").List(context.Background(), metav1.ListOptions{
		LabelSelector: labels.Set{"app.kubernetes.io/name": name}.String(),
	})
	if err != nil {
		t.Fatal(err)
	}
	m := map[string][]corev1.Pod{}
	for _, p := range pods.Items {
		if p.Status.Phase == corev1.PodRunning {
			m[p.Spec.NodeName] = append(m[p.Spec.NodeName], p)
		}
	}
	return m
}

// assertNodeSet checks there is exactly one pod on each wanted node and no
// pod anywhere else.
func assertNodeSet(t *testing.T, what string, got map[string][]corev1.Pod, want []string) {
	t.Helper()
	wantSet := map[string]bool{}
	for _, n := range want {
		wantSet[n] = true
		if len(got[n]) != 1 {
			t.Errorf("%s: %d Running on node %s, want 1", what, len(got[n]), n)
		}
	}
	for n, ps := range got {
		if !wantSet[n] {
			t.Errorf("%s: %d Running on node %s, want none there", what, len(ps), n)
		}
	}
}

func nodeReady(t *testing.T, e *Env, name string) (bool, string) {
	t.Helper()
	n, err := e.Kube().CoreV1().Nodes().Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	c := NodeReadyCondition(n)
	if c == nil {
		return false, "no Ready condition"
	}
	return c.Status == corev1.ConditionTrue, fmt.Sprintf("Ready=%s %s: %s", c.Status, c.Reason, c.Message)
}

func assertNodesReady(t *testing.T, e *Env, names []string, want bool) {
	t.Helper()
	for _, name := range names {
		if ready, why := nodeReady(t, e, name); ready != want {
			t.Errorf("node %s: %s; want Ready=%v", name, why, want)
		}
	}
}

func waitNodesReady(t *testing.T, e *Env, names []string, want bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for _, name := range names {
		for {
			ready, why := nodeReady(t, e, name)
			if ready == want {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("node %s: %s; want Ready=%v within 30s", name, why, want)
			}
			time.Sleep(pollInterval)
		}
	}
}

func hasTaint(n *corev1.Node, key string, effect corev1.TaintEffect) bool {
	for _, t := range n.Spec.Taints {
		if t.Key == key && t.Effect == effect {
			return true
		}
	}
	return false
}

// processesUsing lists processes whose command line mentions dir.
func processesUsing(dir string) []string {
	entries, _ := os.ReadDir("/proc")
	var out []string
	for _, d := range entries {
		if _, err := strconv.Atoi(d.Name()); err != nil {
			continue
		}
		cmdline, err := os.ReadFile(filepath.Join("/proc", d.Name(), "cmdline"))
		if err != nil || !strings.Contains(string(cmdline), dir) {
			continue
		}
		args := strings.Split(strings.TrimRight(string(cmdline), "\x00"), "\x00")
		out = append(out, d.Name()+" "+filepath.Base(args[0]))
	}
	sort.Strings(out)
	return out
}

func anyAlive(pids map[string]int) bool {
	for _, pid := range pids {
		if alive(pid) {
			return true
		}
	}
	return false
}

func assertNothingLeft(t *testing.T, pids map[string]int, dir string) {
	t.Helper()
	for name, pid := range pids {
		if alive(pid) {
			t.Errorf("%s (pid %d) still exists", name, pid)
		}
	}
	if got := processesUsing(dir); len(got) > 0 {
		t.Errorf("processes still using %s: %v", dir, got)
	}
}

func readHelper(t *testing.T, cmd *exec.Cmd, out interface{ Read([]byte) (int, error) }) (string, map[string]int) {
	t.Helper()
	type result struct {
		dir  string
		pids map[string]int
		err  error
	}
	ch := make(chan result, 1)
	go func() {
		r := result{pids: map[string]int{}}
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			f := strings.Fields(sc.Text())
			switch {
			case len(f) == 2 && f[0] == "DIR":
				r.dir = f[1]
			case len(f) == 3 && f[0] == "PID":
				r.pids[f[1]], _ = strconv.Atoi(f[2])
			case len(f) == 1 && f[0] == "READY":
				ch <- r
				return
			case len(f) > 0 && f[0] == "ERROR":
				r.err = errors.New(sc.Text())
				ch <- r
				return
			}
		}
		r.err = fmt.Errorf("helper output ended: %v", sc.Err())
		ch <- r
	}()
	select {
	case r := <-ch:
		if r.err != nil || r.dir == "" || len(r.pids) != len(binaries) {
			_ = cmd.Process.Kill()
			t.Fatalf("helper: dir %q pids %v: %v", r.dir, r.pids, r.err)
		}
		return r.dir, r.pids
	case <-time.After(90 * time.Second):
		_ = cmd.Process.Kill()
		t.Fatal("helper not ready within 90s")
	}
	return "", nil
}
