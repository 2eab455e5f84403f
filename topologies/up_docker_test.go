package topologies

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hybridcni/hybridcni/framework/config"
	"github.com/hybridcni/hybridcni/framework/docker"
	"github.com/hybridcni/hybridcni/framework/router"
)

// standIn is a container standing in for a hybrid node: `hybridcni
// standin-node` peers with the router, advertises its pod block and serves
// echo on its pod address.
type standIn struct {
	name  string
	node  netip.Addr
	block netip.Prefix
	pod   netip.Addr
}

func startStandIn(t *testing.T, dc *docker.Client, e *Env, img string, s standIn) {
	t.Helper()
	ctx := context.Background()
	labels := ObjectLabels(e.Name, time.Now())
	labels[LabelRole] = "standin-node"
	_, err := dc.RunContainer(ctx, docker.Container{
		Name: s.name, Image: img, Entrypoint: []string{ImageBin},
		Cmd: []string{"standin-node", "--node-address", s.node.String(), "--asn", strconv.FormatInt(e.NodeASN, 10),
			"--router-address", e.Router.String(), "--router-asn", strconv.FormatInt(e.RouterASN, 10),
			"--advertise", s.block.String(), "--http-port", strconv.Itoa(OnPremHTTPPort)},
		Network: e.Network, IP: s.node, Labels: labels,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { dc.RemoveContainer(context.Background(), s.name) })
	if err := e.waitLog(ctx, s.name, "listening"); err != nil {
		t.Fatal(err)
	}
	// The pod address lives on lo; the pod's traffic to the on-prem host
	// leaves from it (no masquerading).
	if err := e.inContainer(ctx, s.name, func(c *ContainerNet) error {
		if err := c.AddAddr("lo", netip.PrefixFrom(s.pod, 32)); err != nil {
			return err
		}
		return c.RouteOnLink(netip.PrefixFrom(e.OnPremHost, 32), "eth0", s.pod)
	}); err != nil {
		t.Fatal(err)
	}
}

// probe runs `hybridcni probe` inside a container and returns its verdict.
func probe(t *testing.T, dc *docker.Client, container string, args ...string) (docker.ExecResult, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	return dc.Exec(ctx, container, append([]string{ImageBin, "probe", "--timeout", "3s"}, args...))
}

// forwarded reads the router's forwarded-datagram counter (Ip: ForwDatagrams).
func forwarded(t *testing.T, e *Env) int {
	t.Helper()
	var n int
	err := e.inContainer(context.Background(), e.RouterContainer, func(c *ContainerNet) error {
		return c.NS().Do(func() error {
			f, err := os.Open("/proc/thread-self/net/snmp")
			if err != nil {
				return err
			}
			defer f.Close()
			sc := bufio.NewScanner(f)
			var head []string
			for sc.Scan() {
				fields := strings.Fields(sc.Text())
				if len(fields) == 0 || fields[0] != "Ip:" {
					continue
				}
				if head == nil {
					head = fields
					continue
				}
				i := slices.Index(head, "ForwDatagrams")
				if i < 0 {
					return errors.New("no ForwDatagrams in /proc/net/snmp")
				}
				n, err = strconv.Atoi(fields[i])
				return err
			}
			return errors.New("no Ip: lines in /proc/net/snmp")
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// The whole Docker side: network, router, on-prem host, two stand-in nodes
// peering and advertising pod blocks; sessions, RIB, kernel routes, and
// traffic both ways through the router with real source addresses.
func TestDockerSideRoutesPodBlocksThroughTheRouter(t *testing.T) {
	dc := dockerTier(t)
	_, imgs := harness(t, dc)
	r := testRun(t, dc, nil)
	topo, _ := Load("default")
	name := UniqueName("docker-side")
	cleanupRun(t, dc, name)
	ctx := context.Background()

	e, err := Up(ctx, dc, Spec{Run: r, Topology: topo, Name: name, Images: imgs, StateDir: t.TempDir()}, WithLogf(t.Logf))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := e.Down(context.Background()); err != nil {
			t.Errorf("down: %v", err)
		}
	})

	node := netip.MustParsePrefix(e.NodeCIDR).Addr()
	pod := netip.MustParsePrefix(e.PodCIDR).Addr()
	at := func(base netip.Addr, n int) netip.Addr {
		for range n {
			base = base.Next()
		}
		return base
	}
	nodes := []standIn{
		{name: name + "-node1", node: at(node, 10), block: netip.PrefixFrom(pod, 26), pod: at(pod, 5)},
		{name: name + "-node2", node: at(node, 11), block: netip.PrefixFrom(at(pod, 64), 26), pod: at(pod, 64+5)},
	}
	for _, s := range nodes {
		startStandIn(t, dc, e, imgs.Router, s)
	}

	// Sessions up and pod blocks learned, from the router's API on the host.
	cl, err := router.Dial(e.RouterAPI)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	k := router.NewChecker(cl)
	for _, s := range nodes {
		n := router.Node{Name: s.name, Address: s.node.String()}
		if err := k.PeerEstablished(ctx, n); err != nil {
			t.Fatal(err)
		}
		if err := k.PrefixLearned(ctx, n, s.block.String()); err != nil {
			t.Fatal(err)
		}
	}

	// Routes installed in the router's kernel table, next hop the node.
	deadline := time.Now().Add(10 * time.Second)
	for {
		var rs []string
		err := e.inContainer(ctx, e.RouterContainer, func(c *ContainerNet) error {
			routes, err := c.NS().Routes(router.ProtoBGP)
			for _, x := range routes {
				rs = append(rs, x.Dst+" via "+x.Gw)
			}
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		want := []string{nodes[0].block.String() + " via " + nodes[0].node.String(), nodes[1].block.String() + " via " + nodes[1].node.String()}
		if slices.Contains(rs, want[0]) && slices.Contains(rs, want[1]) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("router kernel routes (proto bgp) = %v, want %v", rs, want)
		}
		time.Sleep(100 * time.Millisecond)
	}

	// The on-prem host reaches each pod address through the router, and the
	// pod sees the host's own address.
	for _, s := range nodes {
		before := forwarded(t, e)
		res, err := probe(t, dc, e.HostContainer, "--target", fmt.Sprintf("http://%s:%d/clientip", s.pod, OnPremHTTPPort),
			"--expect-source", e.OnPremHost.String())
		if err != nil || res.ExitCode != 0 {
			t.Fatalf("on-prem host -> pod %s: exit %d, %v\n%s%s", s.pod, res.ExitCode, err, res.Stdout, res.Stderr)
		}
		if after := forwarded(t, e); after <= before {
			t.Errorf("on-prem host -> pod %s did not go through the router (forwarded %d -> %d)", s.pod, before, after)
		}
		// The pod reaches the on-prem host from its pod address, and the
		// host sees that address, not the node's: the reply goes back
		// through the router.
		res, err = probe(t, dc, s.name, "--target", fmt.Sprintf("http://%s:%d/clientip", e.OnPremHost, OnPremHTTPPort),
			"--expect-source", s.pod.String())
		if err != nil || res.ExitCode != 0 {
			t.Fatalf("pod %s -> on-prem host: exit %d, %v\n%s%s", s.pod, res.ExitCode, err, res.Stdout, res.Stderr)
		}
	}

	// Negative: a pod address nobody advertises is refused by the router.
	unadvertised := at(pod, 200)
	res, err := probe(t, dc, e.HostContainer, "--target", fmt.Sprintf("http://%s:%d/clientip", unadvertised, OnPremHTTPPort))
	if err != nil {
		t.Fatal(err)
	}
	if res.ExitCode == 0 || !strings.Contains(res.Stdout+res.Stderr, "unreachable") {
		t.Fatalf("on-prem host -> unadvertised %s: exit %d, want a failure saying unreachable:\n%s%s", unadvertised, res.ExitCode, res.Stdout, res.Stderr)
	}
	// Negative: the wrong expected source fails with what was seen.
	res, err = probe(t, dc, e.HostContainer, "--target", fmt.Sprintf("http://%s:%d/clientip", nodes[0].pod, OnPremHTTPPort),
		"--expect-source", nodes[0].node.String())
	if err != nil {
		t.Fatal(err)
	}
	if res.ExitCode == 0 || !strings.Contains(res.Stdout+res.Stderr, e.OnPremHost.String()) {
		t.Fatalf("expecting the node address as source passed or did not show the real one: exit %d\n%s%s", res.ExitCode, res.Stdout, res.Stderr)
	}

	// Down removes everything, the stand-ins excepted (the test made them).
	for _, s := range nodes {
		dc.RemoveContainer(ctx, s.name)
	}
	if err := e.Down(ctx); err != nil {
		t.Fatal(err)
	}
	if left := leftovers(t, dc, name); len(left) > 0 {
		t.Fatalf("down left %s", names(left))
	}
	if _, err := os.Stat(filepath.Dir(e.Ledger.Path())); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("state directory of %s still there after down: %v", name, err)
	}
}

// Interrupting Up after any step removes what it created, in reverse.
func TestInterruptedUpLeavesNothing(t *testing.T) {
	dc := dockerTier(t)
	_, imgs := harness(t, dc)
	topo, _ := Load("default")
	for _, step := range []string{StepNetwork, StepRouter} {
		t.Run("after "+step, func(t *testing.T) {
			r := testRun(t, dc, nil)
			name := UniqueName("interrupt")
			cleanupRun(t, dc, name)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			var created []string
			hook := func(s string) {
				created = append(created, s)
				if s == step {
					// What an interrupt does: cancel mid-run, then check
					// the objects really existed at that point.
					if len(leftovers(t, dc, name)) == 0 {
						t.Errorf("nothing labelled %s exists after %s", name, s)
					}
					cancel()
				}
			}
			_, err := Up(ctx, dc, Spec{Run: r, Topology: topo, Name: name, Images: imgs, StateDir: t.TempDir()},
				WithAfterStep(hook), WithLogf(t.Logf))
			if err == nil || !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), "interrupted before") {
				t.Fatalf("Up after cancel: %v, want an interrupted error", err)
			}
			if left := leftovers(t, dc, name); len(left) > 0 {
				t.Fatalf("interrupt after %s left %s", step, names(left))
			}
		})
	}
}

// A node CIDR that overlaps an existing Docker network is refused before
// anything is created, naming the field and the network.
func TestNodeCIDRClashIsRefusedBeforeCreating(t *testing.T) {
	dc := dockerTier(t)
	_, imgs := harness(t, dc)
	r := testRun(t, dc, nil)
	squat := UniqueName("squatter")
	cleanupRun(t, dc, squat)
	node := netip.MustParsePrefix(r.Network.NodeCIDR)
	if _, err := dc.CreateNetwork(context.Background(), docker.Network{Name: squat, Subnet: netip.PrefixFrom(node.Addr(), 25),
		Labels: ObjectLabels(squat, time.Now())}); err != nil {
		t.Fatal(err)
	}
	topo, _ := Load("default")
	name := UniqueName("clash")
	cleanupRun(t, dc, name)
	_, err := Up(context.Background(), dc, Spec{Run: r, Topology: topo, Name: name, Images: imgs})
	if !slices.Contains(config.Fields(err), "network.nodeCIDR") || !strings.Contains(err.Error(), squat) {
		t.Fatalf("clash: %v, want network.nodeCIDR naming %s", err, squat)
	}
	if left := leftovers(t, dc, name); len(left) > 0 {
		t.Fatalf("a refused run created %s", names(left))
	}
}
