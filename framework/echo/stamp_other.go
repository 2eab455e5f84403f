//go:build !linux

package echo

import (
	"net"
	"net/netip"
	"time"
)

// StampReceives is Linux only: elsewhere reads carry the read's time.
func StampReceives(c *net.UDPConn) bool { return false }

// Arrival: see the Linux version; here At is the time of the read.
type Arrival struct {
	At      time.Time
	Stamped bool
	Drops   uint32
	Counted bool
}

// ReadStamped reads one datagram; its Arrival is the time of the read.
func ReadStamped(c *net.UDPConn, buf, oob []byte) (int, netip.AddrPort, Arrival, error) {
	n, peer, err := c.ReadFromUDPAddrPort(buf)
	return n, peer, Arrival{At: time.Now()}, err
}

// OOBSize is the control buffer ReadStamped needs.
const OOBSize = 128

// ProbeReceiveBuffer: see the Linux version.
const ProbeReceiveBuffer = 8 << 20

// GrowReceiveBuffer asks for a receive buffer of size bytes and returns 0.
func GrowReceiveBuffer(c *net.UDPConn, size int) int {
	_ = c.SetReadBuffer(size)
	return 0
}
