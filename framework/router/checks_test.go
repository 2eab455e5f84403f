package router

import (
	"context"
	"strings"
	"testing"
	"time"
)

// The checks against in-process GoBGP speakers on loopback: each passes on
// a good network and fails, naming node and prefix, on a broken one.
func TestChecksPassAndFail(t *testing.T) {
	ctx := context.Background()
	r, rc := startRouter(t, nil)
	n1 := Node{"node1", "127.0.0.11"}
	n2 := Node{"node2", "127.0.0.12"}
	n3 := Node{"node3", "127.0.0.13"}
	s1 := startSpeaker(t, rc, n1.Address, nil)
	s2 := startSpeaker(t, rc, n2.Address, nil)
	s3 := startSpeaker(t, rc, n3.Address, nil)
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(s1.Client().Advertise(ctx, "10.85.1.0/24", n1.Address, "65001:100"))
	must(s2.Client().Advertise(ctx, "10.85.2.0/24", n2.Address))
	must(s2.Client().Advertise(ctx, "10.96.0.10/32", n2.Address))
	// node3 advertises its block with a foreign next hop.
	must(s3.Client().Advertise(ctx, "10.85.3.0/24", "127.0.0.99"))

	k := NewChecker(r.Client())
	k.Timeout = 20 * time.Second
	for _, n := range []Node{n1, n2, n3} {
		must(k.PeerEstablished(ctx, n))
	}
	must(k.PrefixLearned(ctx, n1, "10.85.1.0/24"))
	must(k.PrefixLearned(ctx, n2, "10.85.2.0/24"))
	must(k.ServiceAdvertised(ctx, "10.96.0.10", n2))
	// node3 is left out, so its block is scoped out (ExactBlocks flags any
	// in-scope prefix from a peer that is not one of the nodes).
	must(k.ExactBlocks(ctx, NodeBlocks{n1: {"10.85.1.0/24"}, n2: {"10.85.2.0/24", "10.96.0.10/32"}}, "10.85.1.0/24", "10.85.2.0/24", "10.96.0.0/16"))

	routes, err := r.Client().Routes(ctx)
	must(err)
	var got Route
	for _, rt := range routes {
		if rt.Prefix == "10.85.1.0/24" {
			got = rt
		}
	}
	if got.NextHop != n1.Address || len(got.ASPath) != 1 || got.ASPath[0] != nodeASN || len(got.Communities) != 1 || got.Communities[0] != "65001:100" {
		t.Fatalf("route from node1 = %+v, want next hop %s, AS path [%d], community 65001:100", got, n1.Address, nodeASN)
	}

	// Negative: each check fails and names node and prefix.
	k.Timeout = 1500 * time.Millisecond
	mustContain(t, k.PrefixLearned(ctx, n3, "10.85.3.0/24"), "node3", "10.85.3.0/24", "next hop 127.0.0.99, want 127.0.0.13")
	mustContain(t, k.ExactBlocks(ctx, NodeBlocks{n1: {"10.85.1.0/24", "10.85.11.0/24"}}), "node1", "missing 10.85.11.0/24")
	mustContain(t, k.ExactBlocks(ctx, NodeBlocks{n2: {"10.85.2.0/24"}}), "node2", "extra 10.96.0.10/32")
	// Scoped to node2's part of the pod CIDR, node2's service route is not a
	// pod block; a missing block inside the scope still fails.
	must(k.ExactBlocks(ctx, NodeBlocks{n2: {"10.85.2.0/24"}}, "10.85.2.0/24"))
	mustContain(t, k.ExactBlocks(ctx, NodeBlocks{n2: {"10.85.2.0/24", "10.85.12.0/24"}}, "10.85.2.0/24", "10.85.12.0/24"), "node2", "missing 10.85.12.0/24")
	mustContain(t, k.ExactBlocks(ctx, NodeBlocks{n3: {"10.85.3.0/24"}}), "node3", "wrong next hop 10.85.3.0/24 via 127.0.0.99")
	mustContain(t, k.ServiceAdvertised(ctx, "10.96.0.11", n2), "node2", "10.96.0.11/32", "not learned")
	mustContain(t, k.ServiceAdvertised(ctx, "10.96.0.10", n1), "node1", "10.96.0.10/32", "only 10.96.0.10/32 via 127.0.0.12 from 127.0.0.12")
	mustContain(t, k.PrefixWithdrawn(ctx, n1, "10.85.1.0/24"), "node1", "10.85.1.0/24", "still has")
	mustContain(t, k.PeerDown(ctx, n1), "node1", "still established")

	// Overlap: node2 advertises a block inside node1's.
	must(s2.Client().Advertise(ctx, "10.85.1.128/25", n2.Address))
	mustContain(t, k.ExactBlocks(ctx, NodeBlocks{n1: {"10.85.1.0/24"}, n2: {"10.85.2.0/24", "10.96.0.10/32", "10.85.1.128/25"}}),
		"overlap", "10.85.1.0/24 from node node1", "10.85.1.128/25 from node node2")

	// Withdrawal passes the withdrawn check.
	k.Timeout = 10 * time.Second
	must(s1.Client().Withdraw(ctx, "10.85.1.0/24", n1.Address))
	must(k.PrefixWithdrawn(ctx, n1, "10.85.1.0/24"))

	// Session down: stop node1's speaker.
	must(s1.Stop())
	must(k.PeerDown(ctx, n1))
	k.Timeout = 1500 * time.Millisecond
	mustContain(t, k.PeerEstablished(ctx, n1), "peer-established", "node1", "127.0.0.11")
	mustContain(t, k.PrefixLearned(ctx, n1, "10.85.1.0/24"), "node1", "10.85.1.0/24", "not learned")
}

// A route left stale after the session is back is told apart by whether
// the node sent its End-of-RIB: without one it has not finished sending;
// with one the router kept a route the node ended.
func TestReAdvertisedNamesEndOfRIB(t *testing.T) {
	n := Node{"node1", "10.80.0.11"}
	restart := time.Now().Add(-time.Minute)
	up := Peer{Address: n.Address, State: "established", Up: time.Now()}
	stale := Route{Prefix: "10.85.1.0/24", NextHop: n.Address, Peer: n.Address, Stale: true}
	for _, c := range []struct {
		eor  bool
		want string
	}{
		{false, "10.85.1.0/24 still stale (kept by graceful restart, not sent again) (the node has sent no End-of-RIB on this session yet)"},
		{true, "10.85.1.0/24 still stale (kept by graceful restart, not sent again) (the node sent its End-of-RIB on this session)"},
	} {
		p := up
		p.EndOfRIB = c.eor
		ok, why := reAdvertised(snapshot{peers: []Peer{p}, routes: []Route{stale}}, n, restart, []string{stale.Prefix})
		if ok || !strings.Contains(why, c.want) {
			t.Errorf("End-of-RIB %v: ok=%v %q, want a failure with %q", c.eor, ok, why, c.want)
		}
	}
}
