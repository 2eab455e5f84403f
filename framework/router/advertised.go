package router

import (
	"context"
	"fmt"
	"sort"
	"strings"
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
	return k.waitAs(ctx, what, check, subject, prefix, func(s snapshot) (bool, bool, string) {
		var why []string
		for _, n := range nodes {
			if r := advertisedFrom(s, n, prefix); r == nil {
				reason := "not advertised"
				if p, ok := s.peer(n.Address); !ok {
					reason += " (no session from " + n.Address + ")"
				} else if !p.Established() {
					reason += " (session " + p.State + ")"
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
			return false, false, strings.Join(why, "; ")
		}
		return true, false, ""
	})
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
