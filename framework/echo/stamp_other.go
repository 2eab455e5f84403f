//go:build !linux

package echo

import (
	"net"
	"net/netip"
	"time"
)

// StampReceives is Linux only: elsewhere reads carry the read's time.
func StampReceives(c *net.UDPConn) bool { return false }

// ReadStamped reads one datagram; at is the time of the read.
func ReadStamped(c *net.UDPConn, buf, oob []byte) (n int, peer netip.AddrPort, at time.Time, stamped bool, err error) {
	n, peer, err = c.ReadFromUDPAddrPort(buf)
	return n, peer, time.Now(), false, err
}

// OOBSize is the control buffer ReadStamped needs.
const OOBSize = 64
