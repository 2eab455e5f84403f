package probe_test

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/hybridcni/hybridcni/framework/echo"
	"github.com/hybridcni/hybridcni/framework/lab"
	"github.com/hybridcni/hybridcni/framework/probe"
)

// The lab cluster, all inside namespaces the test makes:
//
//	onprem (192.168.50.10, echo server process) -- rtr (192.168.50.1 / 192.168.10.1, bridge br-nodes)
//	rtr br-nodes -- node1 eth0 192.168.10.11, node2 eth0 192.168.10.12
//	nodeN: bridge cni0 (first address of its pod block) with pod namespaces,
//	       vxlan0 (VNI 42, point-to-point to the other node) carrying the other block.
//
// Pod CIDR 10.100.0.0/24: node1 10.100.0.0/25 (pods .10+), node2 10.100.0.128/25 (pods .140+).
const (
	podCIDR    = "10.100.0.0/24"
	onpremIP   = "192.168.50.10"
	routerOnIP = "192.168.50.1"
	routerNdIP = "192.168.10.1"
	httpPort   = 8080
	udpPort    = 9000
	tcpPort    = 9001
	closedPort = 8081 // nothing listens here
)

type clusterOpts struct {
	podsPerNode int
	// masquerade: pod traffic leaving the pod CIDR is masqueraded to the
	// node IP (iptables MASQUERADE in each node), and the router has no
	// routes to pod blocks. Off: no rule, the router routes each block to its node.
	masquerade bool
}

type labCluster struct {
	t      testing.TB
	lab    *lab.Lab
	onprem *lab.NS
	rtr    *lab.NS
	nodes  []*labNode
	echo   *lab.Proc
	masq   bool
}

type labNode struct {
	ns       *lab.NS
	name, ip string
	block    string
	gwIP     string // cni0 address
	vxlanIP  string
	rtrPort  string // this node's port on the router's bridge
	pods     []*labPod
}

type labPod struct {
	ns       *lab.NS
	name, ip string
	node     *labNode
}

func (p *labPod) source() probe.Source {
	return probe.Source{Place: probe.InNetNS(p.ns, cliBin(), cliEnv), Name: p.name, IP: p.ip}
}

func (n *labNode) source() probe.Source {
	return probe.Source{Place: probe.InNetNS(n.ns, cliBin(), cliEnv), Name: n.name, IP: n.ip}
}

func (p *labPod) http() probe.Target {
	return probe.HTTPTarget(p.name, p.ip, httpPort, "/clientip")
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func mustNS(t testing.TB, l *lab.Lab, name string, opts ...lab.NSOption) *lab.NS {
	t.Helper()
	n, err := l.NS(name, opts...)
	must(t, err)
	return n
}

// iptables runs iptables in a namespace (real netfilter rules).
func iptables(t testing.TB, ns *lab.NS, args ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := ns.Run(ctx, "iptables", append([]string{"-w"}, args...)...); err != nil {
		t.Fatal(err)
	}
}

func masqueradeRule(op string) []string {
	return []string{"-t", "nat", op, "POSTROUTING", "-s", podCIDR, "!", "-d", podCIDR, "-o", "eth0", "-j", "MASQUERADE"}
}

func requireLabTools(t testing.TB) {
	t.Helper()
	lab.RequireRoot(t)
	if _, err := exec.LookPath("iptables"); err != nil {
		t.Skip("lab tier: skipped: iptables is not installed (apt-get install iptables)")
	}
}

// newCluster builds the lab cluster and starts the echo servers: a
// `hybridcni echo` process on the on-prem host, in-process servers in every
// pod and node namespace.
func newCluster(t testing.TB, o clusterOpts) *labCluster {
	t.Helper()
	requireLabTools(t)
	if o.podsPerNode == 0 {
		o.podsPerNode = 2
	}
	l := lab.ForTest(t)
	c := &labCluster{t: t, lab: l}
	c.onprem = mustNS(t, l, "onprem")
	c.rtr = mustNS(t, l, "rtr", lab.WithForwarding())
	must(t, lab.Veth(lab.End{NS: c.onprem, Name: "eth0", Addrs: []string{onpremIP + "/24"}},
		lab.End{NS: c.rtr, Name: "to-onprem", Addrs: []string{routerOnIP + "/24"}}))
	must(t, c.onprem.AddRoute(lab.Route{Dst: "default", Gw: routerOnIP}))
	br, err := c.rtr.AddBridge("br-nodes", routerNdIP+"/24")
	must(t, err)

	for i := range 2 {
		n := &labNode{name: fmt.Sprintf("node%d", i+1), ip: fmt.Sprintf("192.168.10.%d", 11+i)}
		base := 128 * i
		n.block = fmt.Sprintf("10.100.0.%d/25", base)
		n.gwIP = fmt.Sprintf("10.100.0.%d", base+1)
		n.vxlanIP = fmt.Sprintf("10.100.255.%d", i+1)
		n.ns = mustNS(t, l, n.name, lab.WithForwarding())
		n.rtrPort, err = br.Attach(lab.End{NS: n.ns, Name: "eth0", Addrs: []string{n.ip + "/24"}}, "p-"+n.name)
		must(t, err)
		must(t, n.ns.AddRoute(lab.Route{Dst: "default", Gw: routerNdIP}))
		cni, err := n.ns.AddBridge("cni0", n.gwIP+"/25")
		must(t, err)
		for j := range o.podsPerNode {
			p := &labPod{name: fmt.Sprintf("pod-%d-%d", i+1, j), ip: fmt.Sprintf("10.100.0.%d", base+10+j), node: n}
			p.ns = mustNS(t, l, p.name)
			_, err := cni.Attach(lab.End{NS: p.ns, Name: "eth0", Addrs: []string{p.ip + "/25"}})
			must(t, err)
			must(t, p.ns.AddRoute(lab.Route{Dst: "default", Gw: n.gwIP}))
			n.pods = append(n.pods, p)
		}
		c.nodes = append(c.nodes, n)
	}
	// The overlay: a point-to-point VXLAN between the nodes carries each
	// node's pod block to the other.
	for i, n := range c.nodes {
		peer := c.nodes[1-i]
		must(t, n.ns.AddVXLAN(lab.VXLAN{Name: "vxlan0", VNI: 42, Local: n.ip, Remote: peer.ip, Dev: "eth0",
			Addrs: []string{n.vxlanIP + "/30"}}))
		must(t, n.ns.AddRoute(lab.Route{Dst: peer.block, Gw: peer.vxlanIP, Dev: "vxlan0"}))
	}
	c.setMasquerade(o.masquerade)

	// Echo servers.
	for _, n := range c.nodes {
		serveEcho(t, n.ns, n.name)
		for _, p := range n.pods {
			serveEcho(t, p.ns, p.name)
		}
	}
	c.echo = startEchoProcess(t, c.onprem, "onprem-echo")
	return c
}

// setMasquerade switches between the two modes of the masquerade check.
func (c *labCluster) setMasquerade(on bool) {
	for _, n := range c.nodes {
		if on {
			if !c.masq {
				iptables(c.t, n.ns, masqueradeRule("-A")...)
			}
			must(c.t, c.rtr.DeleteRoute(lab.Route{Dst: n.block}))
		} else {
			if c.masq {
				iptables(c.t, n.ns, masqueradeRule("-D")...)
			}
			must(c.t, c.rtr.ReplaceRoute(lab.Route{Dst: n.block, Gw: n.ip}))
		}
	}
	c.masq = on
}

func (c *labCluster) onpremHTTP() probe.Target {
	return probe.HTTPTarget("onprem-echo", onpremIP, httpPort, "/clientip").Outside()
}

func (c *labCluster) pods() []*labPod {
	var out []*labPod
	for _, n := range c.nodes {
		out = append(out, n.pods...)
	}
	return out
}

// serveEcho runs an in-process echo server with sockets in ns until the test ends.
func serveEcho(t testing.TB, ns *lab.NS, name string) {
	t.Helper()
	var s *echo.Server
	must(t, ns.Do(func() (err error) {
		s, err = echo.Listen(echo.Config{HTTPPort: httpPort, UDPPort: udpPort, TCPPort: tcpPort, Hostname: name})
		return err
	}))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("echo in %s: %v", name, err)
		}
	})
}

// startEchoProcess runs `hybridcni echo` (with flags) in ns and waits for
// its "listening" line.
func startEchoProcess(t testing.TB, ns *lab.NS, name string, flags ...string) *lab.Proc {
	t.Helper()
	cmd := exec.Command(os.Args[0], append([]string{"echo", "--http-port", fmt.Sprint(httpPort), "--udp-port", fmt.Sprint(udpPort),
		"--tcp-port", fmt.Sprint(tcpPort), "--hostname", name}, flags...)...)
	cmd.Env = append(os.Environ(), cliEnv)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	must(t, err)
	p, err := ns.Start(cmd)
	must(t, err)
	line := make(chan string, 1)
	go func() {
		s := bufio.NewScanner(out)
		if s.Scan() {
			line <- s.Text()
		}
		close(line)
	}()
	select {
	case l := <-line:
		if !strings.HasPrefix(l, "listening") {
			t.Fatalf("hybridcni echo in %s: first line %q, want listening ...", ns.Short, l)
		}
	case <-p.Done():
		t.Fatalf("hybridcni echo in %s exited: %v", ns.Short, p.Wait())
	case <-time.After(15 * time.Second):
		t.Fatalf("hybridcni echo in %s did not start within 15s", ns.Short)
	}
	return p
}
