package router

import (
	"context"
	"testing"
	"time"
)

// AdvertisedBy against BIRD 1.6 speakers: a service address two nodes
// export with their own next hop passes for those two (and only those) and
// fails, naming it, for a node that does not export it or for another next
// hop; WithdrawnByAll fails while it is advertised (its passing side is
// shown against GoBGP speakers in TestAdvertisedBy).
func TestLabAdvertisedBy(t *testing.T) {
	b := newBGPLab(t, nil)
	ctx := context.Background()
	const svc = "10.96.0.10/32"
	n1 := b.addNode("node1", "10.80.0.31", "10.85.31.0/24")
	n2 := b.addNode("node2", "10.80.0.32", "10.85.32.0/24")
	n3 := b.addNode("node3", "10.80.0.33", "10.85.33.0/24")
	timers := "hold time 9; keepalive time 3;"
	b.birdWith(n1, 65001, timers, svc)
	b.birdWith(n2, 65001, timers, svc)
	b.birdWith(n3, 65001, timers)
	for _, n := range []*labNode{n1, n2, n3} {
		if err := b.k.PrefixLearned(ctx, n.Node, n.block); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.k.AdvertisedByOnly(ctx, svc, []Node{n1.Node, n2.Node}, ""); err != nil {
		t.Fatal(err)
	}
	k := *b.k
	k.Timeout = 3 * time.Second
	mustContain(t, k.AdvertisedBy(ctx, svc, []Node{n1.Node, n2.Node, n3.Node}, ""), "node node3 (10.80.0.33): not advertised")
	mustContain(t, k.AdvertisedBy(ctx, svc, []Node{n1.Node}, "10.80.0.99"), "next hop 10.80.0.31, want 10.80.0.99")
	mustContain(t, k.WithdrawnByAll(ctx, svc), "still advertised")
}
