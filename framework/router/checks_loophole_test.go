package router

import (
	"context"
	"errors"
	"testing"
	"time"
)

// Each loophole of the BGP checks, built in-process on loopback: a service
// advertised by one node of two, a stranger announcing a node's block, a
// prefix gone with its session, and checks asked about no prefix at all.
func TestChecksCloseLoopholes(t *testing.T) {
	ctx := context.Background()
	r, rc := startRouter(t, nil)
	n1 := Node{"node1", "127.0.0.11"}
	n2 := Node{"node2", "127.0.0.12"}
	stranger := "127.0.0.20" // inside the neighbor range, not a node
	s1 := startSpeaker(t, rc, n1.Address, nil)
	s2 := startSpeaker(t, rc, n2.Address, nil)
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(s1.Client().Advertise(ctx, "10.85.1.0/24", n1.Address))
	must(s2.Client().Advertise(ctx, "10.85.2.0/24", n2.Address))
	must(s2.Client().Advertise(ctx, "10.96.0.10/32", n2.Address))
	k := NewChecker(r.Client())
	k.Timeout = 20 * time.Second
	want := NodeBlocks{n1: {"10.85.1.0/24"}, n2: {"10.85.2.0/24"}}
	must(k.PrefixLearned(ctx, n1, "10.85.1.0/24"))
	must(k.ServiceAdvertised(ctx, "10.96.0.10", n2))
	must(k.ExactBlocks(ctx, want, "10.85.0.0/16"))
	must(k.OnlyPeers(ctx, n1, n2))

	k.Timeout = 1500 * time.Millisecond
	t.Run("service advertised by one node of two", func(t *testing.T) {
		mustContain(t, k.ServiceAdvertised(ctx, "10.96.0.10", n1, n2), "service-advertised", "10.96.0.10/32",
			"1 of 2 nodes do not advertise it", "node node1 (127.0.0.11): not learned from the node")
	})

	t.Run("stranger announces a node's block", func(t *testing.T) {
		s3 := startSpeaker(t, rc, stranger, nil)
		// A more specific route inside node1's block (a hijack), and one
		// more pod-CIDR prefix no node owns.
		must(s3.Client().Advertise(ctx, "10.85.1.0/25", stranger))
		must(s3.Client().Advertise(ctx, "10.85.50.0/24", stranger))
		k := *k
		k.Timeout = 20 * time.Second
		if err := k.PrefixLearned(ctx, Node{"stranger", stranger}, "10.85.1.0/25"); err != nil {
			rs, _ := s3.Client().Routes(ctx)
			ps, _ := s3.Client().Peers(ctx)
			t.Fatalf("%v\nstranger's RIB: %+v\npeers %+v", err, rs, ps)
		}
		k.Timeout = 1500 * time.Millisecond
		mustContain(t, k.ExactBlocks(ctx, want, "10.85.0.0/16"), "exact-blocks",
			"foreign peer 127.0.0.20 (not one of the nodes) announces 10.85.1.0/25 via 127.0.0.20, which overlaps node1's block 10.85.1.0/24",
			"foreign peer 127.0.0.20 (not one of the nodes) announces 10.85.50.0/24 via 127.0.0.20")
		mustContain(t, k.OnlyPeers(ctx, n1, n2), "only-peers", "unexpected peer 127.0.0.20", "announcing 10.85.1.0/25, 10.85.50.0/24")
		must(s3.Stop())
		k.Timeout = 20 * time.Second
		// A stranger's live route over a node's block fails exact-blocks
		// at once: judge again once its session is gone.
		must(k.PeerDown(ctx, Node{"stranger", stranger}))
		must(k.ExactBlocks(ctx, want, "10.85.0.0/16"))
	})

	t.Run("checks of no prefix", func(t *testing.T) {
		for name, err := range map[string]error{
			"routes-retained":  k.RoutesRetained(ctx, n1),
			"routes-flushed":   k.RoutesFlushed(ctx, n1),
			"re-advertised":    k.ReAdvertised(ctx, n1, time.Now()),
			"graceful-restart": k.GracefulRestart(ctx, n1, time.Now()),
		} {
			var ce *ConfigError
			if !errors.As(err, &ce) || ce.Field != "prefixes" {
				t.Errorf("%s with no prefix: %v, want a ConfigError on prefixes", name, err)
			}
		}
	})

	t.Run("re-advertised wants a session newer than the restart", func(t *testing.T) {
		// node1's session is older than a restart "now": nothing restarted.
		mustContain(t, k.ReAdvertised(ctx, n1, time.Now().Add(2*time.Second), "10.85.1.0/24"), "re-advertised", "node1",
			"session established at", "before the restart at", "the node did not restart")
		must(k.ReAdvertised(ctx, n1, time.Now().Add(-time.Hour), "10.85.1.0/24"))
		mustContain(t, k.ReAdvertised(ctx, n1, time.Now().Add(-time.Hour), "10.85.1.0/24", "10.85.11.0/24"), "re-advertised", "node1",
			"session back, but not re-advertised: 10.85.11.0/24 missing")
	})

	t.Run("a dropped session is not a withdrawal", func(t *testing.T) {
		must(s1.Stop())
		k := *k
		k.Timeout = 20 * time.Second
		must(k.PeerDown(ctx, n1))
		must(k.RoutesFlushed(ctx, n1, "10.85.1.0/24"))
		k.Timeout = 1500 * time.Millisecond
		mustContain(t, k.PrefixWithdrawn(ctx, n1, "10.85.1.0/24"), "prefix-withdrawn", "node1", "10.85.1.0/24",
			"the prefix is gone with the session, which is not a withdrawal")
		// Without graceful restart the same drop fails the graceful-restart check at once.
		start := time.Now()
		mustContain(t, k.GracefulRestart(ctx, n1, start.Add(-time.Second), "10.85.1.0/24"), "graceful-restart", "node1",
			"routes not retained: missing 10.85.1.0/24")
		if d := time.Since(start); d > time.Second {
			t.Errorf("a route lost during the restart failed only after %s: it is final", d)
		}
	})
}
