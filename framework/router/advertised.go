package router

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"
)

// AdvertisedBy passes once every node in nodes advertises prefix to the
// router with the right next hop: nextHop, or, when it is "", the node's own
// address (what Calico's keepOriginalNextHop and Cilium's per-node
// announcements give). Other peers may advertise it too (see
// AdvertisedByOnly). The failure names each node that does not advertise
// it, or does with another next hop.
func (k *Checker) AdvertisedBy(ctx context.Context, prefix string, nodes []Node, nextHop string) error {
	return k.advertisedBy(ctx, "advertised-by", prefix, nodes, nextHop, false)
}

// AdvertisedByOnly is AdvertisedBy, and no peer other than nodes advertises
// prefix (a cloud node, a node outside the advertisement's selector).
func (k *Checker) AdvertisedByOnly(ctx context.Context, prefix string, nodes []Node, nextHop string) error {
	return k.advertisedBy(ctx, "advertised-by-only", prefix, nodes, nextHop, true)
}

func (k *Checker) advertisedBy(ctx context.Context, check, prefix string, nodes []Node, nextHop string, only bool) error {
	if err := checkPrefix(prefix); err != nil {
		return err
	}
	if len(nodes) == 0 {
		return &ConfigError{"nodes", "none", "name the nodes that should advertise " + prefix}
	}
	subject := Node{}
	if len(nodes) == 1 {
		subject = nodes[0]
	}
	want := map[string]Node{}
	for _, n := range nodes {
		want[n.Address] = n
	}
	names := make([]string, len(nodes))
	for i, n := range nodes {
		names[i] = n.String()
	}
	what := "bgp " + check + ": prefix " + prefix + " from " + strings.Join(names, ", ")
	skew := k.AdvertiseSkew
	if skew == 0 {
		skew = DefaultAdvertiseSkew
	}
	// first: when the first of the nodes was seen advertising the prefix,
	// and by whom.
	var first time.Time
	var firstBy Node
	every := skew / 4
	if skew < 0 {
		every = 0
	}
	return k.waitEvery(ctx, what, check, subject, prefix, every, func(s snapshot) (bool, bool, string) {
		var why []string
		now := time.Now()
		if first.IsZero() {
			for _, n := range nodes {
				if advertisedFrom(s, n, prefix) != nil {
					first, firstBy = now, n
					break
				}
			}
		}
		lagging := false
		for _, n := range nodes {
			if r := advertisedFrom(s, n, prefix); r == nil {
				reason := "not advertised"
				if p, ok := s.peer(n.Address); !ok {
					reason += " (no session from " + n.Address + ")"
				} else if !p.Established() {
					reason += " (session " + p.State + ")"
				} else if since := laterOf(first, p.Up); skew > 0 && !first.IsZero() && now.Sub(since) > skew {
					// Its session was up all along while another node's
					// agent advertised the prefix: every agent watches the
					// same Services, so this one is not late, it does not
					// (or the router does not take it).
					lagging = true
					reason += fmt.Sprintf(" (session established; %s advertised it %s ago)", firstBy, now.Sub(first).Round(time.Second))
				}
				why = append(why, n.String()+": "+reason)
			} else if nh := wantNextHop(n, nextHop); r.NextHop != nh {
				why = append(why, fmt.Sprintf("%s: advertised with next hop %s, want %s", n, r.NextHop, nh))
			}
		}
		if only {
			var extra []string
			for _, r := range s.routes {
				if r.Prefix == prefix && r.Peer != "" {
					if _, ok := want[r.Peer]; !ok {
						extra = append(extra, r.String())
					}
				}
			}
			if len(extra) > 0 {
				sort.Strings(extra)
				why = append(why, "also advertised by peers that should not: "+strings.Join(extra, ", "))
			}
		}
		if len(why) > 0 {
			return false, lagging, strings.Join(why, "; ")
		}
		return true, false, ""
	})
}

// DefaultAdvertiseSkew is how long, once one of the nodes advertises a
// prefix, another node with an established session may take to advertise
// it too before the check fails for good. Agents react to the same Service
// event within seconds of each other (kube-router, Cilium), so a minute is
// a wide margin on a loaded 2-core machine; without a node advertising it
// the check waits its whole timeout.
const DefaultAdvertiseSkew = time.Minute

// laterOf is the later of two times (a zero one counts as earliest).
func laterOf(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// WithdrawnByAll passes once no peer advertises prefix any more (stale
// routes included): a deleted service's address has left every node.
func (k *Checker) WithdrawnByAll(ctx context.Context, prefix string) error {
	if err := checkPrefix(prefix); err != nil {
		return err
	}
	return k.wait(ctx, "withdrawn-by-all", Node{}, prefix, func(s snapshot) (bool, string) {
		var still []string
		for _, r := range s.routes {
			if r.Prefix == prefix && r.Peer != "" {
				still = append(still, r.String())
			}
		}
		if len(still) > 0 {
			return false, "still advertised: " + strings.Join(still, ", ")
		}
		return true, ""
	})
}

// advertisedFrom is node n's route for prefix, nil if it has none.
func advertisedFrom(s snapshot, n Node, prefix string) *Route {
	for i, r := range s.routes {
		if r.Prefix == prefix && r.Peer == n.Address {
			return &s.routes[i]
		}
	}
	return nil
}

func wantNextHop(n Node, nextHop string) string {
	if nextHop == "" {
		return n.Address
	}
	return nextHop
}
