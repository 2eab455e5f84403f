package router

import (
	"context"
	"strings"
	"testing"
	"time"
)

// RejectImport in the lab, against BIRD 1.6 speakers and the router run as
// a process behind its gRPC API (as the topologies run it): two nodes
// export their blocks and a service address; the filter on one node keeps
// that node's service route out of the RIB (AdvertisedBy fails naming the
// node and the prefix) while its session and block stay; removing it brings
// the route back without the speaker doing anything.
func TestLabRejectImport(t *testing.T) {
	b := newBGPLab(t, nil)
	ctx := context.Background()
	const svc = "10.96.0.10/32"
	n1 := b.addNode("node1", "10.80.0.41", "10.85.41.0/24")
	n2 := b.addNode("node2", "10.80.0.42", "10.85.42.0/24")
	timers := "hold time 9; keepalive time 3;"
	b.birdWith(n1, 65001, timers, svc)
	b.birdWith(n2, 65001, timers, svc)
	nodes := []Node{n1.Node, n2.Node}
	if err := b.k.AdvertisedByOnly(ctx, svc, nodes, ""); err != nil {
		t.Fatal(err)
	}
	only := []PrefixMatch{{Prefix: "10.96.0.0/16", MinLen: 32, MaxLen: 32}}
	if err := b.client.RejectImport(ctx, "svc-filter", n2.Address, only); err != nil {
		t.Fatal(err)
	}
	k := *b.k
	k.Timeout = 3 * time.Second
	err := k.AdvertisedBy(ctx, svc, nodes, "")
	mustContain(t, err, "prefix 10.96.0.10/32", "node node2 (10.80.0.42): not advertised")
	if strings.Contains(err.Error(), "node node1 (10.80.0.41): not") {
		t.Errorf("the unfiltered node is named: %v", err)
	}
	if err := b.k.PeerEstablished(ctx, n2.Node); err != nil {
		t.Errorf("the filtered node lost its session: %v", err)
	}
	if err := b.k.PrefixLearned(ctx, n2.Node, n2.block); err != nil {
		t.Errorf("the filtered node's block is gone: %v", err)
	}
	if err := b.client.RemoveImportReject(ctx, "svc-filter", n2.Address); err != nil {
		t.Fatal(err)
	}
	if err := b.k.AdvertisedByOnly(ctx, svc, nodes, ""); err != nil {
		t.Errorf("after removing the filter: %v", err)
	}
	// Bad input is refused before anything is installed.
	if err := b.client.RejectImport(ctx, "bad", n2.Address, []PrefixMatch{{Prefix: "10.96.0.0/16", MinLen: 8, MaxLen: 32}}); err == nil {
		t.Error("a length range shorter than the prefix was accepted")
	}
}
