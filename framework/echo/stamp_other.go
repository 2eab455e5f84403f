//go:build !linux

package echo

import (
	"net"
	"net/netip"
	"time"
)

// StampReceives is Linux only: elsewhere reads carry the read's time.
func StampReceives(c *net.UDPConn) bool { return false }

// ReadStamped reads one datagram; its Arrival is the time of the read.
func ReadStamped(c *net.UDPConn, buf, oob []byte) (int, netip.AddrPort, Arrival, error) {
	n, peer, err := c.ReadFromUDPAddrPort(buf)
	return n, peer, Arrival{At: time.Now()}, err
}

// GrowReceiveBuffer asks for a receive buffer of size bytes and returns 0.
func GrowReceiveBuffer(c *net.UDPConn, size int) int {
	_ = c.SetReadBuffer(size)
	return 0
}
