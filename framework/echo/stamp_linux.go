package echo

import (
	"encoding/binary"
	"net"
	"net/netip"
	"syscall"
	"time"
)

// StampReceives asks the kernel to stamp each datagram c receives with
// its arrival time, so a busy process reading late does not move it, and
// to say how many datagrams the socket has dropped (a full receive buffer
// while the process was busy). It reports whether the stamps are on.
func StampReceives(c *net.UDPConn) bool {
	rc, err := c.SyscallConn()
	if err != nil {
		return false
	}
	var serr error
	if err := rc.Control(func(fd uintptr) {
		serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_TIMESTAMPNS, 1)
		if serr == nil {
			serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RXQ_OVFL, 1)
		}
	}); err != nil || serr != nil {
		return false
	}
	return true
}

// ReadStamped reads one datagram and its Arrival.
func ReadStamped(c *net.UDPConn, buf, oob []byte) (int, netip.AddrPort, Arrival, error) {
	n, oobn, _, peer, err := c.ReadMsgUDPAddrPort(buf, oob)
	a := Arrival{At: time.Now()}
	if err != nil {
		return n, peer, a, err
	}
	msgs, perr := syscall.ParseSocketControlMessage(oob[:oobn])
	if perr != nil {
		return n, peer, a, nil
	}
	for _, m := range msgs {
		if m.Header.Level != syscall.SOL_SOCKET {
			continue
		}
		switch {
		case m.Header.Type == syscall.SCM_TIMESTAMPNS && len(m.Data) >= 16:
			at := time.Unix(int64(binary.NativeEndian.Uint64(m.Data[0:8])), int64(binary.NativeEndian.Uint64(m.Data[8:16])))
			if !at.After(a.At) {
				a.At, a.Stamped = at, true
			}
		case m.Header.Type == syscall.SO_RXQ_OVFL && len(m.Data) >= 4:
			a.Drops = binary.NativeEndian.Uint32(m.Data[0:4])
		}
	}
	// With the option on, the kernel sends the count only once it is not 0.
	a.Counted = a.Stamped
	return n, peer, a, nil
}

// GrowReceiveBuffer asks for a receive buffer of size bytes: past
// net.core.rmem_max with CAP_NET_ADMIN (SO_RCVBUFFORCE), else up to it.
// It returns the size the kernel granted (0 when it does not say).
func GrowReceiveBuffer(c *net.UDPConn, size int) int {
	rc, err := c.SyscallConn()
	if err != nil {
		return 0
	}
	got := 0
	_ = rc.Control(func(fd uintptr) {
		if syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUFFORCE, size) != nil {
			_ = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, size)
		}
		got, _ = syscall.GetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF)
	})
	return got
}
