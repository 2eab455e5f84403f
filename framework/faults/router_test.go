package faults

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"

	"github.com/hybridcni/hybridcni/framework/cni"
	"github.com/hybridcni/hybridcni/framework/router"
)

// liveTarget is a Target with a real router, real nodes and, for the API
// tier, a real API server; what it does not override is shellTarget's.
type liveTarget struct {
	shellTarget
	cni     string
	rc      *router.Client
	nodes   []Node
	profile cni.Profile
	cluster *cni.Cluster
}

func (l *liveTarget) CNI() string                { return l.cni }
func (l *liveTarget) Router() *router.Client     { return l.rc }
func (l *liveTarget) HybridNodes() []Node        { return l.nodes }
func (l *liveTarget) Profile() cni.Profile       { return l.profile }
func (l *liveTarget) Cluster() *cni.Cluster      { return l.cluster }
func (l *liveTarget) Kube() kubernetes.Interface { return l.cluster.Kube }
func (l *liveTarget) Dynamic() dynamic.Interface { return l.cluster.Dynamic }

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// onPremRouter runs the router as the topologies do (dynamic neighbors,
// graceful restart, hold time 90 s so the nodes' shows) on loopback and
// returns a client of its gRPC API, as the suites dial it.
func onPremRouter(t *testing.T) (router.Config, *router.Client) {
	t.Helper()
	_, port, _ := net.SplitHostPort(freeAddr(t))
	var p int32
	for _, c := range port {
		p = p*10 + int32(c-'0')
	}
	cfg := router.Config{ASN: 64512, RouterID: "127.0.0.1", ListenAddresses: []string{"127.0.0.1"}, ListenPort: p,
		NeighborPrefixes: []string{"127.0.0.0/26"}, HoldTime: 90 * time.Second, Keepalive: 30 * time.Second,
		ConnectRetry: time.Second, GracefulRestart: true, APIAddress: freeAddr(t)}
	r, err := router.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = r.Stop() })
	c, err := router.Dial(cfg.APIAddress)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return r.Config(), c
}

// nodeSpeaker is a hybrid node's BGP speaker (GoBGP) at addr, dialing the
// router, with hold time hold (keepalive a third of it, as kube-router).
func nodeSpeaker(t *testing.T, rc router.Config, addr string, hold time.Duration) *router.Router {
	t.Helper()
	s, err := newSpeaker(rc, addr, hold)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func newSpeaker(rc router.Config, addr string, hold time.Duration) (*router.Router, error) {
	return newSpeakerKeepalive(rc, addr, hold, hold/3)
}

func newSpeakerKeepalive(rc router.Config, addr string, hold, keepalive time.Duration) (*router.Router, error) {
	s, err := router.New(router.Config{ASN: 65001, RouterID: addr, ListenPort: -1,
		Neighbors: []router.Neighbor{{Address: "127.0.0.1", ASN: rc.ASN, Port: uint32(rc.ListenPort), LocalAddress: addr}},
		HoldTime:  hold, Keepalive: keepalive, ConnectRetry: time.Second, GracefulRestart: true, RestartTime: 120 * time.Second})
	if err != nil {
		return nil, err
	}
	if err := s.Start(context.Background()); err != nil {
		return nil, err
	}
	return s, nil
}

// service-routes-filtered on a real GoBGP router, through its gRPC API as
// the suites use it: two nodes advertise their blocks and the same service
// addresses; with the fault, bgp/services' router check fails naming the
// filtered node and the prefix while that node keeps its session and pod
// block; after heal it passes again.
func TestServiceRoutesFilteredOnARealRouter(t *testing.T) {
	if testing.Short() {
		t.Skip("router tier: skipped under -short")
	}
	ctx := context.Background()
	rc, client := onPremRouter(t)
	target := &liveTarget{shellTarget: shellTarget{rules: map[string]int{}}, cni: "test", rc: client,
		nodes: []Node{{"hybrid-a", "127.0.0.2"}, {"hybrid-b", "127.0.0.3"}}}
	blocks := map[string]string{"127.0.0.2": "10.85.2.0/24", "127.0.0.3": "10.85.3.0/24"}
	// A ClusterIP (service CIDR 10.96.0.0/16) and a LoadBalancer address.
	services := []string{"10.96.0.10/32", "198.18.0.5/32"}
	var nodes []router.Node
	for _, n := range target.nodes {
		s := nodeSpeaker(t, rc, n.Address, 30*time.Second)
		t.Cleanup(func() { _ = s.Stop() })
		for _, p := range append([]string{blocks[n.Address]}, services...) {
			if err := s.Client().Advertise(ctx, p, n.Address); err != nil {
				t.Fatal(err)
			}
		}
		nodes = append(nodes, router.Node{Name: n.Name, Address: n.Address})
	}
	k := router.NewChecker(client)
	k.Timeout = 30 * time.Second
	servicesCheck := func() error {
		for _, s := range services {
			if err := k.AdvertisedByOnly(ctx, s, nodes, ""); err != nil {
				return err
			}
		}
		return nil
	}
	if err := servicesCheck(); err != nil {
		t.Fatalf("before the fault: %v", err)
	}

	f, _ := Lookup("service-routes-filtered")
	heal, names, err := f.Inject(ctx, target)
	if err != nil {
		t.Fatal(err)
	}
	k.Timeout = 5 * time.Second
	err = servicesCheck()
	if err == nil {
		t.Fatal("bgp/services' router check passed with the filter in place")
	}
	t.Logf("caught: %v", err)
	for _, want := range []string{"node hybrid-b (127.0.0.3): not advertised", "prefix 10.96.0.10/32"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("failure does not name %q: %v", want, err)
		}
	}
	if strings.Contains(err.Error(), "hybrid-a") {
		t.Errorf("the unfiltered node is named: %v", err)
	}
	if !containsAnyName(err.Error(), names) {
		t.Errorf("failure names none of the fault's names %v", names)
	}
	// One property: the session and the pod block stay.
	if err := k.PeerEstablished(ctx, nodes[1]); err != nil {
		t.Errorf("the filtered node lost its session: %v", err)
	}
	if err := k.PrefixLearned(ctx, nodes[1], blocks["127.0.0.3"]); err != nil {
		t.Errorf("the filtered node's pod block is gone: %v", err)
	}

	if err := heal(ctx); err != nil {
		t.Fatal(err)
	}
	k.Timeout = 30 * time.Second
	if err := servicesCheck(); err != nil {
		t.Errorf("after heal: %v", err)
	}
	// Healed twice (a retried heal step) is no error.
	if err := heal(ctx); err != nil {
		t.Errorf("second heal: %v", err)
	}
}

func containsAnyName(s string, names []string) bool {
	for _, n := range names {
		if n != "" && strings.Contains(s, n) {
			return true
		}
	}
	return false
}

// foreign-peer-announces-block announces the block the node itself
// announces (the CNI's IPAM's), not the node's spec.podCIDR, which Cilium's
// cluster pool leaves unused: read from the router, the hijack is the
// node's real block and bgp/pod-blocks fails at once, naming it.
func TestNodeBlockIsTheBlockTheNodeAnnounces(t *testing.T) {
	if testing.Short() {
		t.Skip("router tier: skipped under -short")
	}
	ctx := context.Background()
	rc, client := onPremRouter(t)
	node := Node{"hybrid-b", "127.0.0.3"}
	target := &liveTarget{shellTarget: shellTarget{rules: map[string]int{}}, cni: "test", rc: client, nodes: []Node{node}}
	s := nodeSpeaker(t, rc, node.Address, 30*time.Second)
	t.Cleanup(func() { _ = s.Stop() })
	// A service address outside the pod CIDR comes first: not a block.
	for _, p := range []string{"10.96.0.10/32", "10.85.3.128/25"} {
		if err := s.Client().Advertise(ctx, p, node.Address); err != nil {
			t.Fatal(err)
		}
	}
	k := router.NewChecker(client)
	if err := k.PrefixLearned(ctx, router.Node{Name: node.Name, Address: node.Address}, "10.85.3.128/25"); err != nil {
		t.Fatal(err)
	}
	got, err := nodeBlock(ctx, target, node)
	if err != nil {
		t.Fatal(err)
	}
	if got != "10.85.3.128/25" {
		t.Fatalf("nodeBlock = %s, want the block the node announces, 10.85.3.128/25", got)
	}
}
