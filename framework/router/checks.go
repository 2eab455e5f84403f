package router

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"sort"
	"strings"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/hybridcni/hybridcni/framework/progress"
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
	// Progress, when set, receives a line every ProgressEvery (default
	// progress.DefaultInterval) while a check waits: what it awaits (the
	// peer's node and address, the prefix), for how long, and what still
	// holds it up.
	Progress      io.Writer
	ProgressEvery time.Duration
	// AdvertiseSkew: once one node advertises a prefix, how long another
	// with an established session may lag before AdvertisedBy(Only) fails
	// for good (0: DefaultAdvertiseSkew; negative: wait the whole Timeout).
	AdvertiseSkew time.Duration
	// Recheck: a waiting check also looks again this often with no event
	// (0: DefaultRecheck; negative: on events only), so state that no
	// event marks cannot hold a verdict back until the timeout.
	Recheck time.Duration
}

// DefaultRecheck is how often a waiting check looks again with no event.
const DefaultRecheck = 10 * time.Second

// NewChecker returns a Checker with the default timeout.
func NewChecker(c *Client) *Checker { return &Checker{Client: c, Timeout: DefaultCheckTimeout} }

type snapshot struct {
	peers  []Peer
	routes []Route
	// unsettled: sessions kept changing while it was read; no check fails
	// for good on it.
	unsettled bool
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
	subject := subjectOf(e.Node, e.Prefix)
	return fmt.Sprintf("bgp %s: %s: %s (waited %s); router has %s", e.Check, subject, e.Reason, e.Waited.Round(time.Millisecond), e.Router)
}

// snapshot reads the peers on both sides of the routes and reads again
// while a session changed in between: a session coming up withdraws what
// its End-of-RIB ends, and routes read after that beside peers read before
// it would look like routes lost while the session was down.
func (k *Checker) snapshot(ctx context.Context) (snapshot, error) {
	peers, err := k.Client.Peers(ctx)
	if err != nil {
		return snapshot{}, err
	}
	var s snapshot
	for range snapshotReads {
		routes, err := k.Client.Routes(ctx)
		if err != nil {
			return snapshot{}, err
		}
		after, err := k.Client.Peers(ctx)
		if err != nil {
			return snapshot{}, err
		}
		s = snapshot{peers: after, routes: routes}
		if samePeers(peers, after) {
			return s, nil
		}
		peers = after
	}
	s.unsettled = true
	return s, nil
}

// snapshotReads bounds the reads of a router whose sessions keep changing.
const snapshotReads = 5

func samePeers(a, b []Peer) bool {
	return slices.EqualFunc(a, b, func(x, y Peer) bool {
		return x.Address == y.Address && x.State == y.State && x.Up.Equal(y.Up)
	})
}

// wait evaluates eval on the router's state now and after every event (or
// poll) until it returns ok or the timeout ends.
func (k *Checker) wait(ctx context.Context, check string, n Node, prefix string, eval func(snapshot) (bool, string)) error {
	return k.waitOrFail(ctx, check, n, prefix, func(s snapshot) (bool, bool, string) {
		ok, why := eval(s)
		return ok, false, why
	})
}

// waitOrFail is wait for checks that can fail for good before the timeout
// (failed: a route lost during a graceful restart cannot come back as
// retained).
func (k *Checker) waitOrFail(ctx context.Context, check string, n Node, prefix string, eval func(snapshot) (ok, failed bool, why string)) error {
	return k.waitAs(ctx, awaited(check, n, prefix), check, n, prefix, eval)
}

// awaited says what a check waits for, for its progress lines: "bgp
// peer-established: node hybrid-1 (172.18.0.3)", "bgp withdrawn-by-all:
// prefix 198.18.1.2/32".
func awaited(check string, n Node, prefix string) string {
	return "bgp " + check + ": " + subjectOf(n, prefix)
}

// subjectOf names what a check is about: the node and prefix, the prefix
// alone, or the router when it names neither.
func subjectOf(n Node, prefix string) string {
	var subject []string
	if n.Name != "" || n.Address != "" {
		subject = append(subject, n.String())
	}
	if prefix != "" {
		subject = append(subject, "prefix "+prefix)
	}
	if len(subject) == 0 {
		return "the router"
	}
	return strings.Join(subject, " ")
}

// waitAs is waitOrFail with its progress lines saying what (awaited's
// text when a check names more than one node).
func (k *Checker) waitAs(ctx context.Context, what, check string, n Node, prefix string, eval func(snapshot) (ok, failed bool, why string)) error {
	return k.waitEvery(ctx, what, check, n, prefix, 0, eval)
}

// waitEvery is waitAs re-evaluating also every interval (when > 0), for a
// check whose verdict can change with time alone (a grace running out)
// while the router sends no event.
func (k *Checker) waitEvery(ctx context.Context, what, check string, n Node, prefix string, every time.Duration, eval func(snapshot) (ok, failed bool, why string)) error {
	timeout := k.Timeout
	if timeout <= 0 {
		timeout = DefaultCheckTimeout
	}
	opts := []progress.Option{progress.Limit(timeout)}
	if k.ProgressEvery > 0 {
		opts = append(opts, progress.Every(k.ProgressEvery))
	}
	pw := progress.Start(k.Progress, what, opts...)
	defer pw.Done()
	start := time.Now()
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var events <-chan struct{}
	var tick <-chan time.Time
	if k.Poll > 0 {
		t := time.NewTicker(k.Poll)
		defer t.Stop()
		tick = t.C
	} else {
		var err error
		// Watch first, then read: no change can slip in between. What
		// peers send counts too: a route sent again unchanged, or an
		// End-of-RIB, moves no best path and no session.
		if events, err = k.Client.Changes(ctx); err != nil {
			return err
		}
	}
	floor := k.Recheck
	if floor == 0 {
		floor = DefaultRecheck
	}
	if floor > 0 && (every <= 0 || floor < every) {
		every = floor
	}
	var recheck <-chan time.Time
	if every > 0 {
		t := time.NewTicker(every)
		defer t.Stop()
		recheck = t.C
	}
	var last snapshot
	reason, judged := "not evaluated", false
	for {
		s, err := k.snapshot(ctx)
		if err == nil {
			last, judged = s, true
			ok, failed, why := eval(s)
			if ok {
				return nil
			}
			reason = why
			pw.Update(why)
			if failed && !s.unsettled {
				return &CheckError{Check: check, Node: n, Prefix: prefix, Reason: reason, Waited: time.Since(start), Router: last.String()}
			}
		} else if ctx.Err() == nil && !(judged && cutShort(err)) {
			// A read cut by the wait's own deadline (gRPC may say so a
			// moment before ctx does) keeps the last verdict as the reason.
			reason = err.Error()
			pw.Update("reading the router: " + reason)
		}
		select {
		case <-ctx.Done():
			return &CheckError{Check: check, Node: n, Prefix: prefix, Reason: reason, Waited: time.Since(start), Router: last.String()}
		case <-tick:
		case <-recheck:
		case _, open := <-events:
			if !open && ctx.Err() == nil && !pastDeadline(ctx) {
				return &CheckError{Check: check, Node: n, Prefix: prefix, Reason: "event watch ended: " + reason, Waited: time.Since(start), Router: last.String()}
			}
			if !open {
				events = nil // ended by the deadline: ctx.Done ends the wait
			}
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
// /32 host route learned from every one of the nodes, each with itself as
// next hop (with no node given: from any peer). The failure names each
// node that does not advertise it.
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
			if ok, reason := learned(s, n, prefix); !ok {
				why = append(why, n.String()+": "+reason)
			}
		}
		if len(why) > 0 {
			return false, fmt.Sprintf("%d of %d nodes do not advertise it: %s", len(why), len(from), strings.Join(why, "; "))
		}
		return true, ""
	})
}

// PrefixWithdrawn passes once the router has no route for the prefix from
// the node (stale ones included) while the node's session stays
// established: a withdrawal is the node saying so, not its session
// dropping (that is PeerDown, and RoutesFlushed).
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
		p, ok := s.peer(n.Address)
		if !ok {
			return false, "no session from " + n.Address + ": the prefix is gone with the session, which is not a withdrawal"
		}
		if !p.Established() {
			return false, "session is " + p.State + ": the prefix is gone with the session, which is not a withdrawal"
		}
		return true, ""
	})
}

// RoutesRetained passes while the node's session is down and the router
// still holds every prefix from it (marked stale): graceful-restart helper
// mode. It fails if the routes were dropped with the session. prefixes are
// the node's real blocks: at least one. It says nothing of what follows the
// restart: GracefulRestart checks retention, then re-advertisement.
func (k *Checker) RoutesRetained(ctx context.Context, n Node, prefixes ...string) error {
	if err := checkPrefixes(prefixes); err != nil {
		return fmt.Errorf("routes-retained: %s: %w", n, err)
	}
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
	if err := checkPrefixes(prefixes); err != nil {
		return fmt.Errorf("routes-flushed: %s: %w", n, err)
	}
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
// as next hop, no block overlaps a block of another node, and no peer
// other than the nodes announces a prefix in scope (a stranger announcing
// a node's block, or any pod-CIDR prefix, is named with the peer). With
// within (e.g. the pod CIDR), routes outside those prefixes, such as
// service addresses, are not counted.
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
	return k.waitOrFail(ctx, "exact-blocks", subject, "", func(s snapshot) (bool, bool, string) {
		var problems []string
		// hijack: a stranger's live session announces (fresh, not a stale
		// route kept for a restarting peer) a prefix overlapping a node's
		// block. No wait makes that right, and none is needed for the
		// nodes' own routes to settle: it fails at once.
		hijack := false
		type owned struct {
			node Node
			net  *net.IPNet
		}
		var all []owned
		isNode := map[string]Node{}
		for _, n := range nodes {
			isNode[n.Address] = n
		}
		for _, r := range s.routes {
			if r.Peer == "" || !inScope(r.Prefix) {
				continue
			}
			if _, ok := isNode[r.Peer]; ok {
				continue
			}
			msg := fmt.Sprintf("foreign peer %s (not one of the nodes) announces %s via %s", r.Peer, r.Prefix, r.NextHop)
			for _, n := range nodes {
				for _, b := range want[n] {
					if overlaps(b, r.Prefix) {
						msg += fmt.Sprintf(", which overlaps %s's block %s", n.Name, b)
						if p, ok := s.peer(r.Peer); ok && p.Established() && !r.Stale {
							hijack = true
						}
					}
				}
			}
			problems = append(problems, msg)
		}
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
			return false, hijack, strings.Join(problems, "; ")
		}
		return true, false, ""
	})
}

// OnlyPeers passes once every session the router has (in any state but
// idle or active, i.e. a peer that connected) is from one of the nodes;
// the failure names each unexpected peer and what it announces.
func (k *Checker) OnlyPeers(ctx context.Context, nodes ...Node) error {
	if len(nodes) == 0 {
		return &ConfigError{"nodes", "none", "name the nodes expected to peer with the router"}
	}
	known := map[string]bool{}
	for _, n := range nodes {
		known[n.Address] = true
	}
	return k.wait(ctx, "only-peers", Node{}, "", func(s snapshot) (bool, string) {
		var strangers []string
		for _, p := range s.peers {
			if known[p.Address] || p.State == "idle" || p.State == "active" || p.State == "" {
				continue
			}
			var pfx []string
			for _, r := range s.routes {
				if r.Peer == p.Address {
					pfx = append(pfx, r.Prefix)
				}
			}
			msg := "unexpected peer " + p.String()
			if len(pfx) > 0 {
				msg += " announcing " + strings.Join(pfx, ", ")
			}
			strangers = append(strangers, msg)
		}
		if len(strangers) > 0 {
			return false, strings.Join(strangers, "; ")
		}
		return true, ""
	})
}

// ReAdvertised passes once the node's session has been re-established
// since since (the restart) and the router holds every prefix from it
// fresh: present, not stale, with the node as next hop. With graceful
// restart the router keeps the old routes stale until the node sends them
// again, and drops those it does not send by its End-of-RIB, so a fresh
// route on a session newer than the restart is one the node sent again. A
// session older than the restart (the node never restarted, or the router
// missed it), a stale route or a missing one fails it.
func (k *Checker) ReAdvertised(ctx context.Context, n Node, since time.Time, prefixes ...string) error {
	if err := checkPrefixes(prefixes); err != nil {
		return fmt.Errorf("re-advertised: %s: %w", n, err)
	}
	return k.wait(ctx, "re-advertised", n, strings.Join(prefixes, ","), func(s snapshot) (bool, string) {
		return reAdvertised(s, n, since, prefixes)
	})
}

func reAdvertised(s snapshot, n Node, since time.Time, prefixes []string) (bool, string) {
	p, ok := s.peer(n.Address)
	if !ok {
		return false, "no session from " + n.Address + " since the restart"
	}
	if !p.Established() {
		return false, "session is " + p.State + " (not back since the restart)"
	}
	floor := since
	if p.Up.Nanosecond() == 0 { // an uptime in whole seconds
		floor = since.Truncate(time.Second)
	}
	if p.Up.IsZero() || p.Up.Before(floor) {
		return false, fmt.Sprintf("session established at %s, before the restart at %s: the node did not restart, or the router did not see it",
			p.Up.UTC().Format("15:04:05.000"), since.UTC().Format("15:04:05.000"))
	}
	have := map[string]Route{}
	for _, r := range s.from(n) {
		have[r.Prefix] = r
	}
	var why []string
	for _, pfx := range prefixes {
		r, ok := have[pfx]
		switch {
		case !ok:
			why = append(why, pfx+" missing")
		case r.Stale:
			why = append(why, pfx+" still stale (kept by graceful restart, not sent again)")
		case r.NextHop != n.Address:
			why = append(why, fmt.Sprintf("%s via %s, want %s", pfx, r.NextHop, n.Address))
		}
	}
	if len(why) > 0 {
		eor := "the node has sent no End-of-RIB on this session yet"
		if p.EndOfRIB {
			eor = "the node sent its End-of-RIB on this session"
		}
		return false, "session back, but not re-advertised: " + strings.Join(why, "; ") + " (" + eor + ")"
	}
	return true, ""
}

// GracefulRestart follows one restart of the node's BGP speaker (begun at
// restarted, e.g. when its agent pod was deleted) to the end: the session
// drops while the router keeps every one of blocks (the node's real blocks)
// as stale routes, none of them is lost while the session is down, and the
// session comes back with every block advertised again (fresh, received
// after restarted). A session that never drops, routes dropped with it or
// flushed before the node is back, and routes left stale after it is back
// each fail, naming the node and prefixes.
func (k *Checker) GracefulRestart(ctx context.Context, n Node, restarted time.Time, blocks ...string) error {
	if err := checkPrefixes(blocks); err != nil {
		return fmt.Errorf("graceful-restart: %s: %w", n, err)
	}
	var sawDown bool
	return k.waitOrFail(ctx, "graceful-restart", n, strings.Join(blocks, ","), func(s snapshot) (bool, bool, string) {
		p, ok := s.peer(n.Address)
		up := ok && p.Established()
		if !up {
			sawDown = true
			have := map[string]bool{}
			for _, r := range s.from(n) {
				have[r.Prefix] = true
			}
			var missing []string
			for _, b := range blocks {
				if !have[b] {
					missing = append(missing, b)
				}
			}
			if len(missing) > 0 {
				// For good: a route lost during the restart is a failure
				// even if the node later sends it again.
				return false, true, fmt.Sprintf("session down %s after the restart and routes not retained: missing %s",
					time.Since(restarted).Round(100*time.Millisecond), strings.Join(missing, ", "))
			}
			var fresh []string
			for _, r := range s.from(n) {
				if !r.Stale && slices.Contains(blocks, r.Prefix) {
					fresh = append(fresh, r.Prefix)
				}
			}
			if len(fresh) > 0 {
				return false, false, "session down, routes kept but not marked stale: " + strings.Join(fresh, ", ")
			}
			return false, false, "session down, routes retained (stale); waiting for the node to come back"
		}
		ok, why := reAdvertised(s, n, restarted, blocks)
		switch {
		case ok && sawDown:
			return true, false, ""
		case ok:
			return false, true, "the routes were sent again, but the session was never seen down: retention was not observed " +
				"(call GracefulRestart before the node's speaker stops)"
		case !sawDown:
			return false, false, "session still established (no restart seen yet): " + why
		}
		return false, false, why
	})
}

func overlaps(a, b string) bool {
	_, x, err1 := net.ParseCIDR(a)
	_, y, err2 := net.ParseCIDR(b)
	return err1 == nil && err2 == nil && (x.Contains(y.IP) || y.Contains(x.IP))
}

// checkPrefixes wants at least one prefix, each a network prefix.
func checkPrefixes(ps []string) error {
	if len(ps) == 0 {
		return &ConfigError{"prefixes", "none", "give the node's real blocks (a check of nothing passes for nothing)"}
	}
	for _, p := range ps {
		if err := checkPrefix(p); err != nil {
			return err
		}
	}
	return nil
}

func checkPrefix(p string) error {
	ip, ipn, err := net.ParseCIDR(p)
	if err != nil || ip.To4() == nil || !ip.Equal(ipn.IP) {
		return &ConfigError{"prefix", p, "use an IPv4 network prefix such as 10.85.1.0/24 (host bits zero)"}
	}
	return nil
}

// cutShort says err is a deadline or cancellation, of a context or of gRPC.
func cutShort(err error) bool {
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return true
	}
	c := status.Code(err)
	return c == codes.DeadlineExceeded || c == codes.Canceled
}

// pastDeadline says ctx's deadline has come, though ctx may not say so yet:
// a watch ended by that deadline is the wait's end, not a broken watch.
func pastDeadline(ctx context.Context) bool {
	dl, ok := ctx.Deadline()
	return ok && !time.Now().Before(dl)
}
