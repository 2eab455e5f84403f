package router

import (
	"context"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/hybridcni/hybridcni/framework/lab"
)

// labRestartLong gives a restarting speaker time to come back on a loaded
// machine before the router flushes its stale routes.
const labRestartLong = 30 * time.Second

// restartableSpeaker runs our GoBGP speaker in the node's namespace with a
// long restart time; advertise says whether it sends the node's block.
func (b *bgpLab) restartableSpeaker(n *labNode, sock string, advertise bool) (*lab.Proc, *Client) {
	b.t.Helper()
	cfg := Config{
		ASN: 65001, RouterID: n.Address, ListenPort: -1,
		Neighbors:       []Neighbor{{Address: labRouterIP, ASN: routerASN, LocalAddress: n.Address}},
		HoldTime:        labTimerHold,
		Keepalive:       labTimerKeep,
		ConnectRetry:    labConnectRetry,
		GracefulRestart: true,
		RestartTime:     labRestartLong,
		APIAddress:      "unix://" + filepath.Join(b.dir, sock),
	}
	p, c := b.startChild(n.ns, n.Name+"-"+sock, cfg)
	if advertise {
		if err := c.Advertise(context.Background(), n.block, n.Address); err != nil {
			b.t.Fatal(err)
		}
	}
	return p, c
}

// Graceful restart, end to end: a node's speaker is killed (no
// NOTIFICATION) and comes back. GracefulRestart passes when the router kept
// the node's real block (stale) across the drop and the node sent it again;
// it fails, naming node and prefix, when the node comes back without
// re-advertising, and RoutesRetained refuses a check of no prefix.
func TestLabGracefulRestartReAdvertised(t *testing.T) {
	b := newBGPLab(t, nil)
	ctx := context.Background()
	n := b.addNode("node1", "10.80.0.11", "10.85.1.0/24")
	p, _ := b.restartableSpeaker(n, "a.sock", true)
	if err := b.k.PrefixLearned(ctx, n.Node, n.block); err != nil {
		t.Fatal(err)
	}
	time.Sleep(1100 * time.Millisecond) // the first path is older than the restart, also in whole seconds

	restart := func(kill *lab.Proc) (time.Time, chan error) {
		done := make(chan error, 1)
		at := time.Now()
		go func() {
			k := *b.k
			k.Timeout = 45 * time.Second
			done <- k.GracefulRestart(ctx, n.Node, at, n.block)
		}()
		time.Sleep(200 * time.Millisecond) // the check is watching before the kill
		if err := kill.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		return at, done
	}

	t.Run("comes back and re-advertises", func(t *testing.T) {
		_, done := restart(p)
		if err := b.k.RoutesRetained(ctx, n.Node, n.block); err != nil {
			t.Fatal(err)
		}
		p, _ = b.restartableSpeaker(n, "b.sock", true)
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	})

	t.Run("comes back without re-advertising", func(t *testing.T) {
		time.Sleep(1100 * time.Millisecond)
		at, done := restart(p)
		if err := b.k.RoutesRetained(ctx, n.Node, n.block); err != nil {
			t.Fatal(err)
		}
		p, _ = b.restartableSpeaker(n, "c.sock", false)
		// Its End-of-RIB, with nothing before it, ends the stale routes.
		k := *b.k
		k.Timeout = 45 * time.Second
		if err := k.PeerEstablished(ctx, n.Node); err != nil {
			t.Fatal(err)
		}
		k.Timeout = 5 * time.Second
		mustContain(t, k.ReAdvertised(ctx, n.Node, at, n.block), "re-advertised", "node1", "10.85.1.0/24", "session back, but not re-advertised",
			"the node sent its End-of-RIB on this session")
		err := <-done
		mustContain(t, err, "graceful-restart", "node1", "10.85.1.0/24", "not re-advertised")
	})

	t.Run("no prefix", func(t *testing.T) {
		if err := b.k.RoutesRetained(ctx, n.Node); err == nil {
			t.Fatal("RoutesRetained of no prefix passed")
		}
	})
}
