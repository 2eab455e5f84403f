package topologies

import (
	"slices"
	"strings"
	"testing"

	"sigs.k8s.io/kind/pkg/apis/config/v1alpha4"

	"github.com/hybridcni/hybridcni/framework/config"

	"github.com/hybridcni/hybridcni/framework/cni"
)

func run(t *testing.T, edit func(*config.Run)) config.Run {
	t.Helper()
	r, err := config.Parse(nil, edit)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Validate(); err != nil {
		t.Fatal(err)
	}
	return r
}

func TestKindConfigLabelsHybridWorkersAndDisablesTheCNI(t *testing.T) {
	r := run(t, func(r *config.Run) { r.Nodes.Hybrid = 3; r.Nodes.Cloud = 1; r.Kubernetes.Version = "1.36.4" })
	c, err := KindConfig(r, "hcni-test")
	if err != nil {
		t.Fatal(err)
	}
	if !c.Networking.DisableDefaultCNI || c.Networking.PodSubnet != "10.85.0.0/16" || c.Networking.ServiceSubnet != "10.96.0.0/16" {
		t.Errorf("networking = %+v", c.Networking)
	}
	var hybrid, cloud, cp int
	for _, n := range c.Nodes {
		if !strings.HasPrefix(n.Image, "kindest/node:v1.36.4@sha256:") {
			t.Errorf("node image %q is not the pinned 1.36.4 image", n.Image)
		}
		switch {
		case n.Role == v1alpha4.ControlPlaneRole:
			cp++
			if _, ok := n.Labels[cni.HybridLabel]; ok {
				t.Error("the control plane must not carry the hybrid label")
			}
		case n.Labels[cni.HybridLabel] == cni.HybridValue:
			hybrid++
		default:
			cloud++
		}
	}
	if cp != 1 || hybrid != 3 || cloud != 1 {
		t.Errorf("control planes %d, hybrid %d, cloud %d; want 1, 3, 1", cp, hybrid, cloud)
	}
	if len(c.KubeadmConfigPatches) != 1 || !strings.Contains(c.KubeadmConfigPatches[0], `node-cidr-mask-size: "25"`) ||
		!strings.Contains(c.KubeadmConfigPatches[0], "value: \"25\"") {
		t.Errorf("want only the node CIDR mask patch for /25 blocks (both kubeadm versions), got %v", c.KubeadmConfigPatches)
	}
	c, _ = KindConfig(r, "hcni-test", WithCgroupV1(true), WithNodeImage("hybridcni/node:dev"))
	if len(c.KubeadmConfigPatches) != 2 || !strings.Contains(c.KubeadmConfigPatches[1], "failCgroupV1: false") {
		t.Errorf("cgroup v1 patch missing: %v", c.KubeadmConfigPatches)
	}
	if c.Nodes[0].Image != "hybridcni/node:dev" {
		t.Errorf("explicit node image ignored: %s", c.Nodes[0].Image)
	}
}

func TestNodeImageByVersion(t *testing.T) {
	for _, v := range []string{"1.37.0", "v1.35.8", "1.34"} {
		if _, err := NodeImage(v); err != nil {
			t.Errorf("%s: %v", v, err)
		}
	}
	_, err := KindConfig(run(t, func(r *config.Run) { r.Kubernetes.Version = "1.20.0" }), "x")
	if !slices.Contains(config.Fields(err), "kubernetes.version") || !strings.Contains(err.Error(), "1.37.0") {
		t.Fatalf("unknown version: %v should name kubernetes.version and list the pinned ones", err)
	}
}

func TestUniqueNames(t *testing.T) {
	seen := map[string]bool{}
	for range 200 {
		n := UniqueName("cilium-1-16-19-to-1-17-18-bgp-nomasq-and-more")
		if seen[n] {
			t.Fatalf("%s repeated", n)
		}
		seen[n] = true
		if len(n) > maxClusterName || !strings.HasPrefix(n, NamePrefix) {
			t.Fatalf("%q: too long or without prefix", n)
		}
	}
}

func TestAddressPlan(t *testing.T) {
	a, err := PlanAddresses(run(t, nil))
	if err != nil {
		t.Fatal(err)
	}
	if a.Router.String() != "10.80.0.254" || a.OnPremHost.String() != "10.80.0.253" || a.NodePool.String() != "10.80.0.0/25" || a.Gateway.String() != "10.80.0.1" {
		t.Errorf("plan = %+v", a)
	}
	cases := map[string]struct {
		edit  func(*config.Run)
		field string
	}{
		"router in the node pool": {func(r *config.Run) { r.BGP.RouterAddress = "10.80.0.10" }, "bgp.routerAddress"},
		"too many nodes": {func(r *config.Run) {
			r.Network.NodeCIDR = "10.80.0.0/27"
			r.BGP.RouterAddress = "10.80.0.30"
			r.Nodes.Hybrid = 14
		}, "network.nodeCIDR"},
		"router at the broadcast-1": {func(r *config.Run) { r.Network.NodeCIDR = "10.80.0.0/28"; r.BGP.RouterAddress = "10.80.0.9" }, ""},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := PlanAddresses(run(t, c.edit))
			if c.field == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if !slices.Contains(config.Fields(err), c.field) {
				t.Fatalf("%v does not name %s", err, c.field)
			}
		})
	}
}

func TestTopologies(t *testing.T) {
	if got := Builtin(); !slices.Equal(got, []string{"default", "isolated-pods", "minimal"}) {
		t.Errorf("builtin = %v", got)
	}
	bgp := run(t, func(r *config.Run) { r.BGP.Enabled = true })
	plain := run(t, nil)
	for _, name := range Builtin() {
		topo, err := Load(name)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		want := map[string][2]bool{"default": {true, false}, "isolated-pods": {false, false}, "minimal": {false, false}}[name]
		if topo.RoutesPodCIDRs(bgp) != want[0] || topo.RoutesPodCIDRs(plain) != want[1] {
			t.Errorf("%s routes pod CIDRs: bgp %v plain %v", name, topo.RoutesPodCIDRs(bgp), topo.RoutesPodCIDRs(plain))
		}
	}
	for doc, field := range map[string]string{
		"name: x\nrouter: false\nremotePodNetwork: always\n": "topology.remotePodNetwork",
		"name: x\nremotePodNetwork: sometimes\n":             "topology.remotePodNetwork",
		"router: true\n":                                     "topology.name",
		"name: x\nrouters: true\n":                           "topology",
	} {
		if _, err := Parse([]byte(doc)); !slices.Contains(config.Fields(err), field) {
			t.Errorf("%q: %v does not name %s", doc, err, field)
		}
	}
	if _, err := Load("nope"); !slices.Contains(config.Fields(err), "topology") {
		t.Errorf("unknown topology: %v", err)
	}
}
