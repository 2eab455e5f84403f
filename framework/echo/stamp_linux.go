package echo

import (
	"encoding/binary"
	"net"
	"net/netip"
	"syscall"
	"time"
)

// StampReceives asks the kernel to stamp each datagram c receives with
// its arrival time, so a busy process reading late does not move it.
func StampReceives(c *net.UDPConn) bool {
	rc, err := c.SyscallConn()
	if err != nil {
		return false
	}
	var serr error
	if err := rc.Control(func(fd uintptr) {
		serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_TIMESTAMPNS, 1)
	}); err != nil || serr != nil {
		return false
	}
	return true
}

// ReadStamped reads one datagram and the time it reached the socket: the
// kernel's stamp when StampReceives is on, else the time of the read.
// stamped says which.
func ReadStamped(c *net.UDPConn, buf, oob []byte) (n int, peer netip.AddrPort, at time.Time, stamped bool, err error) {
	n, oobn, _, peer, err := c.ReadMsgUDPAddrPort(buf, oob)
	read := time.Now()
	if err != nil {
		return n, peer, read, false, err
	}
	if at, ok := kernelStamp(oob[:oobn]); ok && !at.After(read) {
		return n, peer, at, true, nil
	}
	return n, peer, read, false, nil
}

// OOBSize is the control buffer ReadStamped needs.
const OOBSize = 64

func kernelStamp(oob []byte) (time.Time, bool) {
	msgs, err := syscall.ParseSocketControlMessage(oob)
	if err != nil {
		return time.Time{}, false
	}
	for _, m := range msgs {
		if m.Header.Level == syscall.SOL_SOCKET && m.Header.Type == syscall.SCM_TIMESTAMPNS && len(m.Data) >= 16 {
			sec := int64(binary.NativeEndian.Uint64(m.Data[0:8]))
			nsec := int64(binary.NativeEndian.Uint64(m.Data[8:16]))
			return time.Unix(sec, nsec), true
		}
	}
	return time.Time{}, false
}
