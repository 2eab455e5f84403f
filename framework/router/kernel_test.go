package router

import (
	"context"
	"testing"
	"time"

	"github.com/hybridcni/hybridcni/framework/lab"
)

// An in-process router installs into a lab namespace given WithKernel (and,
// by default, into no kernel at all); withdrawal and Stop remove the route.
func TestInProcessInstallIntoLabNamespace(t *testing.T) {
	l := lab.ForTest(t)
	rtr, err := l.NS("rtr")
	if err != nil {
		t.Fatal(err)
	}
	peer, err := l.NS("peer")
	if err != nil {
		t.Fatal(err)
	}
	if err := lab.Veth(lab.End{NS: rtr, Name: "eth0", Addrs: []string{"10.80.0.1/24"}}, lab.End{NS: peer, Name: "eth0", Addrs: []string{"10.80.0.11/24"}}); err != nil {
		t.Fatal(err)
	}
	cfg := Config{
		ASN: routerASN, RouterID: "127.0.0.1", ListenAddresses: []string{"127.0.0.1"}, ListenPort: int32(freePort(t)),
		NeighborPrefixes: []string{"127.0.0.0/26"}, HoldTime: 9 * time.Second, Keepalive: 3 * time.Second,
		ConnectRetry: time.Second, InstallRoutes: true,
	}
	r, err := New(cfg, WithKernel(rtr), WithLogf(prefixLogf(t, "router")))
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = r.Stop() })
	s := startSpeaker(t, r.Config(), "127.0.0.41", nil)
	// The speaker names the lab node as next hop; the router routes the
	// block to it inside the lab namespace.
	ctx := context.Background()
	if err := s.Client().Advertise(ctx, "10.85.41.0/24", "10.80.0.11"); err != nil {
		t.Fatal(err)
	}
	wait := func(want bool) {
		t.Helper()
		wctx, cancel := context.WithTimeout(ctx, 15*time.Second)
		defer cancel()
		if err := rtr.WaitRoutes(wctx, func(rs []lab.Route) (bool, string) {
			for _, rt := range rs {
				if rt.Dst == "10.85.41.0/24" {
					return want && rt.Gw == "10.80.0.11" && rt.Protocol == ProtoBGP, "has " + rt.String()
				}
			}
			return !want, "no route to 10.85.41.0/24"
		}); err != nil {
			t.Fatal(err)
		}
	}
	wait(true)
	if got := r.Installed()["10.85.41.0/24"]; got != "10.80.0.11" {
		t.Fatalf("Installed() = %v", r.Installed())
	}
	if err := s.Client().Withdraw(ctx, "10.85.41.0/24", "10.80.0.11"); err != nil {
		t.Fatal(err)
	}
	wait(false)
	if err := s.Client().Advertise(ctx, "10.85.41.0/24", "10.80.0.11"); err != nil {
		t.Fatal(err)
	}
	wait(true)
	if err := r.Stop(); err != nil {
		t.Fatal(err)
	}
	wait(false)
}
