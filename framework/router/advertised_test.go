package router

import (
	"context"
	"testing"
	"time"
)

// AdvertisedBy against in-process GoBGP speakers: a service address every
// node advertises with its own next hop passes; a node that does not, or
// does with a foreign next hop, is named; AdvertisedByOnly names a peer that
// should not advertise it; WithdrawnByAll waits for the last withdrawal.
func TestAdvertisedBy(t *testing.T) {
	ctx := context.Background()
	r, rc := startRouter(t, nil)
	n1 := Node{"node1", "127.0.0.41"}
	n2 := Node{"node2", "127.0.0.42"}
	n3 := Node{"node3", "127.0.0.43"}
	n4 := Node{"node4", "127.0.0.44"}
	s1 := startSpeaker(t, rc, n1.Address, nil)
	s2 := startSpeaker(t, rc, n2.Address, nil)
	s3 := startSpeaker(t, rc, n3.Address, nil)
	startSpeaker(t, rc, n4.Address, nil)
	const svc = "10.96.0.10/32"
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(s1.Client().Advertise(ctx, svc, n1.Address))
	must(s2.Client().Advertise(ctx, svc, n2.Address))
	must(s3.Client().Advertise(ctx, svc, "127.0.0.99"))

	k := NewChecker(r.Client())
	k.Timeout = 20 * time.Second
	for _, n := range []Node{n1, n2, n3, n4} {
		must(k.PeerEstablished(ctx, n))
	}
	must(k.AdvertisedBy(ctx, svc, []Node{n1, n2}, ""))
	must(k.AdvertisedBy(ctx, svc, []Node{n3}, "127.0.0.99"))

	k.Timeout = 1500 * time.Millisecond
	mustContain(t, k.AdvertisedBy(ctx, svc, []Node{n1, n2, n3, n4}, ""),
		"node node3 (127.0.0.43): advertised with next hop 127.0.0.99, want 127.0.0.43",
		"node node4 (127.0.0.44): not advertised")
	mustContain(t, k.AdvertisedByOnly(ctx, svc, []Node{n1, n2}, ""),
		"also advertised by peers that should not", "from 127.0.0.43")
	mustContain(t, k.AdvertisedBy(ctx, svc, []Node{{"gone", "127.0.0.45"}}, ""),
		"node gone (127.0.0.45): not advertised (no session from 127.0.0.45)")
	mustContain(t, k.WithdrawnByAll(ctx, svc), "still advertised", "from 127.0.0.41")

	k.Timeout = 20 * time.Second
	// node3 leaves (its session, and with it its route, goes).
	must(s3.Stop())
	must(k.AdvertisedByOnly(ctx, svc, []Node{n1, n2}, ""))
	must(s1.Client().Withdraw(ctx, svc, n1.Address))
	must(s2.Client().Withdraw(ctx, svc, n2.Address))
	must(k.WithdrawnByAll(ctx, svc))
}
