package cloudcni_test

import (
	"context"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/hybridcni/hybridcni/framework/cloudcni"
	"github.com/hybridcni/hybridcni/framework/echo"
	"github.com/hybridcni/hybridcni/framework/lab"
	"github.com/hybridcni/hybridcni/framework/probe"
)

const (
	hybridPodCIDR = "10.85.0.0/16"
	cloudNodeIP   = "192.168.10.2"
	hybridNodeIP  = "192.168.10.3"
	routerIP      = "192.168.10.1"
	cloudPodIP    = "100.74.2.5" // in the block of 192.168.10.2 (cloudcni.Block)
	hybridPodIP   = "10.85.0.10"
	echoPort      = 8080
)

// cloudLab is the border of a hybrid cluster in network namespaces: a cloud
// node with a cloud pod (the agent's real SNAT rule), the on-prem router
// holding a hybrid node's pod block (as learned over BGP), and that hybrid
// node with an echo pod, all on one node network.
type cloudLab struct {
	cloudNode, router, hybridNode *lab.NS
	src                           probe.Source
	dst                           probe.Target
	// The other way: the hybrid pod as a source, the cloud pod's echo.
	hybridSrc probe.Source
	cloudDst  probe.Target
}

func newCloudLab(t *testing.T) *cloudLab {
	lab.RequireRoot(t)
	for _, tool := range []string{"iptables", "ip"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("lab tier: skipped: %s is not installed", tool)
		}
	}
	l := lab.ForTest(t)
	ns := func(name string, opts ...lab.NSOption) *lab.NS {
		n, err := l.NS(name, opts...)
		must(t, err)
		return n
	}
	c := &cloudLab{router: ns("rtr", lab.WithForwarding(), lab.WithSysctl("net.ipv4.conf.all.send_redirects", "0")),
		cloudNode: ns("cloud", lab.WithForwarding()), hybridNode: ns("hybrid", lab.WithForwarding())}
	cpod, hpod := ns("cloud-pod"), ns("hybrid-pod")
	br, err := c.router.AddBridge("br-nodes", routerIP+"/24")
	must(t, err)
	_, err = br.Attach(lab.End{NS: c.cloudNode, Name: "eth0", Addrs: []string{cloudNodeIP + "/24"}}, "p-cloud")
	must(t, err)
	_, err = br.Attach(lab.End{NS: c.hybridNode, Name: "eth0", Addrs: []string{hybridNodeIP + "/24"}}, "p-hybrid")
	must(t, err)
	must(t, lab.Veth(lab.End{NS: cpod, Name: "eth0", Addrs: []string{cloudPodIP + "/24"}},
		lab.End{NS: c.cloudNode, Name: "veth-pod", Addrs: []string{"100.74.2.1/24"}}))
	must(t, cpod.AddRoute(lab.Route{Dst: "default", Gw: "100.74.2.1"}))
	must(t, lab.Veth(lab.End{NS: hpod, Name: "eth0", Addrs: []string{hybridPodIP + "/25"}},
		lab.End{NS: c.hybridNode, Name: "veth-pod", Addrs: []string{"10.85.0.1/25"}}))
	must(t, hpod.AddRoute(lab.Route{Dst: "default", Gw: "10.85.0.1"}))
	// The router's route to the hybrid node's block, as BGP would install it.
	must(t, c.router.AddRoute(lab.Route{Dst: "10.85.0.0/25", Gw: hybridNodeIP}))
	// The cloud CNI's SNAT on the cloud node, as the agent writes it.
	block, err := cloudcni.Block(netip.MustParseAddr(cloudNodeIP))
	must(t, err)
	if block.String() != "100.74.2.0/24" {
		t.Fatalf("the cloud node's block is %s; the lab's pod addresses assume 100.74.2.0/24", block)
	}
	rule := cloudcni.MasqueradeRule(block)
	run(t, c.cloudNode, "iptables", append([]string{"-w", rule[0], rule[1], "-A"}, rule[2:]...)...)

	// The on-prem side reaches cloud pods through the router, as it
	// reaches a VPC (topologies.Env.RouteCloudPods).
	must(t, c.router.AddRoute(lab.Route{Dst: block.String(), Gw: cloudNodeIP}))
	must(t, c.hybridNode.AddRoute(lab.Route{Dst: cloudcni.PodCIDR.String(), Gw: routerIP}))

	serve(t, hpod, "echo-hybrid")
	serve(t, cpod, "echo-cloud")
	c.hybridSrc = probe.Source{Place: probe.InNetNS(hpod, []string{os.Args[0]}, cliEnv), Name: "echo-hybrid-1-a", IP: hybridPodIP}
	c.cloudDst = probe.HTTPTarget("echo-cloud-1-cloud", cloudPodIP, echoPort, "/clientip")

	c.src = probe.Source{Place: probe.InNetNS(cpod, []string{os.Args[0]}, cliEnv), Name: "echo-cloud-1-cloud", IP: cloudPodIP}
	c.dst = probe.HTTPTarget("echo-hybrid-1-a", hybridPodIP, echoPort, "/clientip")
	return c
}

// remotePodNetwork routes the hybrid pod CIDR from the cloud node through
// the router (routable), or refuses it there, as the topology does.
func (c *cloudLab) remotePodNetwork(t *testing.T, routable bool) {
	if routable {
		run(t, c.cloudNode, "ip", "route", "replace", hybridPodCIDR, "via", routerIP)
	} else {
		run(t, c.cloudNode, "ip", "route", "replace", "unreachable", hybridPodCIDR)
	}
}

func (c *cloudLab) check(t *testing.T, routable bool) *probe.Report {
	t.Helper()
	pc := probe.NewCheck(probe.WithLogf(t.Logf), probe.WithTimeout(2*time.Second))
	must(t, pc.Expect(cloudcni.CloudToHybrid(c.src, "cloud-1", cloudNodeIP, []probe.Target{c.dst}, routable)...))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	rep := pc.Run(ctx)
	t.Logf("\n%s", rep.Table())
	return rep
}

// The check pod-to-pod/cloud-to-hybrid on real packets: a cloud pod reaches
// the hybrid pod, seen from the cloud node's address, exactly when the
// cloud side routes the hybrid pod CIDR through the router; unroutable, the
// expected failure holds and the success expectation fails naming the pair;
// the fault cloud-to-hybrid-pods-dropped's rule fails the routable case,
// naming the pair.
func TestCloudToHybridLab(t *testing.T) {
	c := newCloudLab(t)
	pair := "pod-to-pod/cloud-to-hybrid: echo-cloud-1-cloud (100.74.2.5) -> echo-hybrid-1-a (10.85.0.10)"

	c.remotePodNetwork(t, true)
	if err := c.check(t, true).Err(); err != nil {
		t.Fatalf("routable: %v", err)
	}

	c.remotePodNetwork(t, false)
	rep := c.check(t, false)
	if err := rep.Err(); err != nil {
		t.Fatalf("unroutable, the expected failure: %v", err)
	}
	if err := c.check(t, true).Err(); err == nil || !strings.Contains(err.Error(), pair) {
		t.Fatalf("unroutable while the check wants success: %v; want a failure naming %q", err, pair)
	}

	c.remotePodNetwork(t, true)
	drop := append([]string{"-w", "-t", "filter", "-I"}, cloudcni.DropToHybrid(hybridPodCIDR)...)
	run(t, c.cloudNode, "iptables", drop...)
	err := c.check(t, true).Err()
	if err == nil || !strings.Contains(err.Error(), pair) {
		t.Fatalf("with the fault's rule: %v; want a failure naming %q", err, pair)
	}
	drop[3] = "-D"
	run(t, c.cloudNode, "iptables", drop...)
	if err := c.check(t, true).Err(); err != nil {
		t.Fatalf("after the fault's rule is gone: %v", err)
	}
}

func serve(t *testing.T, ns *lab.NS, name string) {
	var s *echo.Server
	must(t, ns.Do(func() (err error) {
		s, err = echo.Listen(echo.Config{HTTPPort: echoPort, UDPPort: -1, TCPPort: -1, Hostname: name})
		return err
	}))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
}

func (c *cloudLab) checkHybridToCloud(t *testing.T, routable, masquerade bool) error {
	t.Helper()
	pc := probe.NewCheck(probe.WithLogf(t.Logf), probe.WithTimeout(2*time.Second))
	must(t, pc.Expect(cloudcni.HybridToCloud([]probe.Source{c.hybridSrc}, c.cloudDst, routable, masquerade)...))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	rep := pc.Run(ctx)
	t.Logf("\n%s", rep.Table())
	return rep.Err()
}

// The check pod-to-pod/hybrid-to-cloud on real packets: with masquerading
// off the cloud pod sees the hybrid pod's address and answers it only
// through the remote pod network; unroutable, the expected failure holds
// and a success expectation fails naming the pair; masquerading on the
// hybrid node makes it work anyway; the fault hybrid-to-cloud-pods-dropped's
// rules fail it naming the pair.
func TestHybridToCloudLab(t *testing.T) {
	c := newCloudLab(t)
	pair := "pod-to-pod/hybrid-to-cloud: echo-hybrid-1-a (10.85.0.10) -> echo-cloud-1-cloud (100.74.2.5)"

	c.remotePodNetwork(t, true)
	if err := c.checkHybridToCloud(t, true, false); err != nil {
		t.Fatalf("routable, masquerading off: %v", err)
	}
	c.remotePodNetwork(t, false)
	if err := c.checkHybridToCloud(t, false, false); err != nil {
		t.Fatalf("unroutable, masquerading off, the expected failure: %v", err)
	}
	if err := c.checkHybridToCloud(t, true, false); err == nil || !strings.Contains(err.Error(), pair) {
		t.Fatalf("unroutable while the check wants success: %v; want a failure naming %q", err, pair)
	}
	masq := []string{"-w", "-t", "nat", "-A", "POSTROUTING", "-s", hybridPodCIDR, "!", "-d", hybridPodCIDR, "-o", "eth0", "-j", "MASQUERADE"}
	run(t, c.hybridNode, "iptables", masq...)
	if err := c.checkHybridToCloud(t, false, true); err != nil {
		t.Fatalf("unroutable, masquerading on: %v", err)
	}
	masq[3] = "-D"
	run(t, c.hybridNode, "iptables", masq...)

	c.remotePodNetwork(t, true)
	rules := cloudcni.DropFromHybrid(hybridPodCIDR, []string{hybridNodeIP})
	for _, r := range rules {
		run(t, c.cloudNode, "iptables", append([]string{"-w", "-t", "filter", "-I"}, r...)...)
	}
	if err := c.checkHybridToCloud(t, true, false); err == nil || !strings.Contains(err.Error(), pair) {
		t.Fatalf("with the fault's rules: %v; want a failure naming %q", err, pair)
	}
	for _, r := range rules {
		run(t, c.cloudNode, "iptables", append([]string{"-w", "-t", "filter", "-D"}, r...)...)
	}
	if err := c.checkHybridToCloud(t, true, false); err != nil {
		t.Fatalf("after the fault's rules are gone: %v", err)
	}
}

func run(t *testing.T, ns *lab.NS, name string, args ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := ns.Run(ctx, name, args...); err != nil {
		t.Fatal(err)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
