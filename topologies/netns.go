package topologies

import (
	"fmt"
	"net"
	"net/netip"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/hybridcni/hybridcni/framework/lab"
)

// ContainerNet is a container's network namespace, reached from the host
// through its init process (/proc/PID/ns/net): our images are scratch
// images with no `ip` binary, and kind nodes need no exec either.
type ContainerNet struct {
	ns   *lab.NS
	name string
}

// OpenContainerNet opens the network namespace of the process pid.
func OpenContainerNet(name string, pid int) (*ContainerNet, error) {
	ns, err := lab.Open(fmt.Sprintf("/proc/%d/ns/net", pid))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return &ContainerNet{ns: ns, name: name}, nil
}

// Close releases the namespace handle (the namespace stays).
func (c *ContainerNet) Close() error { return c.ns.Close() }

// NS exposes the namespace for callers that run things inside it.
func (c *ContainerNet) NS() *lab.NS { return c.ns }

// RouteVia adds or replaces dst via gw; with src set, the route carries a
// preferred source address.
func (c *ContainerNet) RouteVia(dst netip.Prefix, gw, src netip.Addr) error {
	r := &netlink.Route{Dst: ipNet(dst), Gw: net.IP(gw.AsSlice()), Protocol: unix.RTPROT_STATIC}
	if src.IsValid() {
		r.Src = net.IP(src.AsSlice())
	}
	return c.do("route "+dst.String()+" via "+gw.String(), func() error { return netlink.RouteReplace(r) })
}

// RouteOnLink adds or replaces dst straight out of dev (no gateway), with
// an optional preferred source address.
func (c *ContainerNet) RouteOnLink(dst netip.Prefix, dev string, src netip.Addr) error {
	return c.do("route "+dst.String()+" dev "+dev, func() error {
		l, err := netlink.LinkByName(dev)
		if err != nil {
			return err
		}
		r := &netlink.Route{Dst: ipNet(dst), LinkIndex: l.Attrs().Index, Scope: netlink.SCOPE_LINK, Protocol: unix.RTPROT_STATIC}
		if src.IsValid() {
			r.Src = net.IP(src.AsSlice())
		}
		return netlink.RouteReplace(r)
	})
}

// Unreachable installs "unreachable dst" with a high metric: more specific
// routes (learned by BGP) win, and anything else in dst is refused here with
// an ICMP error instead of following the default route off the machine.
func (c *ContainerNet) Unreachable(dst netip.Prefix) error {
	r := &netlink.Route{Dst: ipNet(dst), Type: unix.RTN_UNREACHABLE, Priority: 4000, Protocol: unix.RTPROT_STATIC}
	return c.do("unreachable "+dst.String(), func() error { return netlink.RouteReplace(r) })
}

// AddAddr puts an address on a link (e.g. a pod address on lo).
func (c *ContainerNet) AddAddr(dev string, p netip.Prefix) error {
	return c.do("address "+p.String()+" on "+dev, func() error {
		l, err := netlink.LinkByName(dev)
		if err != nil {
			return err
		}
		return netlink.AddrReplace(l, &netlink.Addr{IPNet: &net.IPNet{IP: net.IP(p.Addr().AsSlice()), Mask: net.CIDRMask(p.Bits(), 32)}})
	})
}

// NoRedirects stops ICMP redirects both ways on all links and dev: a router
// that redirects would let hosts bypass it, hiding whether routing through
// it works.
func (c *ContainerNet) NoRedirects(dev string) error {
	for _, conf := range []string{"all", dev} {
		for _, key := range []string{"send_redirects", "accept_redirects"} {
			if err := c.ns.Sysctl("net.ipv4.conf."+conf+"."+key, "0"); err != nil {
				return fmt.Errorf("%s: %w", c.name, err)
			}
		}
	}
	return nil
}

func (c *ContainerNet) do(what string, fn func() error) error {
	if err := c.ns.Do(fn); err != nil {
		return fmt.Errorf("%s: %s: %w", c.name, what, err)
	}
	return nil
}

func ipNet(p netip.Prefix) *net.IPNet {
	p = p.Masked()
	return &net.IPNet{IP: net.IP(p.Addr().AsSlice()), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}
}
