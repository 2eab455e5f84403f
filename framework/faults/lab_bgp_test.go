package faults

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hybridcni/hybridcni/framework/echo"
	"github.com/hybridcni/hybridcni/framework/lab"
	"github.com/hybridcni/hybridcni/framework/probe"
)

// meshLab is two hybrid nodes in network namespaces as kube-router runs
// them, with real BGP (BIRD 1.6): each node peers with the on-prem router
// (eBGP, exporting its pod block; the router sends nothing back, as the
// topology's) and with the other node (iBGP mesh, whose routes to the other
// node's block it installs in its kernel), and has a pod. Cross-node
// traffic to a pod address, the replies of pod-to-node included, goes only
// over the mesh's routes.
type meshLab struct {
	nodes map[string]*lab.NS
	pods  map[string]probe.Source
	addrs map[string]string
	// logs: each BIRD's log file, by name (router, node-a, node-b).
	logs map[string]string
}

const (
	meshRouter = "10.80.0.1"
	// meshRetry is the mesh's connect retry and error wait after a reset:
	// slower than the router sessions' (1 s), as kube-router's mesh came
	// back minutes after its router session on kind.
	meshRetry = 20
)

// meshTarget is the lab as a fault sees it: commands run in the node's
// namespace; what it does not override is shellTarget's.
type meshTarget struct {
	shellTarget
	l *meshLab
}

func (m *meshTarget) HybridNodes() []Node {
	return []Node{{"node-a", m.l.addrs["node-a"]}, {"node-b", m.l.addrs["node-b"]}}
}

func (m *meshTarget) Exec(ctx context.Context, node string, argv ...string) (string, error) {
	ns, ok := m.l.nodes[node]
	if !ok {
		return "", fmt.Errorf("no node %s", node)
	}
	return ns.Run(ctx, argv[0], argv[1:]...)
}

func newMeshLab(t *testing.T) *meshLab {
	lab.RequireRoot(t)
	for _, tool := range []string{"/usr/sbin/bird", "iptables", "ss", "ip"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("lab tier: skipped: %s is not installed", tool)
		}
	}
	l := lab.ForTest(t)
	dir, err := os.MkdirTemp("", "hcf-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	ns := func(name string, opts ...lab.NSOption) *lab.NS {
		n, err := l.NS(name, opts...)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	lan := ns("lan")
	br, err := lan.AddBridge("br0")
	if err != nil {
		t.Fatal(err)
	}
	rtr := ns("rtr")
	if _, err := br.Attach(lab.End{NS: rtr, Name: "eth0", Addrs: []string{meshRouter + "/24"}}); err != nil {
		t.Fatal(err)
	}
	m := &meshLab{nodes: map[string]*lab.NS{}, pods: map[string]probe.Source{},
		addrs: map[string]string{"node-a": "10.80.0.2", "node-b": "10.80.0.3"}, logs: map[string]string{}}
	blocks := map[string][2]string{"node-a": {"10.85.0.1/25", "10.85.0.10/25"}, "node-b": {"10.85.0.129/25", "10.85.0.138/25"}}
	for _, name := range []string{"node-a", "node-b"} {
		n := ns(name, lab.WithForwarding())
		m.nodes[name] = n
		if _, err := br.Attach(lab.End{NS: n, Name: "eth0", Addrs: []string{m.addrs[name] + "/24"}}); err != nil {
			t.Fatal(err)
		}
		pod := ns(name + "-pod")
		gw, podAddr := blocks[name][0], blocks[name][1]
		if err := lab.Veth(lab.End{NS: pod, Name: "eth0", Addrs: []string{podAddr}}, lab.End{NS: n, Name: "veth-pod", Addrs: []string{gw}}); err != nil {
			t.Fatal(err)
		}
		if err := pod.AddRoute(lab.Route{Dst: "default", Gw: strings.Split(gw, "/")[0]}); err != nil {
			t.Fatal(err)
		}
		ip := strings.Split(podAddr, "/")[0]
		m.pods[name] = probe.Source{Place: probe.InNetNS(pod, []string{os.Args[0]}, cliEnv), Name: "echo-" + name + "-a", IP: ip}
		serveEcho(t, pod, "echo-"+name+"-a")
	}
	bird := func(n *lab.NS, name, conf string) {
		path := filepath.Join(dir, name+".conf")
		if err := os.WriteFile(path, []byte(conf), 0o644); err != nil {
			t.Fatal(err)
		}
		sock := filepath.Join(dir, name+".ctl")
		logf, err := os.Create(filepath.Join(dir, name+".log"))
		if err != nil {
			t.Fatal(err)
		}
		m.logs[name] = logf.Name()
		cmd := exec.Command("/usr/sbin/bird", "-f", "-c", path, "-s", sock)
		cmd.Stdout, cmd.Stderr = logf, logf
		p, err := n.Start(cmd)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			p.Stop(2 * time.Second)
			logf.Close()
			if t.Failed() {
				out, _ := os.ReadFile(logf.Name())
				t.Logf("---- %s ----\n%s", name, out)
			}
		})
	}
	// The startup hold time bounds the OPEN exchange: 1 s expired on a
	// loaded CI machine and logged "Hold timer expired" before any fault.
	timers := "hold time 9; keepalive time 3; startup hold time 5;"
	bird(rtr, "router", fmt.Sprintf(`router id %[1]s;
protocol device { scan time 2; }
protocol bgp a { local %[1]s as 64512; neighbor 10.80.0.2 as 65001; import all; export none; %[2]s connect retry time 1; error wait time 1,2; }
protocol bgp b { local %[1]s as 64512; neighbor 10.80.0.3 as 65001; import all; export none; %[2]s connect retry time 1; error wait time 1,2; }
`, meshRouter, timers))
	for name, other := range map[string]string{"node-a": "node-b", "node-b": "node-a"} {
		bird(m.nodes[name], name, fmt.Sprintf(`router id %[1]s;
log stderr { error, remote };
protocol device { scan time 2; }
protocol direct pods { interface "veth-pod"; }
protocol kernel { scan time 2; import none; export where source = RTS_BGP; }
protocol bgp onprem { local %[1]s as 65001; neighbor %[2]s as 64512; import none; export where proto = "pods"; %[4]s connect retry time 1; error wait time 1,2; }
protocol bgp mesh { local %[1]s as 65001; neighbor %[3]s as 65001; direct; gateway direct; next hop self; import all; export where proto = "pods"; %[4]s connect retry time %[5]d; error wait time %[5]d,%[5]d; }
`, m.addrs[name], meshRouter, m.addrs[other], timers, meshRetry))
	}
	return m
}

// logSize is how much the named BIRD has logged so far.
func (m *meshLab) logSize(t *testing.T, name string) int64 {
	t.Helper()
	fi, err := os.Stat(m.logs[name])
	if err != nil {
		t.Fatal(err)
	}
	return fi.Size()
}

// logSince is what the named BIRD logged after offset.
func (m *meshLab) logSince(t *testing.T, name string, offset int64) string {
	t.Helper()
	b, err := os.ReadFile(m.logs[name])
	if err != nil {
		t.Fatal(err)
	}
	return string(b[min(offset, int64(len(b))):])
}

// ready waits (bounded: the lab's start-up) until every node has its
// router and mesh sessions and the mesh's route to the other node's block.
func (m *meshLab) ready(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		var missing []string
		for name, n := range m.nodes {
			out, _ := n.Run(context.Background(), "sh", "-c", ssBGP)
			if peers := parseSSPeers(out); len(peers) != 2 {
				missing = append(missing, fmt.Sprintf("%s has sessions %v", name, peers))
			}
			routes, _ := n.Run(context.Background(), "ip", "route", "show", "proto", "bird")
			if !strings.Contains(routes, "10.85.0.") {
				missing = append(missing, name+" has no route to the other block")
			}
		}
		if len(missing) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the lab's BGP did not come up: %s", strings.Join(missing, "; "))
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// podToNode is the check pod-to-node as the suites declare it: each node's
// pod pings the other node's address.
func (m *meshLab) podToNode(t *testing.T) error {
	t.Helper()
	c := probe.NewCheck(probe.WithLogf(t.Logf), probe.WithTimeout(2*time.Second))
	for name, other := range map[string]string{"node-a": "node-b", "node-b": "node-a"} {
		if err := c.Expect(probe.ExpectSuccess("pod-to-node", m.pods[name], probe.ICMPTarget("node/"+other, m.addrs[other]))); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	rep := c.Run(ctx)
	t.Logf("\n%s", rep.Table())
	return rep.Err()
}

// serveEcho runs the echo server (HTTP 8080) in a pod's namespace.
func serveEcho(t *testing.T, ns *lab.NS, name string) {
	var s *echo.Server
	if err := ns.Do(func() (err error) {
		s, err = echo.Listen(echo.Config{HTTPPort: 8080, UDPPort: -1, TCPPort: -1, Hostname: name})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
}

// crossNode is pod-to-pod/cross-node: each node's pod reaches the other's
// and is seen with its own address; the path of a Service's remote backend
// (pod-to-service/remote-backend) past the Service's DNAT.
func (m *meshLab) crossNode(t *testing.T) error {
	t.Helper()
	c := probe.NewCheck(probe.WithLogf(t.Logf), probe.WithTimeout(2*time.Second))
	for name, other := range map[string]string{"node-a": "node-b", "node-b": "node-a"} {
		dst := m.pods[other]
		if err := c.Expect(probe.ExpectSuccess("pod-to-pod/cross-node", m.pods[name], probe.HTTPTarget(dst.Name, dst.IP, 8080, "/clientip"))); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	rep := c.Run(ctx)
	t.Logf("\n%s", rep.Table())
	return rep.Err()
}

// On real BGP sessions and packets, the order the kind fault matrix ran:
// bgp-session-reset on one node, healed; then pod-to-node must pass (it
// failed after heal on kind: the fault reset the node-to-node mesh too, and
// the heal returned at the first session back, the router's, with the mesh's
// routes still gone); then pod-to-node-dropped makes pod-to-node fail naming
// the node, and after its heal it passes again. Cross-node pod traffic (the
// path of pod-to-service's remote backends, which failed after
// service-target-port-broken healed on kind for the same reason) passes
// after the heal too.
func TestBGPSessionResetThenPodToNodeLab(t *testing.T) {
	m := newMeshLab(t)
	m.ready(t)
	if err := m.podToNode(t); err != nil {
		t.Fatalf("pod-to-node before any fault: %v", err)
	}
	if err := m.crossNode(t); err != nil {
		t.Fatalf("cross-node pod traffic before any fault: %v", err)
	}
	target := &meshTarget{shellTarget: shellTarget{rules: map[string]int{}}, l: m}
	ctx := context.Background()

	f, _ := Lookup("bgp-session-reset")
	logged := m.logSize(t, "node-a")
	heal, _, err := f.Inject(ctx, target)
	if err != nil {
		t.Fatal(err)
	}
	out, _ := m.nodes["node-a"].Run(ctx, "sh", "-c", ssBGP)
	peers := parseSSPeers(out)
	t.Logf("under bgp-session-reset node-a has sessions %v", peers)
	// The node's own side saw the reset: its session closed on the RST its
	// next keepalive met, not when its hold timer ran out (the rules
	// dropped that RST, and the kind run waited 30 s per injection). Only
	// what BIRD logged since the injection counts.
	if log := m.logSince(t, "node-a", logged); strings.Contains(log, "Hold timer expired") {
		t.Errorf("node-a's router session ended on its hold timer, not on the reset:\n%s", log)
	}
	if slices.Contains(peers, meshRouter) {
		t.Errorf("under bgp-session-reset node-a still has a session with the router: %v", peers)
	}
	if !slices.Contains(peers, m.addrs["node-b"]) {
		t.Errorf("bgp-session-reset dropped node-a's mesh session too: %v", peers)
	}
	start := time.Now()
	if err := heal(ctx); err != nil {
		t.Fatal(err)
	}
	t.Logf("bgp-session-reset healed in %s", time.Since(start).Round(time.Millisecond))
	for name, n := range m.nodes {
		out, _ := n.Run(ctx, "sh", "-c", ssBGP)
		if peers := parseSSPeers(out); len(peers) != 2 {
			t.Errorf("after heal %s has sessions %v, want the router's and the mesh's", name, peers)
		}
	}
	if err := m.podToNode(t); err != nil {
		t.Fatalf("pod-to-node after bgp-session-reset healed: %v", err)
	}
	if err := m.crossNode(t); err != nil {
		t.Fatalf("cross-node pod traffic after bgp-session-reset healed: %v", err)
	}

	f, _ = Lookup("pod-to-node-dropped")
	heal, names, err := f.Inject(ctx, target)
	if err != nil {
		t.Fatal(err)
	}
	err = m.podToNode(t)
	if err == nil || !containsAnyName(err.Error(), names) {
		t.Fatalf("pod-to-node under pod-to-node-dropped: %v; want a failure naming one of %v", err, names)
	}
	if err := heal(ctx); err != nil {
		t.Fatal(err)
	}
	if err := m.podToNode(t); err != nil {
		t.Fatalf("pod-to-node after pod-to-node-dropped healed: %v", err)
	}
}
