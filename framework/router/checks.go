package router

import (
	"context"
	"fmt"
	"net"
	"sort"
	"strings"
	"time"
)

// Node is a hybrid node as the BGP checks see it: its name and the address
// it peers from (which must also be the next hop of its routes).
type Node struct {
	Name    string
	Address string
}

func (n Node) String() string { return fmt.Sprintf("node %s (%s)", n.Name, n.Address) }

// DefaultCheckTimeout bounds each check.
const DefaultCheckTimeout = 30 * time.Second

// Checker runs BGP checks against a router. Each check watches the
// router's events and re-evaluates on every change until it passes or the
// timeout ends; then it fails with what the router does have.
type Checker struct {
	Client  *Client
	Timeout time.Duration
	// Poll, when set, re-evaluates on a fixed interval instead of on events
	// (kept only to measure the difference; the suites use events).
	Poll time.Duration
}

// NewChecker returns a Checker with the default timeout.
func NewChecker(c *Client) *Checker { return &Checker{Client: c, Timeout: DefaultCheckTimeout} }

type snapshot struct {
	peers  []Peer
	routes []Route
}

func (s snapshot) peer(addr string) (Peer, bool) {
	for _, p := range s.peers {
		if p.Address == addr {
			return p, true
		}
	}
	return Peer{}, false
}

// from returns the node's routes (learned from its address).
func (s snapshot) from(n Node) []Route {
	var out []Route
	for _, r := range s.routes {
		if r.Peer == n.Address {
			out = append(out, r)
		}
	}
	return out
}

func (s snapshot) String() string {
	const max = 20
	var b strings.Builder
	b.WriteString("peers [")
	for i, p := range s.peers {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(p.String())
	}
	b.WriteString("]; routes [")
	for i, r := range s.routes {
		if i == max {
			fmt.Fprintf(&b, ", ... %d more", len(s.routes)-max)
			break
		}
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(r.String())
	}
	b.WriteString("]")
	return b.String()
}

// CheckError is a failed check: the check's name, the node and prefix it
// was about, why it failed and what the router had.
type CheckError struct {
	Check  string
	Node   Node
	Prefix string
	Reason string
	Waited time.Duration
	Router string
}

func (e *CheckError) Error() string {
	subject := e.Node.String()
	if e.Node.Name == "" && e.Node.Address == "" {
		subject = "router"
	}
	if e.Prefix != "" {
		subject += " prefix " + e.Prefix
	}
	return fmt.Sprintf("bgp %s: %s: %s (waited %s); router has %s", e.Check, subject, e.Reason, e.Waited.Round(time.Millisecond), e.Router)
}

func (k *Checker) snapshot(ctx context.Context) (snapshot, error) {
	peers, err := k.Client.Peers(ctx)
	if err != nil {
		return snapshot{}, err
	}
	routes, err := k.Client.Routes(ctx)
	if err != nil {
		return snapshot{}, err
	}
	return snapshot{peers: peers, routes: routes}, nil
}

// wait evaluates eval on the router's state now and after every event (or
// poll) until it returns ok or the timeout ends.
func (k *Checker) wait(ctx context.Context, check string, n Node, prefix string, eval func(snapshot) (bool, string)) error {
	timeout := k.Timeout
	if timeout <= 0 {
		timeout = DefaultCheckTimeout
	}
	start := time.Now()
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var events <-chan Event
	var tick <-chan time.Time
	if k.Poll > 0 {
		t := time.NewTicker(k.Poll)
		defer t.Stop()
		tick = t.C
	} else {
		var err error
		// Watch first, then read: no change can slip in between.
		if events, err = k.Client.Watch(ctx); err != nil {
			return err
		}
	}
	var last snapshot
	reason := "not evaluated"
	for {
		s, err := k.snapshot(ctx)
		if err == nil {
			last = s
			ok, why := eval(s)
			if ok {
				return nil
			}
			reason = why
		} else if ctx.Err() == nil {
			reason = err.Error()
		}
		select {
		case <-ctx.Done():
			return &CheckError{Check: check, Node: n, Prefix: prefix, Reason: reason, Waited: time.Since(start), Router: last.String()}
		case <-tick:
		case _, open := <-events:
			if !open && ctx.Err() == nil {
				return &CheckError{Check: check, Node: n, Prefix: prefix, Reason: "event watch ended: " + reason, Waited: time.Since(start), Router: last.String()}
			}
			drain(events)
		}
	}
}

// drain takes queued events so a burst costs one re-evaluation.
func drain(ch <-chan Event) {
	for {
		select {
		case _, open := <-ch:
			if !open {
				return
			}
		default:
			return
		}
	}
}

// PeerEstablished passes once the router has an established session with
// the node's address.
func (k *Checker) PeerEstablished(ctx context.Context, n Node) error {
	return k.wait(ctx, "peer-established", n, "", func(s snapshot) (bool, string) {
		p, ok := s.peer(n.Address)
		if !ok {
			return false, "no session from " + n.Address
		}
		if !p.Established() {
			return false, "session is " + p.State
		}
		return true, ""
	})
}

// PeerDown passes once the router has no established session with the node.
func (k *Checker) PeerDown(ctx context.Context, n Node) error {
	return k.wait(ctx, "peer-down", n, "", func(s snapshot) (bool, string) {
		if p, ok := s.peer(n.Address); ok && p.Established() {
			return false, "session is still established"
		}
		return true, ""
	})
}

// PrefixLearned passes once the router has the prefix from the node with
// the node as next hop.
func (k *Checker) PrefixLearned(ctx context.Context, n Node, prefix string) error {
	if err := checkPrefix(prefix); err != nil {
		return err
	}
	return k.wait(ctx, "prefix-learned", n, prefix, func(s snapshot) (bool, string) {
		return learned(s, n, prefix)
	})
}

func learned(s snapshot, n Node, prefix string) (bool, string) {
	var elsewhere []string
	for _, r := range s.routes {
		if r.Prefix != prefix {
			continue
		}
		if r.Peer != n.Address {
			elsewhere = append(elsewhere, r.String())
			continue
		}
		if r.NextHop != n.Address {
			return false, fmt.Sprintf("learned with next hop %s, want %s", r.NextHop, n.Address)
		}
		return true, ""
	}
	if len(elsewhere) > 0 {
		return false, "not learned from the node; only " + strings.Join(elsewhere, ", ")
	}
	if _, ok := s.peer(n.Address); !ok {
		return false, "not learned: no session from " + n.Address
	}
	return false, "not learned"
}

// ServiceAdvertised passes once the router has the service address as a
// /32 host route, learned from one of the nodes (any peer if none given)
// with that node as next hop.
func (k *Checker) ServiceAdvertised(ctx context.Context, address string, from ...Node) error {
	ip := net.ParseIP(address)
	if ip == nil || ip.To4() == nil {
		return &ConfigError{"service address", address, "use an IPv4 address such as 10.96.0.10"}
	}
	prefix := ip.String() + "/32"
	subject := Node{}
	if len(from) == 1 {
		subject = from[0]
	}
	return k.wait(ctx, "service-advertised", subject, prefix, func(s snapshot) (bool, string) {
		if len(from) == 0 {
			for _, r := range s.routes {
				if r.Prefix == prefix && r.Peer != "" {
					return true, ""
				}
			}
			return false, "no /32 route for the service from any peer"
		}
		var why []string
		for _, n := range from {
			ok, reason := learned(s, n, prefix)
			if ok {
				return true, ""
			}
			why = append(why, n.String()+": "+reason)
		}
		return false, strings.Join(why, "; ")
	})
}

// PrefixWithdrawn passes once the router has no route for the prefix from
// the node (stale ones included).
func (k *Checker) PrefixWithdrawn(ctx context.Context, n Node, prefix string) error {
	if err := checkPrefix(prefix); err != nil {
		return err
	}
	return k.wait(ctx, "prefix-withdrawn", n, prefix, func(s snapshot) (bool, string) {
		for _, r := range s.from(n) {
			if r.Prefix == prefix {
				return false, "still has " + r.String()
			}
		}
		return true, ""
	})
}

// RoutesRetained passes while the node's session is down and the router
// still holds every prefix from it (marked stale): graceful-restart helper
// mode. It fails if the routes were dropped with the session.
func (k *Checker) RoutesRetained(ctx context.Context, n Node, prefixes ...string) error {
	return k.wait(ctx, "routes-retained", n, strings.Join(prefixes, ","), func(s snapshot) (bool, string) {
		if p, ok := s.peer(n.Address); ok && p.Established() {
			return false, "session is still established (no restart seen yet)"
		}
		have := map[string]Route{}
		for _, r := range s.from(n) {
			have[r.Prefix] = r
		}
		var missing, fresh []string
		for _, p := range prefixes {
			r, ok := have[p]
			switch {
			case !ok:
				missing = append(missing, p)
			case !r.Stale:
				fresh = append(fresh, p)
			}
		}
		if len(missing) > 0 {
			return false, "session down and routes dropped: missing " + strings.Join(missing, ", ")
		}
		if len(fresh) > 0 {
			return false, "routes not marked stale: " + strings.Join(fresh, ", ")
		}
		return true, ""
	})
}

// RoutesFlushed passes once none of the prefixes from the node remain
// (after a restarting peer's restart time ran out).
func (k *Checker) RoutesFlushed(ctx context.Context, n Node, prefixes ...string) error {
	return k.wait(ctx, "routes-flushed", n, strings.Join(prefixes, ","), func(s snapshot) (bool, string) {
		var left []string
		for _, r := range s.from(n) {
			for _, p := range prefixes {
				if r.Prefix == p {
					left = append(left, r.String())
				}
			}
		}
		if len(left) > 0 {
			return false, "still has " + strings.Join(left, ", ")
		}
		return true, ""
	})
}

// NodeBlocks is the pod-CIDR blocks each node should advertise.
type NodeBlocks map[Node][]string

// ExactBlocks passes once, for every node, the router has exactly the
// expected blocks from it (none missing, none extra), each with the node
// as next hop, and no block overlaps a block of another node. With within
// (e.g. the pod CIDR), routes outside those prefixes, such as service
// addresses, are not counted.
func (k *Checker) ExactBlocks(ctx context.Context, want NodeBlocks, within ...string) error {
	var scope []*net.IPNet
	for _, w := range within {
		_, ipn, err := net.ParseCIDR(w)
		if err != nil {
			return fmt.Errorf("exact-blocks: scope %q is not a CIDR", w)
		}
		scope = append(scope, ipn)
	}
	inScope := func(prefix string) bool {
		if len(scope) == 0 {
			return true
		}
		ip, _, err := net.ParseCIDR(prefix)
		if err != nil {
			return true
		}
		for _, s := range scope {
			if s.Contains(ip) {
				return true
			}
		}
		return false
	}
	nodes := make([]Node, 0, len(want))
	for n, blocks := range want {
		for _, b := range blocks {
			if err := checkPrefix(b); err != nil {
				return fmt.Errorf("%s: %w", n, err)
			}
		}
		nodes = append(nodes, n)
	}
	sort.Slice(nodes, func(i, j int) bool { return nodes[i].Name < nodes[j].Name })
	subject := Node{}
	if len(nodes) == 1 {
		subject = nodes[0]
	}
	return k.wait(ctx, "exact-blocks", subject, "", func(s snapshot) (bool, string) {
		var problems []string
		type owned struct {
			node Node
			net  *net.IPNet
		}
		var all []owned
		for _, n := range nodes {
			wantSet := map[string]bool{}
			for _, b := range want[n] {
				wantSet[b] = true
			}
			have := map[string]bool{}
			var extra, missing, badHop []string
			for _, r := range s.from(n) {
				if !inScope(r.Prefix) {
					continue
				}
				have[r.Prefix] = true
				if _, ipn, err := net.ParseCIDR(r.Prefix); err == nil {
					all = append(all, owned{n, ipn})
				}
				if !wantSet[r.Prefix] {
					extra = append(extra, r.Prefix)
				} else if r.NextHop != n.Address {
					badHop = append(badHop, fmt.Sprintf("%s via %s", r.Prefix, r.NextHop))
				}
			}
			for _, b := range want[n] {
				if !have[b] {
					missing = append(missing, b)
				}
			}
			if len(missing) > 0 {
				problems = append(problems, fmt.Sprintf("%s: missing %s", n, strings.Join(missing, ", ")))
			}
			if len(extra) > 0 {
				problems = append(problems, fmt.Sprintf("%s: extra %s", n, strings.Join(extra, ", ")))
			}
			if len(badHop) > 0 {
				problems = append(problems, fmt.Sprintf("%s: wrong next hop %s (want %s)", n, strings.Join(badHop, ", "), n.Address))
			}
		}
		for i := range all {
			for j := i + 1; j < len(all); j++ {
				a, b := all[i], all[j]
				if a.node != b.node && (a.net.Contains(b.net.IP) || b.net.Contains(a.net.IP)) {
					problems = append(problems, fmt.Sprintf("overlap: %s from %s and %s from %s", a.net, a.node, b.net, b.node))
				}
			}
		}
		if len(problems) > 0 {
			return false, strings.Join(problems, "; ")
		}
		return true, ""
	})
}

func checkPrefix(p string) error {
	ip, ipn, err := net.ParseCIDR(p)
	if err != nil || ip.To4() == nil || !ip.Equal(ipn.IP) {
		return &ConfigError{"prefix", p, "use an IPv4 network prefix such as 10.85.1.0/24 (host bits zero)"}
	}
	return nil
}
