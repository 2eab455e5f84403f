package kuberouter_test

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/hybridcni/hybridcni/framework/chart"
	"github.com/hybridcni/hybridcni/framework/cni"
	"github.com/hybridcni/hybridcni/framework/cni/cnitest"
	"github.com/hybridcni/hybridcni/framework/cni/kuberouter"
	"github.com/hybridcni/hybridcni/framework/config"
	"github.com/hybridcni/hybridcni/framework/image"
	"github.com/hybridcni/hybridcni/framework/nodeimage/nodeimagetest"
	"github.com/hybridcni/hybridcni/framework/router"
	"github.com/hybridcni/hybridcni/topologies"
)

// requireKubeRouterImage skips loudly when the CNI image is not built.
func requireKubeRouterImage(t *testing.T, env nodeimagetest.Env) {
	t.Helper()
	if ok, err := env.Docker.ImageExists(context.Background(), kuberouter.Image()); err != nil || !ok {
		reason := fmt.Sprintf("kube-router image %s is not built: run hack/kube-router-image.sh (make node-image)", kuberouter.Image())
		fmt.Fprintf(os.Stderr, "### SKIPPED %s: %s\n", t.Name(), reason)
		t.Skip("kind tier: skipped: " + reason)
	}
}

// Kind tier, the whole topology: the on-prem router container on the node
// network, kube-router on the hybrid workers peering with it. Every hybrid
// node gets an established session and the router learns each node's pod
// CIDR with the node as next hop, and nothing else from it.
func TestKubeRouterPeersWithTheRouterOnKind(t *testing.T) {
	env := nodeimagetest.Require(t)
	requireKubeRouterImage(t, env)
	ctx, cancel := context.WithTimeout(context.Background(), 12*time.Minute)
	defer cancel()

	const version = "krtest"
	bin, err := image.CachedBinary(context.Background(), "hybridcni-"+version, version) // not bounded by the test clock
	if err != nil {
		t.Fatal(err)
	}
	b := &image.Builder{Docker: env.Docker, Binary: bin, Version: version, Logf: t.Logf}
	for _, s := range image.All {
		if _, err := b.Build(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	imgs := topologies.Images{Router: image.Ref(image.Router.Name, version), Echo: image.Ref(image.Echo.Name, version), Node: env.Image}

	node := nodeimagetest.FreeSubnet(t, env.Docker, 192)
	r, err := config.Parse(nil, func(r *config.Run) {
		r.Name = "krbgp"
		r.Network.NodeCIDR = node.String()
		r.Network.PodCIDR = "10.215.0.0/16"
		r.Network.BlockSize = 24 // the controller manager's default node CIDR size
		r.BGP.RouterAddress = ""
		r.BGP.Enabled = true
		r.Network.Masquerade = false
		r.Nodes = config.Nodes{Hybrid: 2}
	})
	if err != nil {
		t.Fatal(err)
	}
	topo, err := topologies.Load("default")
	if err != nil {
		t.Fatal(err)
	}
	e, err := topologies.Up(ctx, env.Docker, topologies.Spec{Run: r, Topology: topo, Name: topologies.UniqueName("krbgp"),
		Images: imgs, Cluster: true, CgroupV1: nodeimagetest.CgroupV1(), StateDir: t.TempDir()}, topologies.WithLogf(t.Logf))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := e.Down(context.Background()); err != nil {
			t.Errorf("down: %v", err)
		}
	})
	nodeimagetest.LoadImage(t, env, nodeimagetest.Cluster{Name: e.Name}, kuberouter.Image())

	rc, err := clientcmd.BuildConfigFromFlags("", e.Kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	cl, err := cni.NewCluster(rc)
	if err != nil {
		t.Fatal(err)
	}
	src, err := chart.NewSource("../../../" + kuberouter.ChartDir)
	if err != nil {
		t.Fatal(err)
	}
	run := r
	run.CNI = config.CNI{Name: kuberouter.Name, Version: "2.1.0", ChartSource: src.Location}
	run.BGP.RouterAddress, run.BGP.RouterASN, run.BGP.NodeASN = e.Router.String(), e.RouterASN, e.NodeASN
	d, err := cni.NewDriver(kuberouter.Name, cl, cni.Options{Source: src, Timeout: 4 * time.Minute, Log: cnitest.Logger{T: t}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.Install(ctx, run); err != nil {
		t.Fatal(err)
	}

	rt, err := router.Dial(e.RouterAPI)
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Close()
	k := router.NewChecker(rt)
	k.Timeout = 3 * time.Minute
	want := router.NodeBlocks{}
	for _, n := range e.Nodes {
		if !n.Hybrid {
			continue
		}
		kn, err := cl.Kube.CoreV1().Nodes().Get(ctx, n.Name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := netip.ParsePrefix(kn.Spec.PodCIDR); err != nil {
			t.Fatalf("node %s has no pod CIDR: %q", n.Name, kn.Spec.PodCIDR)
		}
		rn := router.Node{Name: n.Name, Address: n.IP.String()}
		if err := k.PeerEstablished(ctx, rn); err != nil {
			t.Fatal(err)
		}
		want[rn] = []string{kn.Spec.PodCIDR}
	}
	if len(want) != 2 {
		t.Fatalf("%d hybrid nodes in the topology, want 2", len(want))
	}
	// Service addresses are advertised too; the pod blocks are what is inside the pod CIDR.
	if err := k.ExactBlocks(ctx, want, r.Network.PodCIDR); err != nil {
		t.Fatal(err)
	}
	if err := d.Uninstall(ctx); err != nil {
		t.Fatal(err)
	}
}
