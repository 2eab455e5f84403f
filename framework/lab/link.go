package lab

import (
	"errors"
	"fmt"
	"net"
	"sync"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// maxIfName is the kernel's limit on interface names (IFNAMSIZ-1).
const maxIfName = 15

// End is one end of a veth pair: the namespace, the interface name inside
// it, and optional addresses in CIDR form ("10.0.0.1/24").
type End struct {
	NS    *NS
	Name  string
	Addrs []string
}

func (e End) validate(field string) error {
	if e.NS == nil {
		return fmt.Errorf("lab: %s.NS is nil: pass the namespace the interface goes into", field)
	}
	if e.Name == "" || len(e.Name) > maxIfName {
		return fmt.Errorf("lab: %s.Name %q: interface names are 1-%d characters", field, e.Name, maxIfName)
	}
	for _, a := range e.Addrs {
		if _, err := netlink.ParseAddr(a); err != nil {
			return fmt.Errorf("lab: %s.Addrs %q: want CIDR like 10.0.0.1/24", field, a)
		}
	}
	return nil
}

// Veth creates a veth pair directly between two namespaces (never touching
// the host namespace), adds the addresses and brings both ends up.
func Veth(a, b End) error {
	if err := a.validate("a"); err != nil {
		return err
	}
	if err := b.validate("b"); err != nil {
		return err
	}
	v := &netlink.Veth{
		LinkAttrs:     netlink.LinkAttrs{Name: a.Name},
		PeerName:      b.Name,
		PeerNamespace: netlink.NsFd(int(b.NS.handle)),
	}
	if err := a.NS.nl.LinkAdd(v); err != nil {
		return fmt.Errorf("lab: veth %s/%s <-> %s/%s: %w", a.NS.Short, a.Name, b.NS.Short, b.Name, err)
	}
	for _, e := range []End{a, b} {
		for _, addr := range e.Addrs {
			if err := e.NS.AddAddr(e.Name, addr); err != nil {
				return err
			}
		}
		if err := e.NS.SetLinkUp(e.Name, true); err != nil {
			return err
		}
	}
	return nil
}

// AddAddr adds an address (CIDR) to a link in the namespace.
func (n *NS) AddAddr(link, cidr string) error {
	l, err := n.link(link)
	if err != nil {
		return err
	}
	a, err := netlink.ParseAddr(cidr)
	if err != nil {
		return fmt.Errorf("lab: %s: address %q: want CIDR like 10.0.0.1/24", n.Short, cidr)
	}
	if err := n.nl.AddrAdd(l, a); err != nil {
		return fmt.Errorf("lab: %s: add %s to %s: %w", n.Short, cidr, link, err)
	}
	return nil
}

// SetLinkUp brings a link up (true) or down (false).
func (n *NS) SetLinkUp(link string, up bool) error {
	l, err := n.link(link)
	if err != nil {
		return err
	}
	if up {
		err = n.nl.LinkSetUp(l)
	} else {
		err = n.nl.LinkSetDown(l)
	}
	if err != nil {
		return fmt.Errorf("lab: %s: set %s up=%v: %w", n.Short, link, up, err)
	}
	return nil
}

// DeleteLink deletes a link (for a veth, both ends go).
func (n *NS) DeleteLink(link string) error {
	l, err := n.link(link)
	if err != nil {
		return err
	}
	return n.nl.LinkDel(l)
}

// HasLink reports whether the namespace has a link with that name.
func (n *NS) HasLink(link string) bool {
	_, err := n.nl.LinkByName(link)
	return err == nil
}

func (n *NS) link(name string) (netlink.Link, error) {
	l, err := n.nl.LinkByName(name)
	if err != nil {
		return nil, fmt.Errorf("lab: %s: no link %q: %w", n.Short, name, err)
	}
	return l, nil
}

// Bridge is a Linux bridge inside a namespace.
type Bridge struct {
	NS   *NS
	Name string

	mu    sync.Mutex
	ports int
}

// AddBridge creates a bridge in the namespace, brings it up and adds the
// optional addresses (CIDR) to it.
func (n *NS) AddBridge(name string, addrs ...string) (*Bridge, error) {
	if name == "" || len(name) > maxIfName {
		return nil, fmt.Errorf("lab: bridge name %q: interface names are 1-%d characters", name, maxIfName)
	}
	if err := n.nl.LinkAdd(&netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: name}}); err != nil {
		return nil, fmt.Errorf("lab: %s: add bridge %s: %w", n.Short, name, err)
	}
	for _, a := range addrs {
		if err := n.AddAddr(name, a); err != nil {
			return nil, err
		}
	}
	if err := n.SetLinkUp(name, true); err != nil {
		return nil, err
	}
	return &Bridge{NS: n, Name: name}, nil
}

// Attach connects peer to the bridge with a veth pair: peer.Name (with
// peer.Addrs) in peer.NS, and a bridge port in the bridge's namespace. It
// returns the bridge port's name ("<bridge>-p<N>", or portName if given).
func (b *Bridge) Attach(peer End, portName ...string) (string, error) {
	b.mu.Lock()
	b.ports++
	port := fmt.Sprintf("%.10s-p%d", b.Name, b.ports)
	b.mu.Unlock()
	if len(portName) > 0 && portName[0] != "" {
		port = portName[0]
	}
	if err := Veth(End{NS: b.NS, Name: port}, peer); err != nil {
		return "", err
	}
	br, err := b.NS.link(b.Name)
	if err != nil {
		return "", err
	}
	pl, err := b.NS.link(port)
	if err != nil {
		return "", err
	}
	if err := b.NS.nl.LinkSetMaster(pl, br); err != nil {
		return "", fmt.Errorf("lab: %s: attach %s to bridge %s: %w", b.NS.Short, port, b.Name, err)
	}
	return port, nil
}

// Route is a kernel IPv4/IPv6 route as the lab sees it.
type Route struct {
	// Dst is the destination prefix ("10.1.0.0/24"); "default" for 0.0.0.0/0.
	Dst string
	// Gw is the next hop address; empty for a connected route.
	Gw string
	// Dev is the output interface; optional when Gw is reachable.
	Dev string
	// Protocol is the routing protocol number (unix.RTPROT_*); 0 means static.
	Protocol int
}

func (r Route) String() string {
	s := r.Dst
	if r.Gw != "" {
		s += " via " + r.Gw
	}
	if r.Dev != "" {
		s += " dev " + r.Dev
	}
	if r.Protocol != 0 {
		s += fmt.Sprintf(" proto %d", r.Protocol)
	}
	return s
}

func (n *NS) toNetlink(r Route) (*netlink.Route, error) {
	nr := &netlink.Route{Protocol: netlink.RouteProtocol(r.Protocol)}
	if nr.Protocol == 0 {
		nr.Protocol = unix.RTPROT_STATIC
	}
	if r.Dst == "default" || r.Dst == "" {
		_, nr.Dst, _ = net.ParseCIDR("0.0.0.0/0")
	} else {
		_, dst, err := net.ParseCIDR(r.Dst)
		if err != nil {
			return nil, fmt.Errorf("lab: route Dst %q: want a prefix like 10.1.0.0/24 or \"default\"", r.Dst)
		}
		nr.Dst = dst
	}
	if r.Gw != "" {
		if nr.Gw = net.ParseIP(r.Gw); nr.Gw == nil {
			return nil, fmt.Errorf("lab: route Gw %q: want an IP address", r.Gw)
		}
	}
	if r.Dev != "" {
		l, err := n.link(r.Dev)
		if err != nil {
			return nil, err
		}
		nr.LinkIndex = l.Attrs().Index
	}
	if nr.Gw == nil && nr.LinkIndex == 0 {
		return nil, fmt.Errorf("lab: route %s: set Gw or Dev", r.Dst)
	}
	return nr, nil
}

// AddRoute adds a route; ReplaceRoute adds or replaces it.
func (n *NS) AddRoute(r Route) error {
	nr, err := n.toNetlink(r)
	if err != nil {
		return err
	}
	if err := n.nl.RouteAdd(nr); err != nil {
		return fmt.Errorf("lab: %s: add route %s: %w", n.Short, r, err)
	}
	return nil
}

// ReplaceRoute adds the route, replacing one to the same destination.
func (n *NS) ReplaceRoute(r Route) error {
	nr, err := n.toNetlink(r)
	if err != nil {
		return err
	}
	if err := n.nl.RouteReplace(nr); err != nil {
		return fmt.Errorf("lab: %s: replace route %s: %w", n.Short, r, err)
	}
	return nil
}

// DeleteRoute deletes the route to r.Dst (Gw/Dev/Protocol narrow the match
// when set). A route that is already gone is not an error.
func (n *NS) DeleteRoute(r Route) error {
	_, dst, err := net.ParseCIDR(r.Dst)
	if r.Dst == "default" {
		_, dst, err = net.ParseCIDR("0.0.0.0/0")
	}
	if err != nil {
		return fmt.Errorf("lab: route Dst %q: want a prefix like 10.1.0.0/24", r.Dst)
	}
	nr := &netlink.Route{Dst: dst, Protocol: netlink.RouteProtocol(r.Protocol)}
	if r.Gw != "" {
		nr.Gw = net.ParseIP(r.Gw)
	}
	if err := n.nl.RouteDel(nr); err != nil && !errors.Is(err, unix.ESRCH) {
		return fmt.Errorf("lab: %s: delete route %s: %w", n.Short, r, err)
	}
	return nil
}

// Routes lists the IPv4 routes of the main table; with protocol > 0 only
// routes of that protocol.
func (n *NS) Routes(protocol int) ([]Route, error) {
	filter := &netlink.Route{Table: unix.RT_TABLE_MAIN}
	mask := uint64(netlink.RT_FILTER_TABLE)
	if protocol > 0 {
		filter.Protocol = netlink.RouteProtocol(protocol)
		mask |= netlink.RT_FILTER_PROTOCOL
	}
	rs, err := n.nl.RouteListFiltered(netlink.FAMILY_V4, filter, mask)
	if err != nil {
		return nil, fmt.Errorf("lab: %s: list routes: %w", n.Short, err)
	}
	out := make([]Route, 0, len(rs))
	names := map[int]string{}
	for _, r := range rs {
		o := Route{Dst: "default", Protocol: int(r.Protocol)}
		if r.Dst != nil && r.Dst.String() != "0.0.0.0/0" {
			o.Dst = r.Dst.String()
		}
		if r.Gw != nil {
			o.Gw = r.Gw.String()
		}
		name, ok := names[r.LinkIndex]
		if !ok {
			if l, err := n.nl.LinkByIndex(r.LinkIndex); err == nil {
				name = l.Attrs().Name
			}
			names[r.LinkIndex] = name
		}
		o.Dev = name
		out = append(out, o)
	}
	return out, nil
}
