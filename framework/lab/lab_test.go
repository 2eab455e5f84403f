package lab_test

import (
	"context"
	"os"
	osexec "os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hybridcni/hybridcni/framework/lab"
)

func ping(t *testing.T, from *lab.NS, addr string) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err := from.Run(ctx, "ping", "-c", "1", "-W", "2", addr)
	return err
}

func mustNS(t *testing.T, l *lab.Lab, name string, opts ...lab.NSOption) *lab.NS {
	t.Helper()
	n, err := l.NS(name, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestVethPingThenLinkDown(t *testing.T) {
	l := lab.ForTest(t)
	a, b := mustNS(t, l, "a"), mustNS(t, l, "b")
	if err := lab.Veth(lab.End{NS: a, Name: "eth0", Addrs: []string{"10.99.0.1/30"}},
		lab.End{NS: b, Name: "eth0", Addrs: []string{"10.99.0.2/30"}}); err != nil {
		t.Fatal(err)
	}
	if err := ping(t, a, "10.99.0.2"); err != nil {
		t.Fatalf("a -> b over veth: %v", err)
	}
	if err := b.SetLinkUp("eth0", false); err != nil {
		t.Fatal(err)
	}
	if err := ping(t, a, "10.99.0.2"); err == nil {
		t.Fatal("a -> b succeeded with b's eth0 down")
	}
}

func TestBridgePingThenPortDown(t *testing.T) {
	l := lab.ForTest(t)
	sw := mustNS(t, l, "sw")
	br, err := sw.AddBridge("br0")
	if err != nil {
		t.Fatal(err)
	}
	hosts := map[string]string{"h1": "10.99.1.1/24", "h2": "10.99.1.2/24", "h3": "10.99.1.3/24"}
	ns := map[string]*lab.NS{}
	ports := map[string]string{}
	for name, addr := range hosts {
		ns[name] = mustNS(t, l, name)
		port, err := br.Attach(lab.End{NS: ns[name], Name: "eth0", Addrs: []string{addr}})
		if err != nil {
			t.Fatal(err)
		}
		ports[name] = port
	}
	for _, dst := range []string{"10.99.1.2", "10.99.1.3"} {
		if err := ping(t, ns["h1"], dst); err != nil {
			t.Fatalf("h1 -> %s over bridge: %v", dst, err)
		}
	}
	// Take h2's bridge port down: h2 is cut off, h3 is still reachable.
	if err := sw.SetLinkUp(ports["h2"], false); err != nil {
		t.Fatal(err)
	}
	if err := ping(t, ns["h1"], "10.99.1.2"); err == nil {
		t.Fatal("h1 -> h2 succeeded with h2's bridge port down")
	}
	if err := ping(t, ns["h1"], "10.99.1.3"); err != nil {
		t.Fatalf("h1 -> h3 after h2's port went down: %v", err)
	}
}

func TestRoutedThroughForwardingNS(t *testing.T) {
	l := lab.ForTest(t)
	a, r, b := mustNS(t, l, "a"), mustNS(t, l, "r"), mustNS(t, l, "b")
	if err := lab.Veth(lab.End{NS: a, Name: "eth0", Addrs: []string{"10.99.2.2/24"}},
		lab.End{NS: r, Name: "to-a", Addrs: []string{"10.99.2.1/24"}}); err != nil {
		t.Fatal(err)
	}
	if err := lab.Veth(lab.End{NS: b, Name: "eth0", Addrs: []string{"10.99.3.2/24"}},
		lab.End{NS: r, Name: "to-b", Addrs: []string{"10.99.3.1/24"}}); err != nil {
		t.Fatal(err)
	}
	for _, x := range []struct {
		ns *lab.NS
		gw string
	}{{a, "10.99.2.1"}, {b, "10.99.3.1"}} {
		if err := x.ns.AddRoute(lab.Route{Dst: "default", Gw: x.gw}); err != nil {
			t.Fatal(err)
		}
	}
	// Forwarding off (the namespace default): no transit.
	if err := ping(t, a, "10.99.3.2"); err == nil {
		t.Fatal("a -> b succeeded through r with ip_forward=0")
	}
	if err := r.Sysctl("net.ipv4.ip_forward", "1"); err != nil {
		t.Fatal(err)
	}
	if v, _ := r.GetSysctl("net.ipv4.ip_forward"); v != "1" {
		t.Fatalf("ip_forward in r = %q, want 1", v)
	}
	if err := ping(t, a, "10.99.3.2"); err != nil {
		t.Fatalf("a -> b through forwarding r: %v", err)
	}
	routes, err := a.Routes(0)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, rt := range routes {
		if rt.Dst == "default" && rt.Gw == "10.99.2.1" && rt.Dev == "eth0" {
			found = true
		}
	}
	if !found {
		t.Fatalf("a's routes %v lack default via 10.99.2.1 dev eth0", routes)
	}
	// The host's forwarding setting is untouched by the namespace's.
	host, _ := os.ReadFile("/proc/sys/net/ipv4/ip_forward")
	t.Logf("host ip_forward=%s (unchanged by the lab)", strings.TrimSpace(string(host)))
}

func TestCloseDeletesAndSweepRemovesStale(t *testing.T) {
	lab.RequireRoot(t)
	l, err := lab.New()
	if err != nil {
		t.Fatal(err)
	}
	n, err := l.NS("x")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(n.Path); err != nil {
		t.Fatalf("namespace file missing after create: %v", err)
	}
	// A process started inside is stopped by Close.
	p, err := n.Start(osexec.Command("sleep", "60"))
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-p.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("process in the namespace still running after Close")
	}
	if _, err := os.Stat(n.Path); !os.IsNotExist(err) {
		t.Fatalf("namespace %s still present after Close (%v)", n.Name, err)
	}

	// A namespace owned by a dead pid is swept; ours is not.
	live := lab.ForTest(t)
	mine := mustNS(t, live, "mine")
	stale := filepath.Join("/var/run/netns", lab.Prefix+"999999999-abcdef-stale")
	if err := os.WriteFile(stale, nil, 0o444); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Remove(stale) })
	swept, err := lab.Sweep()
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, name := range swept {
		if name == filepath.Base(stale) {
			found = true
		}
		if name == mine.Name {
			t.Fatalf("Sweep deleted the live namespace %s", name)
		}
	}
	if !found {
		t.Fatalf("Sweep deleted %v, not the stale %s", swept, filepath.Base(stale))
	}
	if _, err := os.Stat(mine.Path); err != nil {
		t.Fatalf("Sweep removed a live namespace: %v", err)
	}
}

func TestBadInputNamesField(t *testing.T) {
	lab.RequireRoot(t)
	l := lab.ForTest(t)
	a := mustNS(t, l, "a")
	err := lab.Veth(lab.End{NS: a, Name: "this-name-is-too-long"}, lab.End{NS: a, Name: "b"})
	if err == nil || !strings.Contains(err.Error(), "a.Name") {
		t.Fatalf("want error naming a.Name, got %v", err)
	}
	err = lab.Veth(lab.End{NS: a, Name: "x"}, lab.End{NS: a, Name: "y", Addrs: []string{"10.0.0.1"}})
	if err == nil || !strings.Contains(err.Error(), "b.Addrs") {
		t.Fatalf("want error naming b.Addrs, got %v", err)
	}
	if a.HasLink("x") || a.HasLink("y") {
		t.Fatal("bad input created links")
	}
}
