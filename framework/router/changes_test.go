package router

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	api "github.com/osrg/gobgp/v3/api"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// scriptedRouter is a router whose state the test sets and whose events it
// sends, one kind at a time: session and best-path events (Watch) apart
// from what peers send (ADJIN and End-of-RIB).
type scriptedRouter struct {
	mu     sync.Mutex
	peer   *api.Peer
	route  *api.Path
	events []scriptedWatch
}

type scriptedWatch struct {
	sessions, received bool // peer and best-path events; ADJIN and EOR
	fn                 func(*api.WatchEventResponse)
}

func (r *scriptedRouter) set(eor, stale bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.peer.AfiSafis[0].MpGracefulRestart.State.EndOfRibReceived = eor
	r.route.Stale = stale
}

// send hands ev to every watch of that kind.
func (r *scriptedRouter) send(received bool, ev *api.WatchEventResponse) {
	r.mu.Lock()
	ws := append([]scriptedWatch(nil), r.events...)
	r.mu.Unlock()
	for _, w := range ws {
		if received && w.received || !received && w.sessions {
			w.fn(ev)
		}
	}
}

func (r *scriptedRouter) listPeers(_ context.Context, fn func(*api.Peer)) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	fn(r.peer)
	return nil
}

func (r *scriptedRouter) listPaths(_ context.Context, fn func(*api.Destination)) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	fn(&api.Destination{Prefix: "10.85.1.0/24", Paths: []*api.Path{r.route}})
	return nil
}

func (r *scriptedRouter) watch(ctx context.Context, req *api.WatchEventRequest, fn func(*api.WatchEventResponse)) error {
	w := scriptedWatch{sessions: req.Peer != nil, fn: fn}
	for _, f := range req.GetTable().GetFilters() {
		switch f.Type {
		case api.WatchEventRequest_Table_Filter_BEST:
			w.sessions = true
		case api.WatchEventRequest_Table_Filter_ADJIN, api.WatchEventRequest_Table_Filter_EOR:
			w.received = true
		}
	}
	r.mu.Lock()
	r.events = append(r.events, w)
	r.mu.Unlock()
	fn(nil)
	<-ctx.Done()
	return nil
}

func (r *scriptedRouter) addPath(context.Context, *api.Path) error    { return errors.New("read only") }
func (r *scriptedRouter) addPaths(context.Context, []*api.Path) error { return errors.New("read only") }
func (r *scriptedRouter) deletePath(context.Context, *api.Path) error { return errors.New("read only") }
func (r *scriptedRouter) global(context.Context) (*api.Global, error) {
	return &api.Global{Asn: 65000}, nil
}
func (r *scriptedRouter) close() error { return nil }

// newScriptedRouter: node1's session came back just now; its block is
// still stale and it has sent no End-of-RIB.
func newScriptedRouter(t *testing.T, n Node) *scriptedRouter {
	path, err := newPath("10.85.1.0/24", n.Address, nil, false)
	if err != nil {
		t.Fatal(err)
	}
	path.NeighborIp, path.Stale = n.Address, true
	return &scriptedRouter{
		peer: &api.Peer{
			Conf:   &api.PeerConf{NeighborAddress: n.Address, PeerAsn: 65001},
			State:  &api.PeerState{NeighborAddress: n.Address, PeerAsn: 65001, SessionState: api.PeerState_ESTABLISHED},
			Timers: &api.Timers{State: &api.TimersState{Uptime: timestamppb.Now()}},
			AfiSafis: []*api.AfiSafi{{MpGracefulRestart: &api.MpGracefulRestart{
				State: &api.MpGracefulRestartState{Enabled: true, Received: true}}}},
		},
		route: path,
	}
}

// A node that sends its block again unchanged moves no best path, and its
// End-of-RIB no session: the check must look again on what the node sends
// (CI failed graceful-restart on kube-router with the router holding the
// block fresh: the check had last looked when the session came back), and
// with no event at all it still looks again every Recheck.
func TestChecksLookAgainOnWhatPeersSend(t *testing.T) {
	n := Node{"node1", "10.80.0.11"}
	restart := time.Now().Add(-time.Minute)
	sentAgain := func(r *scriptedRouter, events bool) {
		time.Sleep(300 * time.Millisecond)
		r.set(true, false)
		if events {
			r.send(true, &api.WatchEventResponse{Event: &api.WatchEventResponse_Table{Table: &api.WatchEventResponse_TableEvent{
				Paths: []*api.Path{r.route, {NeighborIp: n.Address}}}}})
		}
	}

	t.Run("on the node's update and End-of-RIB", func(t *testing.T) {
		r := newScriptedRouter(t, n)
		k := &Checker{Client: &Client{b: r}, Timeout: 5 * time.Second, Recheck: -1}
		go sentAgain(r, true)
		if err := k.ReAdvertised(context.Background(), n, restart, "10.85.1.0/24"); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("with no event, every Recheck", func(t *testing.T) {
		r := newScriptedRouter(t, n)
		k := &Checker{Client: &Client{b: r}, Timeout: 5 * time.Second, Recheck: 200 * time.Millisecond}
		go sentAgain(r, false)
		if err := k.ReAdvertised(context.Background(), n, restart, "10.85.1.0/24"); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("not sent again fails, naming node and prefix", func(t *testing.T) {
		r := newScriptedRouter(t, n)
		k := &Checker{Client: &Client{b: r}, Timeout: time.Second, Recheck: 200 * time.Millisecond}
		mustContain(t, k.ReAdvertised(context.Background(), n, restart, "10.85.1.0/24"),
			"re-advertised", "node1", "10.85.1.0/24", "still stale", "no End-of-RIB on this session yet")
	})
}
