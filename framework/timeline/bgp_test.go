package timeline

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/hybridcni/hybridcni/framework/report"
	"github.com/hybridcni/hybridcni/framework/router"
)

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	must(t, err)
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// startNode runs an in-process GoBGP speaker dialing the router from addr
// and advertising prefix with itself as next hop.
func startNode(t *testing.T, rc router.Config, addr, prefix string) *router.Router {
	t.Helper()
	s, err := router.New(router.Config{ASN: 65001, RouterID: addr, ListenPort: -1, HoldTime: 9 * time.Second, Keepalive: 3 * time.Second,
		ConnectRetry: time.Second,
		Neighbors:    []router.Neighbor{{Address: rc.ListenAddresses[0], ASN: rc.ASN, Port: uint32(rc.ListenPort), LocalAddress: addr}}})
	must(t, err)
	must(t, s.Start(context.Background()))
	must(t, s.Client().Advertise(context.Background(), prefix, addr))
	return s
}

// waitRoute waits (bounded) until the router has (or lacks) prefix.
func waitRoute(t *testing.T, c *router.Client, prefix string, present bool) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		rs, err := c.Routes(context.Background())
		must(t, err)
		found := false
		for _, r := range rs {
			found = found || r.Prefix == prefix
		}
		if found == present {
			return
		}
	}
	t.Fatalf("route %s present=%v not reached within 30s", prefix, present)
}

// A node's BGP speaker stops and comes back, against the real GoBGP router:
// the session's drop and the route's withdrawal are spans on the timeline,
// closed when the session is established again and the route re-learned.
func TestRouterWatcherRecordsASessionDropAndTheRouteComingBack(t *testing.T) {
	r, err := router.New(router.Config{ASN: 64512, RouterID: "127.0.0.1", ListenAddresses: []string{"127.0.0.1"}, ListenPort: int32(freePort(t)),
		NeighborPrefixes: []string{"127.0.0.0/26"}, NeighborASN: 65001, HoldTime: 9 * time.Second, Keepalive: 3 * time.Second, ConnectRetry: time.Second})
	must(t, err)
	must(t, r.Start(context.Background()))
	defer r.Stop()
	rc := r.Config()
	const addr, prefix = "127.0.0.41", "10.85.41.0/24"
	node := startNode(t, rc, addr, prefix)
	waitRoute(t, r.Client(), prefix, true)

	rec := NewRecorder()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	must(t, NewRouterWatcher(r.Client(), rec, map[string]string{addr: "hybrid-1"}).Start(ctx))
	stopped := time.Now()
	must(t, node.Stop())
	waitRoute(t, r.Client(), prefix, false)
	node = startNode(t, rc, addr, prefix)
	defer node.Stop()
	waitRoute(t, r.Client(), prefix, true)
	back := time.Now()

	var ev []report.Event
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		ev = rec.Events()
		closed := 0
		for _, e := range ev {
			if !strings.Contains(e.Text, "not over") && (e.Kind == report.EventBGPDown || e.Kind == report.EventRouteGone) {
				closed++
			}
		}
		if closed == 2 {
			break
		}
	}
	for _, e := range ev {
		// GoBGP's start-up marker (a peer event with no address) is no session.
		if e.Subject == "" || strings.Contains(e.Text, "<nil>") {
			t.Errorf("event about no peer: %+v", e)
		}
	}
	var down, gone *report.Event
	for i, e := range ev {
		switch e.Kind {
		case report.EventBGPDown:
			down = &ev[i]
		case report.EventRouteGone:
			gone = &ev[i]
		}
	}
	if down == nil || gone == nil {
		t.Fatalf("events %+v: want a session-down and a route-gone span", ev)
	}
	if !strings.HasPrefix(down.Text, "BGP session with hybrid-1 (127.0.0.41) down") || !strings.HasSuffix(down.Text, ", until established again") || down.Node != "hybrid-1" {
		t.Errorf("session span %+v", *down)
	}
	if gone.Text != "route 10.85.41.0/24 via hybrid-1 (127.0.0.41) withdrawn, until re-learned via hybrid-1 (127.0.0.41)" {
		t.Errorf("route span %+v", *gone)
	}
	for _, e := range []*report.Event{down, gone} {
		if e.Start.Before(stopped) || e.End.After(back.Add(time.Second)) || !e.Span() {
			t.Errorf("%q spans %s-%s, outside the outage %s-%s", e.Text, e.Start.Format("15:04:05.000"), e.End.Format("15:04:05.000"),
				stopped.Format("15:04:05.000"), back.Format("15:04:05.000"))
		}
	}
}
