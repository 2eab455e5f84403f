package router

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Three real speakers (our GoBGP speaker, BIRD 1.6, Debian's gobgpd) peer
// with the router as dynamic neighbors; their pod blocks reach the router's
// kernel table and are routable; a peer outside the neighbor prefix is
// refused; the stock gobgp CLI sees it all; withdrawal and graceful restart
// behave.
func TestLabSpeakers(t *testing.T) {
	b := newBGPLab(t, nil)
	ctx := context.Background()
	n1 := b.addNode("node1", "10.80.0.11", "10.85.1.0/24")
	n2 := b.addNode("node2", "10.80.0.12", "10.85.2.0/24")
	n3 := b.addNode("node3", "10.80.0.13", "10.85.3.0/24")
	out := b.addNode("outsider", "10.80.0.100", "10.85.100.0/24")

	gobgpProc, _ := b.gobgpSpeaker(n1, 65001)
	birdProc := b.birdSpeaker(n2, 65002)
	_, n3c := b.gobgpdSpeaker(n3, 65003)
	_, outc := b.gobgpdSpeaker(out, 65100)

	nodes := []*labNode{n1, n2, n3}
	want := NodeBlocks{}
	for _, n := range nodes {
		if err := b.k.PeerEstablished(ctx, n.Node); err != nil {
			t.Fatal(err)
		}
		want[n.Node] = []string{n.block}
	}
	if err := b.k.ExactBlocks(ctx, want); err != nil {
		t.Fatal(err)
	}
	peers, err := b.client.Peers(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range peers {
		if !p.Dynamic {
			t.Errorf("peer %s is not a dynamic neighbor", p)
		}
	}
	t.Run("kernel-routes-and-return-traffic", func(t *testing.T) {
		for _, n := range nodes {
			if err := b.kernelHas(n.block, n.Address, true); err != nil {
				t.Fatalf("%s: %v", n.Node, err)
			}
			// The router really routes the pod CIDR back to the node.
			if err := b.ping(b.router, firstIP(n.block)); err != nil {
				t.Fatalf("router -> %s pod address %s: %v", n.Node, firstIP(n.block), err)
			}
		}
	})
	t.Run("peer-outside-neighbor-prefix-refused", func(t *testing.T) {
		k := *b.k
		k.Timeout = 3 * time.Second
		mustContain(t, k.PeerEstablished(ctx, out.Node), "outsider", "10.80.0.100", "no session from 10.80.0.100")
		mustContain(t, k.PrefixLearned(ctx, out.Node, out.block), "outsider", "10.85.100.0/24", "not learned")
		ps, err := outc.Peers(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(ps) != 1 || ps[0].Established() {
			t.Fatalf("outsider's own view of its session: %v, want one neighbor, not established", ps)
		}
	})
	t.Run("stock-gobgp-cli", func(t *testing.T) {
		if _, err := exec.LookPath("gobgp"); err != nil {
			t.Skip("gobgp CLI not installed (Debian package gobgpd)")
		}
		sock := "unix://" + b.dir + "/router.sock"
		nb, err := exec.Command("gobgp", "--target", sock, "neighbor").CombinedOutput()
		if err != nil {
			t.Fatalf("gobgp neighbor: %v: %s", err, nb)
		}
		rib, err := exec.Command("gobgp", "--target", sock, "global", "rib").CombinedOutput()
		if err != nil {
			t.Fatalf("gobgp global rib: %v: %s", err, rib)
		}
		for _, n := range nodes {
			if !strings.Contains(string(nb), n.Address) {
				t.Errorf("gobgp neighbor lacks %s:\n%s", n.Address, nb)
			}
			if !strings.Contains(string(rib), n.block) || !strings.Contains(string(rib), n.Address) {
				t.Errorf("gobgp global rib lacks %s via %s:\n%s", n.block, n.Address, rib)
			}
		}
		t.Logf("gobgp neighbor:\n%s\ngobgp global rib:\n%s", nb, rib)
	})
	t.Run("withdraw-when-bird-stops", func(t *testing.T) {
		birdProc.Stop(5 * time.Second)
		// The session ends with BIRD: its routes go with it (a flush, not
		// a withdrawal, which PrefixWithdrawn refuses to count).
		if err := b.k.PeerDown(ctx, n2.Node); err != nil {
			t.Fatal(err)
		}
		if err := b.k.RoutesFlushed(ctx, n2.Node, n2.block); err != nil {
			t.Fatal(err)
		}
		k := *b.k
		k.Timeout = 2 * time.Second
		mustContain(t, k.PrefixWithdrawn(ctx, n2.Node, n2.block), "prefix-withdrawn", "node2", "not a withdrawal")
		if err := b.kernelHas(n2.block, n2.Address, false); err != nil {
			t.Fatal(err)
		}
		if err := b.ping(b.router, firstIP(n2.block)); err == nil {
			t.Fatalf("router still reaches %s after node2's BIRD stopped", firstIP(n2.block))
		}
	})
	t.Run("withdraw-by-gobgpd", func(t *testing.T) {
		if err := n3c.Withdraw(ctx, n3.block, n3.Address); err != nil {
			t.Fatal(err)
		}
		if err := b.k.PrefixWithdrawn(ctx, n3.Node, n3.block); err != nil {
			t.Fatal(err)
		}
		if err := b.kernelHas(n3.block, n3.Address, false); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("graceful-restart-retains-then-flushes", func(t *testing.T) {
		// SIGKILL: the TCP session drops without a NOTIFICATION, as when a
		// node's agent crashes; the router keeps the routes for the
		// speaker's restart time.
		if err := gobgpProc.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		killed := time.Now()
		if err := b.k.RoutesRetained(ctx, n1.Node, n1.block); err != nil {
			t.Fatal(err)
		}
		if err := b.kernelHas(n1.block, n1.Address, true); err != nil {
			t.Fatalf("kernel route dropped during graceful restart: %v", err)
		}
		if err := b.k.RoutesFlushed(ctx, n1.Node, n1.block); err != nil {
			t.Fatal(err)
		}
		held := time.Since(killed)
		if held < labRestartTime-time.Second {
			t.Fatalf("routes flushed after %s, before the %s restart time", held, labRestartTime)
		}
		if err := b.kernelHas(n1.block, n1.Address, false); err != nil {
			t.Fatal(err)
		}
		t.Logf("stale routes held %s (restart time %s)", held.Round(time.Millisecond), labRestartTime)
	})
}

// Without graceful restart on the router the same crash drops the routes at
// once: RoutesRetained fails, naming the node and prefix.
func TestLabNoGracefulRestartDropsRoutes(t *testing.T) {
	b := newBGPLab(t, func(c *Config) { c.GracefulRestart = false })
	ctx := context.Background()
	n1 := b.addNode("node1", "10.80.0.11", "10.85.1.0/24")
	p, _ := b.gobgpSpeaker(n1, 65001)
	if err := b.k.PrefixLearned(ctx, n1.Node, n1.block); err != nil {
		t.Fatal(err)
	}
	if err := p.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	k := *b.k
	k.Timeout = 3 * time.Second
	mustContain(t, k.RoutesRetained(ctx, n1.Node, n1.block), "routes-retained", "node1", "10.85.1.0/24", "missing 10.85.1.0/24")
}

// The per-peer max-prefix limit shuts down a node that sends too many.
func TestLabMaxPrefix(t *testing.T) {
	b := newBGPLab(t, func(c *Config) { c.MaxPrefixes = 3 })
	ctx := context.Background()
	n1 := b.addNode("node1", "10.80.0.11", "10.85.1.0/24")
	n2 := b.addNode("node2", "10.80.0.12", "10.85.2.0/24")
	_, c1 := b.gobgpSpeaker(n1, 65001)
	_, _ = b.gobgpSpeaker(n2, 65002)
	for _, n := range []*labNode{n1, n2} {
		if err := b.k.PrefixLearned(ctx, n.Node, n.block); err != nil {
			t.Fatal(err)
		}
	}
	// Watch from before the flood so the session drop cannot be missed.
	wctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	events, err := b.client.Watch(wctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"10.85.11.0/24", "10.85.12.0/24", "10.85.13.0/24"} {
		if err := c1.Advertise(ctx, p, n1.Address); err != nil {
			t.Fatal(err)
		}
	}
	tripped := false
	for ev := range events {
		if ev.Type == EventPeer && ev.Peer.Address == n1.Address && !ev.Peer.Established() && ev.Peer.State != "" {
			tripped = true
			cancel()
		}
	}
	if !tripped {
		t.Fatalf("node1 sent 4 prefixes over a limit of 3 and its session never went down")
	}
	log, _ := os.ReadFile(b.dir + "/router.log")
	if !strings.Contains(string(log), "prefix limit reached") {
		t.Errorf("router log lacks \"prefix limit reached\":\n%s", log)
	}
	// The other node is untouched.
	if err := b.k.PeerEstablished(ctx, n2.Node); err != nil {
		t.Fatal(err)
	}
	if err := b.k.PrefixLearned(ctx, n2.Node, n2.block); err != nil {
		t.Fatal(err)
	}
	if err := b.kernelHas(n2.block, n2.Address, true); err != nil {
		t.Fatal(err)
	}

	// SIGTERM: the router exits cleanly and takes its kernel routes along.
	if err := b.proc.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-b.proc.Done():
		if err := b.proc.Wait(); err != nil {
			t.Fatalf("router exit after SIGTERM: %v", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("router still running 15s after SIGTERM")
	}
	if err := b.kernelHas(n2.block, n2.Address, false); err != nil {
		t.Fatal(err)
	}
}

// Calico's lineage: BIRD 1.6 killed without a NOTIFICATION gets graceful
// restart too; its routes stay (stale, in the kernel) for its restart time.
func TestLabBIRDGracefulRestart(t *testing.T) {
	b := newBGPLab(t, nil)
	ctx := context.Background()
	n := b.addNode("node1", "10.80.0.11", "10.85.1.0/24")
	p := b.birdSpeaker(n, 65002)
	if err := b.k.PrefixLearned(ctx, n.Node, n.block); err != nil {
		t.Fatal(err)
	}
	if err := p.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	killed := time.Now()
	if err := b.k.RoutesRetained(ctx, n.Node, n.block); err != nil {
		t.Fatal(err)
	}
	if err := b.kernelHas(n.block, n.Address, true); err != nil {
		t.Fatalf("kernel route dropped during BIRD's graceful restart: %v", err)
	}
	if err := b.k.RoutesFlushed(ctx, n.Node, n.block); err != nil {
		t.Fatal(err)
	}
	if held := time.Since(killed); held < labRestartTime-time.Second {
		t.Fatalf("BIRD's routes flushed after %s, before its %s restart time", held, labRestartTime)
	}
	if err := b.kernelHas(n.block, n.Address, false); err != nil {
		t.Fatal(err)
	}
}
