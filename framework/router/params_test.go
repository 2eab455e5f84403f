package router

import (
	"context"
	"strings"
	"testing"
	"time"
)

// The parameter check against in-process GoBGP speakers on loopback: a node
// with the wanted timers and graceful restart passes; one with other timers
// and no graceful restart fails, each parameter named with the node.
func TestPeerParametersPassAndFail(t *testing.T) {
	ctx := context.Background()
	// The router's own hold time is above the wanted one, so the negotiated
	// hold time is the node's.
	r, rc := startRouter(t, func(c *Config) { c.HoldTime = 90 * time.Second; c.Keepalive = 30 * time.Second })
	good := Node{"good", "127.0.0.21"}
	bad := Node{"bad", "127.0.0.22"}
	startSpeaker(t, rc, good.Address, func(c *Config) {
		c.HoldTime, c.Keepalive = 30*time.Second, time.Second
		c.GracefulRestart, c.RestartTime = true, 120*time.Second
	})
	startSpeaker(t, rc, bad.Address, func(c *Config) {
		c.HoldTime, c.Keepalive = 60*time.Second, 3*time.Second
	})
	// Its OPEN as wanted, its KEEPALIVEs three times too far apart.
	lazy := Node{"lazy", "127.0.0.24"}
	startSpeaker(t, rc, lazy.Address, func(c *Config) {
		c.HoldTime, c.Keepalive = 30*time.Second, 3*time.Second
		c.GracefulRestart, c.RestartTime = true, 120*time.Second
	})
	k := NewChecker(r.Client())
	k.Timeout = 20 * time.Second
	want := PeerParams{ASN: nodeASN, HoldTime: 30 * time.Second, Keepalive: time.Second,
		GracefulRestart: true, RestartTime: 120 * time.Second, Families: []string{"ipv4-unicast"}}

	if err := k.PeerParameters(ctx, good, want); err != nil {
		t.Fatalf("a node with the wanted parameters failed: %v", err)
	}
	got, err := k.PeerParamsOf(ctx, good)
	if err != nil {
		t.Fatal(err)
	}
	if got.ASN != nodeASN || got.HoldTime != 30*time.Second || !got.GracefulRestart || got.RestartTime != 120*time.Second ||
		strings.Join(got.Families, ",") != "ipv4-unicast" {
		t.Errorf("PeerParamsOf(good) = %+v", got)
	}

	start := time.Now()
	err = k.PeerParameters(ctx, bad, want)
	mustContain(t, err,
		"node bad (127.0.0.22): hold time 60 s negotiated, want 30 s",
		"node bad (127.0.0.22): graceful restart not announced in its OPEN, want it with restart time 120 s",
		"node bad (127.0.0.22): keepalive not measured (its OPEN fails the check already)")
	if strings.Contains(err.Error(), "AS ") || strings.Contains(err.Error(), "families") {
		t.Errorf("AS and families are right, yet named: %v", err)
	}
	t.Logf("failure as reported:\n%v", err)
	err = k.PeerParameters(ctx, lazy, want)
	mustContain(t, err, "node lazy (127.0.0.24): keepalive: none received for", "want one every 1 s")
	if strings.Contains(err.Error(), "hold time") || strings.Contains(err.Error(), "graceful") {
		t.Errorf("the lazy node's OPEN is right, yet named: %v", err)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("the failing checks took %s; a wrong keepalive should fail within two of its intervals", d)
	}

	// The same node, other wants: restart time, families, ASN.
	w2 := want
	w2.Keepalive, w2.HoldTime = 0, 0
	w2.RestartTime, w2.Families, w2.ASN = 60*time.Second, []string{"ipv4-unicast", "ipv6-unicast"}, 65099
	mustContain(t, k.PeerParameters(ctx, good, w2),
		"node good (127.0.0.21): AS 65001 in its OPEN, want AS 65099",
		"node good (127.0.0.21): graceful restart time 120 s announced in its OPEN, want 60 s",
		"node good (127.0.0.21): address families ipv4-unicast announced in its OPEN, want ipv4-unicast, ipv6-unicast")

	// A node that is not there is named, within the timeout.
	k.Timeout = time.Second
	mustContain(t, k.PeerParameters(ctx, Node{"gone", "127.0.0.23"}, want), "gone", "127.0.0.23")
}

// With the router's own hold time at the wanted value, a node announcing
// more negotiates the same: the check says it cannot tell, not pass.
func TestPeerParametersHoldTimeNeedsALargerRouterHoldTime(t *testing.T) {
	ctx := context.Background()
	r, rc := startRouter(t, func(c *Config) { c.HoldTime = 30 * time.Second; c.Keepalive = 10 * time.Second })
	n := Node{"worker", "127.0.0.31"}
	startSpeaker(t, rc, n.Address, func(c *Config) { c.HoldTime, c.Keepalive = 90*time.Second, 30*time.Second })
	k := NewChecker(r.Client())
	k.Timeout = 20 * time.Second
	mustContain(t, k.PeerParameters(ctx, n, PeerParams{HoldTime: 30 * time.Second}),
		"node worker (127.0.0.31): hold time 30 s negotiated, but the router's own hold time is 30 s")
}
