package faults

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/hybridcni/hybridcni/framework/chart"
	"github.com/hybridcni/hybridcni/framework/cni"
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
