package echo

import "time"

// Arrival is when a datagram reached the socket: the kernel's stamp when
// StampReceives is on (Stamped), else the time of the read. Drops is how
// many datagrams the socket had dropped by then (Counted: the kernel says).
type Arrival struct {
	At      time.Time
	Stamped bool
	Drops   uint32
	Counted bool
}

// OOBSize is the control buffer ReadStamped needs.
const OOBSize = 128

// ProbeReceiveBuffer is the receive buffer the echo and the meter ask for:
// several seconds of every pair's probes, so a process the machine starves
// for a while answers late instead of dropping what the network delivered.
const ProbeReceiveBuffer = 8 << 20
