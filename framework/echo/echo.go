// Package echo is the harness's echo server: the target every dataplane probe
// talks to. It tells the client what it saw, so probes can assert the exact
// source address after any NAT on the way:
//
//   - HTTP GET /clientip answers "IP:port" of the peer as seen (the agnhost
//     convention), GET /hostname the server's name, GET /healthz "ok";
//   - UDP: any datagram is answered with the peer's "IP:port", except
//     sequence-numbered disruption datagrams (see Seq), which come back as
//     sent plus how long this process held them and how many datagrams its
//     socket dropped (see EncodeReply);
//   - TCP (optional port): the disruption endpoint, echoing Seq frames.
//
// Listen opens every socket first (so a caller can do it inside a network
// namespace), then Serve answers until its context ends.
package echo

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/hybridcni/hybridcni/framework/config"
)

// Default ports.
const (
	DefaultHTTPPort = 8080
	DefaultUDPPort  = 9000
)

// Seq frames: magic, 8-byte big-endian sequence number, 8-byte send time
// (unix ns). The server returns the frame unchanged.
const (
	SeqMagic    = "HCSQ"
	SeqLen      = 4 + 8 + 8
	maxDatagram = 2048
)

// EncodeSeq builds a disruption frame.
func EncodeSeq(seq uint64, sent time.Time) []byte {
	b := make([]byte, SeqLen)
	copy(b, SeqMagic)
	binary.BigEndian.PutUint64(b[4:], seq)
	binary.BigEndian.PutUint64(b[12:], uint64(sent.UnixNano()))
	return b
}

// DecodeSeq parses a disruption frame; ok is false for anything else.
func DecodeSeq(b []byte) (seq uint64, sent time.Time, ok bool) {
	if len(b) != SeqLen || string(b[:4]) != SeqMagic {
		return 0, time.Time{}, false
	}
	return binary.BigEndian.Uint64(b[4:]), time.Unix(0, int64(binary.BigEndian.Uint64(b[12:]))), true
}

// ReplyLen is a UDP disruption reply: the frame, then 8 bytes of how long
// the echo held it (ns, from its kernel's arrival stamp to the reply) and
// 4 of how many datagrams the echo's socket had dropped by then.
const ReplyLen = SeqLen + 8 + 4

// Reply is a decoded UDP disruption reply.
type Reply struct {
	Seq  uint64
	Sent time.Time
	// Held is how long the echo process held the probe.
	Held time.Duration
	// Drops counts the datagrams the echo's socket had dropped (a full
	// receive buffer, for all its clients) when it replied.
	Drops uint32
}

// EncodeReply appends the time the echo held frame and its socket's drops.
func EncodeReply(frame []byte, held time.Duration, drops uint32) []byte {
	b := make([]byte, ReplyLen)
	copy(b, frame)
	binary.BigEndian.PutUint64(b[SeqLen:], uint64(max(held, 0)))
	binary.BigEndian.PutUint32(b[SeqLen+8:], drops)
	return b
}

// DecodeReply parses a UDP disruption reply. A bare frame (an echo that
// does not say) held 0 and dropped nothing.
func DecodeReply(b []byte) (Reply, bool) {
	var r Reply
	var ok bool
	switch len(b) {
	case SeqLen:
		r.Seq, r.Sent, ok = DecodeSeq(b)
	case ReplyLen:
		r.Seq, r.Sent, ok = DecodeSeq(b[:SeqLen])
		r.Held = time.Duration(binary.BigEndian.Uint64(b[SeqLen:]))
		r.Drops = binary.BigEndian.Uint32(b[SeqLen+8:])
	}
	if !ok {
		return Reply{}, false
	}
	return r, true
}

// Config says where the server listens.
type Config struct {
	// Address to bind (empty: all addresses).
	Address string
	// HTTPPort serves /clientip, /hostname, /healthz (0: a free port; -1: off).
	HTTPPort int
	// UDPPort serves the UDP echo and UDP disruption frames (0: a free port; -1: off).
	UDPPort int
	// TCPPort serves the TCP disruption endpoint (-1 or 0: off).
	TCPPort int
	// Hostname answered on /hostname (default: os.Hostname()).
	Hostname string
	// UDPReceiveBuffer is the UDP socket's receive buffer to ask for
	// (bytes; 0: ProbeReceiveBuffer).
	UDPReceiveBuffer int
}

// Validate names the bad field and the fix (a *config.Error: the CLI exits 2).
func (c Config) Validate() error {
	for _, p := range []struct {
		name string
		v    int
	}{{"http-port", c.HTTPPort}, {"udp-port", c.UDPPort}, {"tcp-port", c.TCPPort}} {
		if p.v < -1 || p.v > 65535 {
			return config.Invalid(p.name, fmt.Sprintf("port %d is out of range", p.v), "use 1-65535 (0 picks a free port, -1 turns the listener off)")
		}
	}
	if c.HTTPPort < 0 && c.UDPPort < 0 && c.TCPPort <= 0 {
		return config.Invalid("http-port", "every listener is off", "set --http-port or --udp-port to a port")
	}
	if c.UDPReceiveBuffer < 0 {
		return config.Invalid("udp-receive-buffer", fmt.Sprintf("%d bytes", c.UDPReceiveBuffer), "give a size in bytes, or 0 for the default")
	}
	if c.Address != "" && net.ParseIP(c.Address) == nil {
		return config.Invalid("address", fmt.Sprintf("%q is not an IP address", c.Address), "give an IP address, or leave it empty to bind all")
	}
	return nil
}

// Server is a running echo server.
type Server struct {
	cfg     Config
	httpLn  net.Listener
	udpConn *net.UDPConn
	// udpBuffer is the UDP socket's receive buffer as granted (bytes).
	udpBuffer int
	tcpLn     net.Listener
	http      *http.Server
}

// Listen opens the sockets. Call it inside the network namespace the server
// belongs to; Serve may then run on any goroutine.
func Listen(cfg Config) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Hostname == "" {
		cfg.Hostname, _ = os.Hostname()
	}
	s := &Server{cfg: cfg}
	var err error
	if cfg.HTTPPort >= 0 {
		if s.httpLn, err = net.Listen("tcp", net.JoinHostPort(cfg.Address, strconv.Itoa(cfg.HTTPPort))); err != nil {
			return nil, fmt.Errorf("echo: listen http-port %d: %w", cfg.HTTPPort, err)
		}
	}
	if cfg.UDPPort >= 0 {
		addr := &net.UDPAddr{IP: net.ParseIP(cfg.Address), Port: cfg.UDPPort}
		if s.udpConn, err = net.ListenUDP("udp", addr); err != nil {
			s.close()
			return nil, fmt.Errorf("echo: listen udp-port %d: %w", cfg.UDPPort, err)
		}
		StampReceives(s.udpConn)
		size := cfg.UDPReceiveBuffer
		if size == 0 {
			size = ProbeReceiveBuffer
		}
		s.udpBuffer = GrowReceiveBuffer(s.udpConn, size)
	}
	if cfg.TCPPort > 0 {
		if s.tcpLn, err = net.Listen("tcp", net.JoinHostPort(cfg.Address, strconv.Itoa(cfg.TCPPort))); err != nil {
			s.close()
			return nil, fmt.Errorf("echo: listen tcp-port %d: %w", cfg.TCPPort, err)
		}
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /clientip", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, r.RemoteAddr) })
	mux.HandleFunc("GET /hostname", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, s.cfg.Hostname) })
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") })
	s.http = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	return s, nil
}

// HTTPAddr, UDPAddr and TCPAddr return the bound addresses (nil when off).
func (s *Server) HTTPAddr() net.Addr {
	if s.httpLn == nil {
		return nil
	}
	return s.httpLn.Addr()
}

// UDPReceiveBuffer is the UDP socket's receive buffer as the kernel
// granted it (bytes; 0 when off or not known).
func (s *Server) UDPReceiveBuffer() int { return s.udpBuffer }

func (s *Server) UDPAddr() net.Addr {
	if s.udpConn == nil {
		return nil
	}
	return s.udpConn.LocalAddr()
}

func (s *Server) TCPAddr() net.Addr {
	if s.tcpLn == nil {
		return nil
	}
	return s.tcpLn.Addr()
}

func (s *Server) close() {
	if s.httpLn != nil {
		s.httpLn.Close()
	}
	if s.udpConn != nil {
		s.udpConn.Close()
	}
	if s.tcpLn != nil {
		s.tcpLn.Close()
	}
}

// Serve answers until ctx ends, then stops gracefully: in-flight HTTP
// requests get up to 5 s, sockets are closed. It returns nil after a clean stop.
func (s *Server) Serve(ctx context.Context) error {
	var wg sync.WaitGroup
	errc := make(chan error, 3)
	if s.httpLn != nil {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := s.http.Serve(s.httpLn); err != nil && !errors.Is(err, http.ErrServerClosed) {
				errc <- fmt.Errorf("echo: http: %w", err)
			}
		}()
	}
	if s.udpConn != nil {
		wg.Add(1)
		go func() { defer wg.Done(); s.serveUDP(ctx, errc) }()
	}
	var conns sync.WaitGroup
	if s.tcpLn != nil {
		wg.Add(1)
		go func() { defer wg.Done(); s.serveTCP(ctx, &conns, errc) }()
	}
	var err error
	select {
	case <-ctx.Done():
	case err = <-errc:
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if s.httpLn != nil {
		_ = s.http.Shutdown(shutdownCtx)
	}
	s.close()
	wg.Wait()
	conns.Wait()
	return err
}

func (s *Server) serveUDP(ctx context.Context, errc chan<- error) {
	buf, oob := make([]byte, maxDatagram), make([]byte, OOBSize)
	for {
		n, peer, at, err := ReadStamped(s.udpConn, buf, oob)
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return
			}
			errc <- fmt.Errorf("echo: udp read: %w", err)
			return
		}
		reply := buf[:n]
		if _, _, ok := DecodeSeq(reply); ok {
			// How long this process held the probe: a busy echo is not the
			// network's loss (the meter takes it off the round trip).
			var held time.Duration
			if at.Stamped {
				held = time.Since(at.At)
			}
			reply = EncodeReply(reply, held, at.Drops)
		} else {
			// Report IPv4 peers as 10.0.0.1:port, not ::ffff:10.0.0.1.
			reply = []byte(netip.AddrPortFrom(peer.Addr().Unmap(), peer.Port()).String())
		}
		// A reply that cannot be sent (peer gone) is the peer's loss, not ours.
		_, _ = s.udpConn.WriteToUDPAddrPort(reply, peer)
	}
}

func (s *Server) serveTCP(ctx context.Context, conns *sync.WaitGroup, errc chan<- error) {
	for {
		c, err := s.tcpLn.Accept()
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return
			}
			errc <- fmt.Errorf("echo: tcp accept: %w", err)
			return
		}
		conns.Add(1)
		go func() {
			defer conns.Done()
			defer c.Close()
			stop := context.AfterFunc(ctx, func() { c.Close() })
			defer stop()
			frame := make([]byte, SeqLen)
			for {
				_ = c.SetReadDeadline(time.Now().Add(30 * time.Second))
				if _, err := io.ReadFull(c, frame); err != nil {
					return
				}
				if _, _, ok := DecodeSeq(frame); !ok {
					return
				}
				if _, err := c.Write(frame); err != nil {
					return
				}
			}
		}()
	}
}
