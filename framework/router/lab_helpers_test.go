package router

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hybridcni/hybridcni/framework/lab"
)

// The lab: a "lan" namespace with a bridge (the node network 10.80.0.0/24),
// the router namespace at 10.80.0.1 and node namespaces at 10.80.0.x, each
// with its pod block's first address on lo so the router can ping it.
const (
	labRouterIP     = "10.80.0.1"
	labNeighborPfx  = "10.80.0.0/26" // nodes .2-.63 may peer; .100 may not
	labRestartTime  = 4 * time.Second
	labTimerHold    = 9 * time.Second
	labTimerKeep    = 3 * time.Second
	labConnectRetry = 1 * time.Second
)

type bgpLab struct {
	t      testing.TB
	lab    *lab.Lab
	dir    string
	br     *lab.Bridge
	router *lab.NS
	proc   *lab.Proc
	logs   *logFiles
	client *Client
	k      *Checker
	cfg    Config
	// deferRouter leaves the router for the caller to start.
	deferRouter bool
}

type labNode struct {
	Node
	ns    *lab.NS
	block string
}

type logFiles struct {
	mu    sync.Mutex
	files []string
}

func (l *logFiles) add(p string) { l.mu.Lock(); l.files = append(l.files, p); l.mu.Unlock() }

// newBGPLab builds the lab and starts the router as a process (the test
// binary re-executed) in its namespace, installing routes into it.
func newBGPLab(t testing.TB, mod func(*Config)) *bgpLab {
	t.Helper()
	return newBGPLabWith(t, false, mod)
}

func newBGPLabWith(t testing.TB, deferRouter bool, mod func(*Config)) *bgpLab {
	t.Helper()
	if _, err := exec.LookPath("ping"); err != nil {
		t.Skip("lab tier: skipped: ping not installed (Debian iputils-ping)")
	}
	l := lab.ForTest(t)
	b := &bgpLab{t: t, lab: l, dir: shortTempDir(t), logs: &logFiles{}, deferRouter: deferRouter}
	t.Cleanup(func() {
		if t.Failed() {
			for _, f := range b.logs.files {
				out, _ := os.ReadFile(f)
				t.Logf("---- %s ----\n%s", filepath.Base(f), out)
			}
		}
	})
	lan, err := l.NS("lan")
	if err != nil {
		t.Fatal(err)
	}
	if b.br, err = lan.AddBridge("br0"); err != nil {
		t.Fatal(err)
	}
	if b.router, err = l.NS("router", lab.WithForwarding()); err != nil {
		t.Fatal(err)
	}
	if _, err := b.br.Attach(lab.End{NS: b.router, Name: "eth0", Addrs: []string{labRouterIP + "/24"}}); err != nil {
		t.Fatal(err)
	}
	cfg := Config{
		ASN:              routerASN,
		RouterID:         labRouterIP,
		ListenAddresses:  []string{labRouterIP},
		NeighborPrefixes: []string{labNeighborPfx},
		HoldTime:         labTimerHold,
		Keepalive:        labTimerKeep,
		ConnectRetry:     labConnectRetry,
		GracefulRestart:  true,
		InstallRoutes:    true,
		APIAddress:       "unix://" + filepath.Join(b.dir, "router.sock"),
	}
	if mod != nil {
		mod(&cfg)
	}
	b.cfg = cfg
	if !b.deferRouter {
		b.startRouter()
	}
	return b
}

// startRouter starts the router process (newBGPLab does unless deferred).
func (b *bgpLab) startRouter() {
	b.t.Helper()
	b.proc, b.client = b.startChild(b.router, "router", b.cfg)
	b.k = NewChecker(b.client)
	b.k.Timeout = 20 * time.Second
}

// shortTempDir keeps unix socket paths under the 108-byte limit.
func shortTempDir(t testing.TB) string {
	d, err := os.MkdirTemp("", "hcr-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(d) })
	return d
}

// startChild runs the test binary as a router/speaker inside ns and dials
// its API socket.
func (b *bgpLab) startChild(ns *lab.NS, name string, cfg Config) (*lab.Proc, *Client) {
	b.t.Helper()
	js, _ := json.Marshal(cfg)
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), childEnv+"="+string(js))
	p := b.startLogged(ns, name, cmd)
	sock := strings.TrimPrefix(cfg.APIAddress, "unix://")
	b.waitFile(sock, p)
	c, err := Dial(cfg.APIAddress)
	if err != nil {
		b.t.Fatal(err)
	}
	b.t.Cleanup(func() { c.Close() })
	b.waitStarted(c, name, p)
	return p, c
}

// waitStarted waits (bounded) until BGP runs behind the API: infrastructure
// start-up, since GoBGP's API answers before BGP has started.
func (b *bgpLab) waitStarted(c *Client, name string, p *lab.Proc) {
	b.t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	var last error
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		ok, err := c.Started(ctx)
		cancel()
		if ok {
			return
		}
		last = err
		select {
		case <-p.Done():
			b.t.Fatalf("%s exited before BGP started: %v", name, p.Wait())
		case <-time.After(20 * time.Millisecond):
		}
	}
	b.t.Fatalf("%s: BGP did not start within 15s (last error: %v)", name, last)
}

func (b *bgpLab) startLogged(ns *lab.NS, name string, cmd *exec.Cmd) *lab.Proc {
	b.t.Helper()
	logPath := filepath.Join(b.dir, name+".log")
	f, err := os.Create(logPath)
	if err != nil {
		b.t.Fatal(err)
	}
	b.t.Cleanup(func() { f.Close() })
	b.logs.add(logPath)
	cmd.Stdout, cmd.Stderr = f, f
	p, err := ns.Start(cmd)
	if err != nil {
		b.t.Fatal(err)
	}
	return p
}

// waitFile waits (bounded) for a daemon's socket: infrastructure start-up.
func (b *bgpLab) waitFile(path string, p *lab.Proc) {
	b.t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		if _, err := os.Stat(path); err == nil {
			return
		}
		select {
		case <-p.Done():
			b.t.Fatalf("%s exited before creating %s: %v", p.Cmd.Path, path, p.Wait())
		case <-time.After(20 * time.Millisecond):
		}
	}
	b.t.Fatalf("%s did not create %s within 15s", p.Cmd.Path, path)
}

// addNode makes a node namespace on the node network with its pod block's
// first address on lo.
func (b *bgpLab) addNode(name, addr, block string) *labNode {
	b.t.Helper()
	ns, err := b.lab.NS(name)
	if err != nil {
		b.t.Fatal(err)
	}
	if _, err := b.br.Attach(lab.End{NS: ns, Name: "eth0", Addrs: []string{addr + "/24"}}); err != nil {
		b.t.Fatal(err)
	}
	if err := ns.AddAddr("lo", firstIP(block)+"/32"); err != nil {
		b.t.Fatal(err)
	}
	return &labNode{Node: Node{Name: name, Address: addr}, ns: ns, block: block}
}

func firstIP(block string) string {
	ip := strings.Split(block, "/")[0]
	parts := strings.Split(ip, ".")
	return fmt.Sprintf("%s.%s.%s.1", parts[0], parts[1], parts[2])
}

// gobgpSpeaker runs our GoBGP speaker (the router package as a node) in
// the node's namespace and advertises its block.
func (b *bgpLab) gobgpSpeaker(n *labNode, asn uint32) (*lab.Proc, *Client) {
	b.t.Helper()
	cfg := Config{
		ASN: asn, RouterID: n.Address, ListenPort: -1,
		Neighbors:       []Neighbor{{Address: labRouterIP, ASN: routerASN, LocalAddress: n.Address}},
		HoldTime:        labTimerHold,
		Keepalive:       labTimerKeep,
		ConnectRetry:    labConnectRetry,
		GracefulRestart: true,
		RestartTime:     labRestartTime,
		APIAddress:      "unix://" + filepath.Join(b.dir, n.Name+".sock"),
	}
	p, c := b.startChild(n.ns, n.Name+"-gobgp", cfg)
	if err := c.Advertise(context.Background(), n.block, n.Address); err != nil {
		b.t.Fatal(err)
	}
	return p, c
}

// birdSpeaker runs BIRD 1.6 (Calico's lineage) in the node's namespace with
// a config the test writes, exporting the block as a static route.
func (b *bgpLab) birdSpeaker(n *labNode, asn uint32) *lab.Proc {
	b.t.Helper()
	if _, err := os.Stat("/usr/sbin/bird"); err != nil {
		b.t.Skip("lab tier: skipped: BIRD not installed (Debian package bird)")
	}
	conf := filepath.Join(b.dir, n.Name+"-bird.conf")
	text := fmt.Sprintf(`router id %[1]s;
protocol device { scan time 10; }
protocol static pods { route %[2]s blackhole; }
protocol bgp onprem {
  local %[1]s as %[3]d;
  neighbor %[4]s as %[5]d;
  import none;
  export where proto = "pods";
  hold time 9; keepalive time 3; connect retry time 1; startup hold time 1;
  graceful restart on; graceful restart time %[6]d;
}
`, n.Address, n.block, asn, labRouterIP, routerASN, int(labRestartTime.Seconds()))
	if err := os.WriteFile(conf, []byte(text), 0o644); err != nil {
		b.t.Fatal(err)
	}
	sock := filepath.Join(b.dir, n.Name+"-bird.ctl")
	p := b.startLogged(n.ns, n.Name+"-bird", exec.Command("/usr/sbin/bird", "-f", "-c", conf, "-s", sock))
	b.waitFile(sock, p)
	return p
}

// gobgpdSpeaker runs Debian's gobgpd in the node's namespace; the block is
// advertised through gobgpd's own gRPC API with our client.
func (b *bgpLab) gobgpdSpeaker(n *labNode, asn uint32) (*lab.Proc, *Client) {
	b.t.Helper()
	if _, err := exec.LookPath("gobgpd"); err != nil {
		b.t.Skip("lab tier: skipped: gobgpd not installed (Debian package gobgpd)")
	}
	conf := filepath.Join(b.dir, n.Name+"-gobgpd.toml")
	text := fmt.Sprintf(`[global.config]
  as = %[3]d
  router-id = "%[1]s"
  port = -1
[[neighbors]]
  [neighbors.config]
    neighbor-address = "%[2]s"
    peer-as = %[4]d
  [neighbors.timers.config]
    connect-retry = 1
    hold-time = 9
    keepalive-interval = 3
  [neighbors.transport.config]
    local-address = "%[1]s"
`, n.Address, labRouterIP, asn, routerASN)
	if err := os.WriteFile(conf, []byte(text), 0o644); err != nil {
		b.t.Fatal(err)
	}
	sock := filepath.Join(b.dir, n.Name+"-gobgpd.sock")
	p := b.startLogged(n.ns, n.Name+"-gobgpd", exec.Command("gobgpd", "-f", conf, "-p", "-l", "warn", "--pprof-disable", "--api-hosts", "unix://"+sock))
	b.waitFile(sock, p)
	c, err := Dial("unix://" + sock)
	if err != nil {
		b.t.Fatal(err)
	}
	b.t.Cleanup(func() { c.Close() })
	// gobgpd reads its config after the socket appears: retry the first
	// call only while it starts (bounded infrastructure wait).
	deadline := time.Now().Add(10 * time.Second)
	for {
		err := c.Advertise(context.Background(), n.block, n.Address)
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			b.t.Fatalf("gobgpd in %s: %v", n.Name, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	return p, c
}

// kernelHas waits for the router namespace's kernel table to route the
// prefix via the next hop (want=true) or to have no route for it.
func (b *bgpLab) kernelHas(prefix, via string, want bool) error {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	return b.router.WaitRoutes(ctx, func(rs []lab.Route) (bool, string) {
		for _, r := range rs {
			if r.Dst == prefix {
				if want && r.Gw == via && r.Protocol == ProtoBGP {
					return true, ""
				}
				if !want {
					return false, "router kernel still routes " + r.String()
				}
				return false, "router kernel routes " + r.String() + ", want via " + via + " proto bgp"
			}
		}
		if want {
			return false, "router kernel has no route to " + prefix
		}
		return true, ""
	})
}

func (b *bgpLab) ping(from *lab.NS, addr string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err := from.Run(ctx, "ping", "-c", "1", "-W", "2", addr)
	return err
}
