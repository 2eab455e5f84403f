package timeline

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/hybridcni/hybridcni/framework/report"
	"github.com/hybridcni/hybridcni/framework/router"
)

// RouterWatcher turns the on-prem router's events into spans: a BGP session
// down (from leaving established until established again) and a route
// withdrawn (until a path for the prefix is learned again); a best path
// that moves to another next hop is an instant.
type RouterWatcher struct {
	c   *router.Client
	rec *Recorder
	// names maps a peer address to a node name, for the texts.
	names map[string]string

	mu     sync.Mutex
	up     map[string]bool   // peer -> established
	routes map[string]string // prefix -> next hop of the best path
}

// NewRouterWatcher watches c into rec; names (optional) maps peer
// addresses to node names.
func NewRouterWatcher(c *router.Client, rec *Recorder, names map[string]string) *RouterWatcher {
	return &RouterWatcher{c: c, rec: rec, names: names, up: map[string]bool{}, routes: map[string]string{}}
}

// Start reads the current routes, watches (the watch is registered before
// it returns), then reads the current peers: no change can slip between
// the starting point and the events.
func (w *RouterWatcher) Start(ctx context.Context) error {
	routes, err := w.c.Routes(ctx)
	if err != nil {
		return fmt.Errorf("timeline: %w", err)
	}
	for _, r := range routes {
		if r.Best || w.routes[r.Prefix] == "" {
			w.routes[r.Prefix] = r.NextHop
		}
	}
	events, err := w.c.Watch(ctx)
	if err != nil {
		return fmt.Errorf("timeline: %w", err)
	}
	peers, err := w.c.Peers(ctx)
	if err != nil {
		return fmt.Errorf("timeline: %w", err)
	}
	w.mu.Lock()
	for _, p := range peers {
		w.up[p.Address] = p.Established()
	}
	w.mu.Unlock()
	now := time.Now()
	for _, p := range peers {
		if !p.Established() {
			w.peerDown(p, now)
		}
	}
	go func() {
		for ev := range events {
			w.handle(ev, time.Now())
		}
	}()
	return nil
}

func (w *RouterWatcher) peerName(addr string) string {
	if n := w.names[addr]; n != "" {
		return fmt.Sprintf("%s (%s)", n, addr)
	}
	return addr
}

func (w *RouterWatcher) peerDown(p router.Peer, at time.Time) {
	node := w.names[p.Address]
	w.rec.Open("bgp:"+p.Address, at, report.Event{Kind: report.EventBGPDown, Node: node, Subject: p.Address,
		Text: fmt.Sprintf("BGP session with %s down (%s)", w.peerName(p.Address), p.State)})
}

func (w *RouterWatcher) handle(ev router.Event, at time.Time) {
	switch ev.Type {
	case router.EventPeer:
		p := ev.Peer
		if p.State == "" {
			return
		}
		w.mu.Lock()
		was, known := w.up[p.Address]
		w.up[p.Address] = p.Established()
		w.mu.Unlock()
		switch {
		case p.Established() && (!known || !was):
			if !w.rec.Close("bgp:"+p.Address, at, ", until established again") {
				w.rec.Add(report.Event{Kind: report.EventBGPUp, Start: at, Node: w.names[p.Address], Subject: p.Address,
					Text: fmt.Sprintf("BGP session with %s established", w.peerName(p.Address))})
			}
		case !p.Established() && (!known || was):
			w.peerDown(p, at)
		}
	case router.EventRoute:
		r := ev.Route
		w.mu.Lock()
		prev, had := w.routes[r.Prefix]
		if r.Withdrawn {
			delete(w.routes, r.Prefix)
		} else {
			w.routes[r.Prefix] = r.NextHop
		}
		w.mu.Unlock()
		key := "route:" + r.Prefix
		switch {
		case r.Withdrawn && had:
			w.rec.Open(key, at, report.Event{Kind: report.EventRouteGone, Node: w.names[prev], Subject: r.Prefix,
				Text: fmt.Sprintf("route %s via %s withdrawn", r.Prefix, w.peerName(prev))})
		case !r.Withdrawn && !had:
			if !w.rec.Close(key, at, fmt.Sprintf(", until re-learned via %s", w.peerName(r.NextHop))) {
				w.rec.Add(report.Event{Kind: report.EventRouteBack, Start: at, Node: w.names[r.NextHop], Subject: r.Prefix,
					Text: fmt.Sprintf("route %s learned via %s", r.Prefix, w.peerName(r.NextHop))})
			}
		case !r.Withdrawn && had && prev != r.NextHop:
			w.rec.Add(report.Event{Kind: report.EventRouteBack, Start: at, Node: w.names[r.NextHop], Subject: r.Prefix,
				Text: fmt.Sprintf("route %s moved from %s to %s", r.Prefix, w.peerName(prev), w.peerName(r.NextHop))})
		}
	}
}
