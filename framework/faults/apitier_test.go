package faults

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/hybridcni/hybridcni/framework/chart"
	"github.com/hybridcni/hybridcni/framework/cni"
	"github.com/hybridcni/hybridcni/framework/cni/cilium"
	"github.com/hybridcni/hybridcni/framework/cni/cnitest"
	"github.com/hybridcni/hybridcni/framework/cni/kuberouter"
	"github.com/hybridcni/hybridcni/framework/config"
	"github.com/hybridcni/hybridcni/framework/router"
	"github.com/hybridcni/hybridcni/framework/testenv"
)

// standInAgents are kube-router agents as far as BGP goes: one GoBGP
// speaker per hybrid node, peering with the router with the hold time the
// DaemonSet's --bgp-holdtime gives, restarted when it changes (as the
// DaemonSet's pods are).
type standInAgents struct {
	t     *testing.T
	c     *cni.Cluster
	rc    router.Config
	nodes []Node
	mu    sync.Mutex
	hold  time.Duration
	runs  map[string]*router.Router
	stop  chan struct{}
	done  sync.WaitGroup
}

func startStandInAgents(t *testing.T, c *cni.Cluster, rc router.Config, nodes []Node) *standInAgents {
	a := &standInAgents{t: t, c: c, rc: rc, nodes: nodes, runs: map[string]*router.Router{}, stop: make(chan struct{})}
	a.sync()
	a.done.Add(1)
	go func() {
		defer a.done.Done()
		tick := time.NewTicker(300 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-a.stop:
				return
			case <-tick.C:
				a.sync()
			}
		}
	}()
	t.Cleanup(func() {
		close(a.stop)
		a.done.Wait()
		for _, r := range a.runs {
			_ = r.Stop()
		}
	})
	return a
}

// sync restarts the speakers when the DaemonSet's hold time changed.
func (a *standInAgents) sync() {
	ds, err := a.c.Kube.AppsV1().DaemonSets(kuberouter.Namespace).Get(context.Background(), kuberouter.DaemonSetName, metav1.GetOptions{})
	if err != nil {
		return
	}
	var hold time.Duration
	for _, ctr := range ds.Spec.Template.Spec.Containers {
		for _, arg := range ctr.Args {
			if v, ok := strings.CutPrefix(arg, "--bgp-holdtime="); ok {
				hold, _ = time.ParseDuration(v)
			}
		}
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if hold == 0 || hold == a.hold {
		return
	}
	a.hold = hold
	for i, n := range a.nodes {
		if r := a.runs[n.Address]; r != nil {
			_ = r.Stop()
		}
		s, err := newSpeaker(a.rc, n.Address, hold)
		if err != nil {
			a.t.Errorf("node %s: %v", n.Name, err)
			continue
		}
		block := []string{"10.85.12.0/24", "10.85.13.0/24", "10.85.14.0/24"}[i%3]
		if err := s.Client().Advertise(context.Background(), block, n.Address); err != nil {
			a.t.Errorf("node %s: %v", n.Name, err)
		}
		a.runs[n.Address] = s
	}
}

// bgp-hold-time-changed on the API tier with the project's real kube-router
// chart: the fault edits the DaemonSet's --bgp-holdtime, the agents (stand-in
// GoBGP speakers following the DaemonSet) come back with it on a real GoBGP
// router, and bgp/parameters' router check fails naming each node and the
// hold time; heal puts the flag back and the check passes again.
func TestBGPHoldTimeChangedKubeRouter(t *testing.T) {
	cnitest.RequireAPITier(t)
	ctx := context.Background()
	env := testenv.StartT(t, testenv.WithHybridNodes(2), testenv.WithCloudNodes(0),
		testenv.WithCNIAgentSelector("k8s-app in (kube-router)"))
	c, err := cni.NewCluster(env.RESTConfig())
	if err != nil {
		t.Fatal(err)
	}
	src, err := chart.NewSource("../../" + kuberouter.ChartDir)
	if err != nil {
		t.Fatal(err)
	}
	run := config.Default()
	run.CNI = config.CNI{Name: kuberouter.Name, Version: "2.1.0", ChartSource: src.Location}
	run.BGP.Enabled = true
	run.Nodes = config.Nodes{Hybrid: 2}
	run.Complete()
	d, err := cni.NewDriver(kuberouter.Name, c, cni.Options{Source: src, Timeout: 90 * time.Second, Log: cnitest.Logger{T: t}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.Install(ctx, run); err != nil {
		t.Fatal(err)
	}

	rc, client := onPremRouter(t)
	var nodes []Node
	var rnodes []router.Node
	for i, name := range env.HybridNodes() {
		n := Node{name, []string{"127.0.0.2", "127.0.0.3"}[i]}
		nodes = append(nodes, n)
		rnodes = append(rnodes, router.Node{Name: n.Name, Address: n.Address})
	}
	startStandInAgents(t, c, rc, nodes)
	target := &liveTarget{shellTarget: shellTarget{rules: map[string]int{}}, cni: kuberouter.Name, rc: client,
		nodes: nodes, profile: kuberouter.Profile{}, cluster: c}
	k := router.NewChecker(client)
	k.Timeout = time.Minute
	want := router.GuidePeerParams(uint32(run.BGP.NodeASN))
	if err := k.PeerParametersAll(ctx, rnodes, want); err != nil {
		t.Fatalf("before the fault (the chart's 30 s): %v", err)
	}

	f, _ := Lookup("bgp-hold-time-changed")
	heal, names, err := f.Inject(ctx, target)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("fault names %v", names)
	err = k.PeerParametersAll(ctx, rnodes, want)
	if err == nil {
		t.Fatal("bgp/parameters' router check passed with the hold time changed")
	}
	t.Logf("caught: %v", err)
	for _, n := range rnodes {
		if w := n.String() + ": hold time 60 s negotiated, want 30 s"; !strings.Contains(err.Error(), w) {
			t.Errorf("failure lacks %q", w)
		}
	}
	if !containsAnyName(err.Error(), names) {
		t.Errorf("failure names none of %v", names)
	}

	if err := heal(ctx); err != nil {
		t.Fatal(err)
	}
	ds, err := c.Kube.AppsV1().DaemonSets(kuberouter.Namespace).Get(ctx, kuberouter.DaemonSetName, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if args := strings.Join(ds.Spec.Template.Spec.Containers[0].Args, " "); !strings.Contains(args, "--bgp-holdtime=30s") {
		t.Errorf("after heal the DaemonSet runs %s", args)
	}
	if err := k.PeerParametersAll(ctx, rnodes, want); err != nil {
		t.Errorf("after heal: %v", err)
	}
}

// standInCilium are Cilium agents as far as BGP goes: GoBGP speakers that
// take the hold time of CiliumBGPPeerConfig cilium-peer when their session
// is opened again, not before (Cilium applies changed timers to the next
// session), with the keepalive it gives (10 s, which the fault keeps).
type standInCilium struct {
	t       *testing.T
	c       *cni.Cluster
	rc      router.Config
	nodes   []Node
	mu      sync.Mutex
	running map[string]time.Duration
	runs    map[string]*router.Router
	up      map[string]bool
	stop    chan struct{}
	done    sync.WaitGroup
}

func startStandInCilium(t *testing.T, c *cni.Cluster, rc router.Config, nodes []Node) {
	a := &standInCilium{t: t, c: c, rc: rc, nodes: nodes, running: map[string]time.Duration{},
		runs: map[string]*router.Router{}, up: map[string]bool{}, stop: make(chan struct{})}
	for i, n := range nodes {
		a.start(i, n, a.desired())
	}
	a.done.Add(1)
	go func() {
		defer a.done.Done()
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-a.stop:
				return
			case <-tick.C:
				a.sync()
			}
		}
	}()
	t.Cleanup(func() {
		close(a.stop)
		a.done.Wait()
		for _, r := range a.runs {
			_ = r.Stop()
		}
	})
}

// desired is the hold time the peer config gives (30 s when unset).
func (a *standInCilium) desired() time.Duration {
	ri := a.c.Dynamic.Resource(schema.GroupVersionResource{Group: "cilium.io", Version: "v2alpha1", Resource: "ciliumbgppeerconfigs"})
	o, err := ri.Get(context.Background(), cilium.PeerConfigName, metav1.GetOptions{})
	if err != nil {
		return 30 * time.Second
	}
	secs, ok, _ := unstructured.NestedInt64(o.Object, "spec", "timers", "holdTimeSeconds")
	if !ok {
		return 30 * time.Second
	}
	return time.Duration(secs) * time.Second
}

func (a *standInCilium) start(i int, n Node, hold time.Duration) {
	s, err := newSpeakerKeepalive(a.rc, n.Address, hold, 10*time.Second)
	if err != nil {
		a.t.Errorf("node %s: %v", n.Name, err)
		return
	}
	if err := s.Client().Advertise(context.Background(), []string{"10.85.22.0/24", "10.85.23.0/24"}[i%2], n.Address); err != nil {
		a.t.Errorf("node %s: %v", n.Name, err)
	}
	a.runs[n.Address], a.running[n.Address] = s, hold
}

// sync: a session that went down comes back with the peer config's timers.
func (a *standInCilium) sync() {
	a.mu.Lock()
	defer a.mu.Unlock()
	for i, n := range a.nodes {
		ps, err := a.runs[n.Address].Client().Peers(context.Background())
		if err != nil || len(ps) == 0 {
			continue
		}
		up := ps[0].Established()
		if a.up[n.Address] && !up {
			if want := a.desired(); want != a.running[n.Address] {
				_ = a.runs[n.Address].Stop()
				a.start(i, n, want)
				up = false
			}
		}
		a.up[n.Address] = up
	}
}

// bgp-hold-time-changed with Cilium on the API tier: the fault edits the
// guide's CiliumBGPPeerConfig (the CRDs as the operator registers them);
// the stand-in agents keep their sessions, so the fault resets them on the
// router, they come back with 60 s, and bgp/parameters' check fails naming
// each node; heal restores the timers, the sessions are reset again, and
// the check passes.
func TestBGPHoldTimeChangedCilium(t *testing.T) {
	cnitest.RequireAPITier(t)
	ctx := context.Background()
	defer func(d time.Duration) { resetAfter = d }(resetAfter)
	resetAfter = 5 * time.Second
	env := testenv.StartT(t, testenv.WithHybridNodes(2), testenv.WithCloudNodes(0))
	c, err := cni.NewCluster(env.RESTConfig())
	if err != nil {
		t.Fatal(err)
	}
	cnitest.RegisterCRDs(t, c, cnitest.CiliumOperatorCRDs("v2alpha1")...)
	run := config.Default()
	run.CNI = config.CNI{Name: config.Cilium, Version: "1.16.19"}
	run.BGP.Enabled = true
	run.Complete()
	p := cilium.New()
	if _, err := c.Apply(ctx, p.BGPResources(run)); err != nil {
		t.Fatal(err)
	}

	rc, client := onPremRouter(t)
	var nodes []Node
	var rnodes []router.Node
	for i, name := range env.HybridNodes() {
		n := Node{name, []string{"127.0.0.4", "127.0.0.5"}[i]}
		nodes = append(nodes, n)
		rnodes = append(rnodes, router.Node{Name: n.Name, Address: n.Address})
	}
	startStandInCilium(t, c, rc, nodes)
	target := &liveTarget{shellTarget: shellTarget{rules: map[string]int{}}, cni: config.Cilium, rc: client,
		nodes: nodes, profile: p, cluster: c}
	k := router.NewChecker(client)
	k.Timeout = time.Minute
	want := router.GuidePeerParams(uint32(run.BGP.NodeASN))
	if err := k.PeerParametersAll(ctx, rnodes, want); err != nil {
		t.Fatalf("before the fault (the guide's 30 s): %v", err)
	}

	f, _ := Lookup("bgp-hold-time-changed")
	heal, names, err := f.Inject(ctx, target)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("fault names %v", names)
	err = k.PeerParametersAll(ctx, rnodes, want)
	if err == nil {
		t.Fatal("bgp/parameters' router check passed with the hold time changed")
	}
	t.Logf("caught: %v", err)
	for _, n := range rnodes {
		if w := n.String() + ": hold time 60 s negotiated, want 30 s"; !strings.Contains(err.Error(), w) {
			t.Errorf("failure lacks %q", w)
		}
	}
	if err := heal(ctx); err != nil {
		t.Fatal(err)
	}
	stand := &standInCilium{c: c}
	if got := stand.desired(); got != 30*time.Second {
		t.Errorf("after heal %s %s gives hold time %s, want the guide's 30 s", cilium.KindPeerConfig, cilium.PeerConfigName, got)
	}
	if err := k.PeerParametersAll(ctx, rnodes, want); err != nil {
		t.Errorf("after heal: %v", err)
	}
}
