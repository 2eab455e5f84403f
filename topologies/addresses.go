package topologies

import (
	"fmt"
	"net/netip"

	"github.com/hybridcni/hybridcni/framework/config"
)

// Addresses is the address plan of the on-prem node network.
type Addresses struct {
	// NodeCIDR is the Docker network standing in for the on-prem node network.
	NodeCIDR netip.Prefix
	// Gateway is the Docker bridge on the host.
	Gateway netip.Addr
	// NodePool is the lower half of the node CIDR, where Docker places kind nodes.
	NodePool netip.Prefix
	// Router and OnPremHost sit in the upper half, at fixed addresses.
	Router     netip.Addr
	OnPremHost netip.Addr
}

// PlanAddresses lays out a validated run's node network: kind nodes take
// addresses from the lower half, the router and on-prem host fixed ones in the
// upper half, so Docker can never hand a node the router's address.
func PlanAddresses(r config.Run) (Addresses, error) {
	node, err := netip.ParsePrefix(r.Network.NodeCIDR)
	if err != nil || node.Bits() > 28 {
		return Addresses{}, config.Invalid("network.nodeCIDR", fmt.Sprintf("%q is too small for a topology", r.Network.NodeCIDR),
			"use a /28 or larger node CIDR")
	}
	router, err := netip.ParseAddr(r.BGP.RouterAddress)
	if err != nil {
		return Addresses{}, config.Invalid("bgp.routerAddress", fmt.Sprintf("%q is not an address", r.BGP.RouterAddress), "write an IPv4 address")
	}
	pool := netip.PrefixFrom(node.Addr(), node.Bits()+1)
	a := Addresses{NodeCIDR: node, Gateway: node.Addr().Next(), NodePool: pool, Router: router}
	if pool.Contains(router) || !node.Contains(router) {
		upper := lastAddr(node).Prev()
		return Addresses{}, config.Invalid("bgp.routerAddress",
			fmt.Sprintf("%s is inside %s, the range Docker assigns kind nodes from", router, pool),
			fmt.Sprintf("pick an address in the upper half of %s, e.g. %s (the default)", node, upper))
	}
	a.OnPremHost = router.Prev()
	if pool.Contains(a.OnPremHost) {
		a.OnPremHost = router.Next()
	}
	if a.OnPremHost == lastAddr(node) {
		return Addresses{}, config.Invalid("bgp.routerAddress", fmt.Sprintf("%s leaves no room for the on-prem host", router),
			"pick an address with a free neighbour in the upper half of the node CIDR")
	}
	// Network address, gateway and the pool's last address are not handed out.
	if room := (1 << (32 - pool.Bits())) - 3; 1+r.Nodes.Hybrid+r.Nodes.Cloud > room {
		return Addresses{}, config.Invalid("network.nodeCIDR",
			fmt.Sprintf("%s leaves %d node addresses in %s, the cluster has %d nodes", node, room, pool, 1+r.Nodes.Hybrid+r.Nodes.Cloud),
			"use a larger node CIDR or fewer nodes")
	}
	return a, nil
}

func lastAddr(p netip.Prefix) netip.Addr {
	b := p.Masked().Addr().As4()
	v := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
	v |= uint32(1)<<(32-p.Bits()) - 1
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
}
