package router

import (
	"context"
	"testing"
	"time"
)

// A stranger inside the neighbor range announces node1's own block (a
// second peer claiming a node's pod CIDR): ExactBlocks fails naming the
// peer and the prefix, and OnlyPeers names the unexpected peer.
func TestLabForeignPeerAnnouncesANodesBlock(t *testing.T) {
	b := newBGPLab(t, nil)
	ctx := context.Background()
	n1 := b.addNode("node1", "10.80.0.11", "10.85.1.0/24")
	n2 := b.addNode("node2", "10.80.0.12", "10.85.2.0/24")
	stranger := b.addNode("stranger", "10.80.0.20", "10.85.1.0/24")
	b.gobgpSpeaker(n1, 65001)
	b.birdSpeaker(n2, 65002)
	want := NodeBlocks{n1.Node: {n1.block}, n2.Node: {n2.block}}
	if err := b.k.ExactBlocks(ctx, want, "10.85.0.0/16"); err != nil {
		t.Fatal(err)
	}
	if err := b.k.OnlyPeers(ctx, n1.Node, n2.Node); err != nil {
		t.Fatal(err)
	}
	b.gobgpSpeaker(stranger, 65020)
	if err := b.k.PrefixLearned(ctx, stranger.Node, stranger.block); err != nil {
		t.Fatal(err)
	}
	k := *b.k
	k.Timeout = 2 * time.Second
	mustContain(t, k.ExactBlocks(ctx, want, "10.85.0.0/16"), "exact-blocks",
		"foreign peer 10.80.0.20 (not one of the nodes) announces 10.85.1.0/24 via 10.80.0.20, which overlaps node1's block 10.85.1.0/24")
	mustContain(t, k.OnlyPeers(ctx, n1.Node, n2.Node), "only-peers", "unexpected peer 10.80.0.20 AS65020 established", "announcing 10.85.1.0/24")
}
