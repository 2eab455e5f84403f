package lab

import (
	"fmt"
	"net"

	"github.com/vishvananda/netlink"
)

// VXLAN is a point-to-point VXLAN device: an overlay tunnel to one remote
// VTEP over the underlay interface Dev.
type VXLAN struct {
	Name string
	// VNI is the VXLAN network identifier (1-16777215).
	VNI int
	// Local and Remote are the underlay (VTEP) addresses.
	Local, Remote string
	// Dev is the underlay interface.
	Dev string
	// Port is the UDP port (default 4789, the IANA port).
	Port int
	// Addrs are overlay addresses (CIDR) for the device.
	Addrs []string
}

// AddVXLAN creates the VXLAN device, adds its addresses and brings it up.
func (n *NS) AddVXLAN(v VXLAN) error {
	if v.Name == "" || len(v.Name) > maxIfName {
		return fmt.Errorf("lab: vxlan Name %q: interface names are 1-%d characters", v.Name, maxIfName)
	}
	if v.VNI < 1 || v.VNI > 1<<24-1 {
		return fmt.Errorf("lab: vxlan %s: VNI %d: use 1-16777215", v.Name, v.VNI)
	}
	local, remote := net.ParseIP(v.Local).To4(), net.ParseIP(v.Remote).To4()
	if local == nil || remote == nil {
		return fmt.Errorf("lab: vxlan %s: Local %q and Remote %q must be IPv4 underlay addresses", v.Name, v.Local, v.Remote)
	}
	for _, a := range v.Addrs {
		if _, err := netlink.ParseAddr(a); err != nil {
			return fmt.Errorf("lab: vxlan %s: Addrs %q: want CIDR like 10.0.0.1/24", v.Name, a)
		}
	}
	if v.Port == 0 {
		v.Port = 4789
	}
	dev, err := n.link(v.Dev)
	if err != nil {
		return fmt.Errorf("lab: vxlan %s: Dev: %w", v.Name, err)
	}
	link := &netlink.Vxlan{
		LinkAttrs:    netlink.LinkAttrs{Name: v.Name},
		VxlanId:      v.VNI,
		VtepDevIndex: dev.Attrs().Index,
		SrcAddr:      local,
		Group:        remote, // a unicast "group" is the remote VTEP
		Port:         v.Port,
		Learning:     true,
	}
	if err := n.nl.LinkAdd(link); err != nil {
		return fmt.Errorf("lab: %s: add vxlan %s: %w", n.Short, v.Name, err)
	}
	for _, a := range v.Addrs {
		if err := n.AddAddr(v.Name, a); err != nil {
			return err
		}
	}
	return n.SetLinkUp(v.Name, true)
}
