package probe

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/net/icmp"
	"golang.org/x/net/ipv4"

	"github.com/hybridcni/hybridcni/framework/config"
)

// Protocol is how a probe talks to its target.
type Protocol string

// Protocols a probe speaks.
const (
	TCP  Protocol = "tcp"  // connect succeeds
	HTTP Protocol = "http" // GET answers 200 (on /clientip: with the source seen)
	UDP  Protocol = "udp"  // the echo server answers (with the source seen)
	ICMP Protocol = "icmp" // echo request answered
)

// Outcome is what an expectation wants from a probe.
type Outcome string

// Outcomes.
const (
	Success Outcome = "success"
	// Failure accepts any failure: no reply, connection refused or reset,
	// an HTTP error status, an ICMP unreachable. The result names which.
	Failure Outcome = "failure"
	// NoAnswer demands silence: no reply of any kind within the timeout,
	// as on a path that drops packets (pod addresses unroutable on-prem).
	// A refused or reset connection, an HTTP status or an unreachable
	// error is an answer, so it fails.
	NoAnswer Outcome = "no-answer"
)

// How a probe failed (Result.Failure).
const (
	FailNoReply     = "no-reply"    // nothing came back within the timeout
	FailRefused     = "refused"     // TCP RST to the SYN, or ICMP port unreachable (UDP)
	FailReset       = "reset"       // the connection was reset after it opened
	FailUnreachable = "unreachable" // ICMP host or network unreachable
	FailHTTPStatus  = "http-status" // an HTTP answer other than 200
	FailOther       = "other"
)

// DefaultTimeout bounds one probe's network exchange.
const DefaultTimeout = 2 * time.Second

// Spec is one probe as the `hybridcni probe` command runs it in its place.
type Spec struct {
	// Target is a URL: tcp://IP:PORT, http://IP:PORT/PATH, udp://IP:PORT, icmp://IP.
	Target string
	// Expect is success (default), failure (any failure) or no-answer
	// (no reply of any kind).
	Expect Outcome
	// ExpectSource, when set, is the source IP the target must report having
	// seen (http://.../clientip or udp:// against the echo server).
	ExpectSource string
	// Timeout bounds the exchange (default DefaultTimeout).
	Timeout time.Duration
}

// target is a parsed Spec.Target.
type target struct {
	proto Protocol
	host  string // IP or name
	port  int
	path  string
}

func (t target) hostPort() string { return net.JoinHostPort(t.host, strconv.Itoa(t.port)) }

func parseTarget(raw string) (target, error) {
	fix := "use tcp://IP:PORT, http://IP:PORT/PATH, udp://IP:PORT or icmp://IP"
	u, err := url.Parse(raw)
	if err != nil || u.Scheme == "" || u.Host == "" {
		return target{}, config.Invalid("target", fmt.Sprintf("%q is not a probe URL", raw), fix)
	}
	t := target{proto: Protocol(u.Scheme), host: u.Hostname(), path: u.Path}
	switch t.proto {
	case TCP, HTTP, UDP:
		p, err := strconv.Atoi(u.Port())
		if err != nil || p < 1 || p > 65535 {
			return target{}, config.Invalid("target", fmt.Sprintf("%q has no port 1-65535", raw), fix)
		}
		t.port = p
	case ICMP:
		if u.Port() != "" {
			return target{}, config.Invalid("target", fmt.Sprintf("%q: ICMP has no port", raw), "use icmp://IP")
		}
		if net.ParseIP(t.host).To4() == nil {
			return target{}, config.Invalid("target", fmt.Sprintf("%q: ICMP probes need an IPv4 address", raw), "use icmp://IP")
		}
	default:
		return target{}, config.Invalid("target", fmt.Sprintf("scheme %q is not a probe protocol", u.Scheme), fix)
	}
	if t.proto == HTTP && t.path == "" {
		t.path = "/"
	}
	return t, nil
}

// Validate names the bad field and the fix (a *config.Error).
func (s Spec) Validate() error {
	t, err := parseTarget(s.Target)
	if err != nil {
		return err
	}
	if s.Expect != "" && s.Expect != Success && s.Expect != Failure && s.Expect != NoAnswer {
		return config.Invalid("expect", fmt.Sprintf("%q is not an outcome", s.Expect), "use success, failure or no-answer")
	}
	if s.ExpectSource != "" {
		if net.ParseIP(s.ExpectSource) == nil {
			return config.Invalid("expect-source", fmt.Sprintf("%q is not an IP address", s.ExpectSource), "give the IP the target should see")
		}
		if !(t.proto == UDP || (t.proto == HTTP && t.path == "/clientip")) {
			return config.Invalid("expect-source", "only the echo server reports the source it saw",
				"use an http://IP:PORT/clientip or udp://IP:PORT target")
		}
		if s.Expect == Failure || s.Expect == NoAnswer {
			return config.Invalid("expect-source", "a probe expected to fail sees no source", "drop --expect-source or expect success")
		}
	}
	if s.Timeout < 0 {
		return config.Invalid("timeout", "negative timeout", "use a positive duration such as 2s")
	}
	return nil
}

// Result is what a probe observed and whether that met the expectation. The
// `hybridcni probe` command prints it as one line of JSON.
type Result struct {
	Target   string   `json:"target"`
	Protocol Protocol `json:"protocol"`
	Expect   Outcome  `json:"expect"`
	// OK: the target answered as the protocol wants (connect, 200, reply).
	OK bool `json:"ok"`
	// Seen is the IP:port the target reported for us; SourceIP its address.
	Seen     string `json:"seen,omitempty"`
	SourceIP string `json:"source_ip,omitempty"`
	// ExpectSource echoes the expected source address.
	ExpectSource string `json:"expect_source,omitempty"`
	// LocalAddr is our socket's address before any NAT.
	LocalAddr string  `json:"local_addr,omitempty"`
	LatencyMS float64 `json:"latency_ms"`
	// Error is what went wrong on the wire, if anything; Failure classifies
	// it (FailNoReply, FailRefused, ...).
	Error   string `json:"error,omitempty"`
	Failure string `json:"failure,omitempty"`
	// Pass says whether the expectation held; Reason explains a false Pass,
	// or for a passed failure expectation names the failure it accepted.
	Pass   bool   `json:"pass"`
	Reason string `json:"reason,omitempty"`
}

// JSON returns the result as one line of JSON.
func (r Result) JSON() string {
	b, _ := json.Marshal(r)
	return string(b)
}

// Run performs one probe from the current network namespace and judges it.
func Run(ctx context.Context, s Spec) (Result, error) {
	if err := s.Validate(); err != nil {
		return Result{}, err
	}
	if s.Expect == "" {
		s.Expect = Success
	}
	if s.Timeout == 0 {
		s.Timeout = DefaultTimeout
	}
	t, _ := parseTarget(s.Target)
	r := Result{Target: s.Target, Protocol: t.proto, Expect: s.Expect, ExpectSource: s.ExpectSource}
	ctx, cancel := context.WithTimeout(ctx, s.Timeout)
	defer cancel()
	start := time.Now()
	var err error
	switch t.proto {
	case TCP:
		err = probeTCP(ctx, t, &r)
	case HTTP:
		err = probeHTTP(ctx, t, &r)
	case UDP:
		err = probeUDP(ctx, t, &r)
	case ICMP:
		err = probeICMP(ctx, t, &r)
	}
	r.LatencyMS = float64(time.Since(start).Microseconds()) / 1000
	r.OK = err == nil
	if err != nil {
		r.Error = describe(err, s.Timeout)
		r.Failure = classify(err)
	}
	if r.Seen != "" {
		if host, _, splitErr := net.SplitHostPort(r.Seen); splitErr == nil {
			r.SourceIP = host
		}
	}
	judge(&r)
	return r, nil
}

// judge sets Pass and Reason from what was observed.
func judge(r *Result) {
	switch {
	case (r.Expect == Failure || r.Expect == NoAnswer) && r.OK:
		r.Reason = "the target answered, but the expectation is that it must not"
		if r.SourceIP != "" {
			r.Reason += " (it saw source " + r.SourceIP + ")"
		}
	case r.Expect == NoAnswer && !r.NoReply():
		r.Reason = "expected no answer at all (a path that drops packets), but " + r.Error +
			": something on the path answered"
	case r.Expect == Failure || r.Expect == NoAnswer:
		r.Pass = true
		r.Reason = "failed as expected: " + r.Error
	case !r.OK:
		r.Reason = "no answer: " + r.Error
		if r.ExpectSource != "" {
			r.Reason += " (wanted the target to see source " + r.ExpectSource + ")"
		}
	case r.ExpectSource != "" && r.SourceIP == "":
		r.Reason = fmt.Sprintf("the target did not report a source address (answer %q), want %s", r.Seen, r.ExpectSource)
	case r.ExpectSource != "" && !sameIP(r.SourceIP, r.ExpectSource):
		r.Reason = fmt.Sprintf("the target saw source %s, want %s", r.SourceIP, r.ExpectSource)
	default:
		r.Pass = true
	}
}

func sameIP(a, b string) bool {
	x, y := net.ParseIP(a), net.ParseIP(b)
	return x != nil && y != nil && x.Equal(y)
}

// NoReply reports whether the probe got no answer of any kind: it timed
// out. Results from probes that predate Failure are read from Error.
func (r Result) NoReply() bool {
	if r.OK {
		return false
	}
	if r.Failure != "" {
		return r.Failure == FailNoReply
	}
	return strings.HasPrefix(r.Error, "no reply within")
}

// classify sorts a probe's error into one of the Fail* kinds.
func classify(err error) string {
	var he httpStatusError
	switch {
	case errors.Is(err, context.DeadlineExceeded) || isTimeout(err):
		return FailNoReply
	case errors.Is(err, syscall.ECONNREFUSED):
		return FailRefused
	case errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF):
		return FailReset
	case errors.Is(err, syscall.EHOSTUNREACH) || errors.Is(err, syscall.ENETUNREACH):
		return FailUnreachable
	case errors.As(err, &he):
		return FailHTTPStatus
	}
	return FailOther
}

// httpStatusError is an HTTP answer other than 200.
type httpStatusError int

func (e httpStatusError) Error() string { return fmt.Sprintf("HTTP status %d", int(e)) }

// describe turns a network error into a short phrase for tables and JSON.
func describe(err error, timeout time.Duration) string {
	switch {
	case errors.Is(err, context.DeadlineExceeded) || isTimeout(err):
		return fmt.Sprintf("no reply within %s", timeout)
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused"
	case errors.Is(err, syscall.EHOSTUNREACH):
		return "host unreachable"
	case errors.Is(err, syscall.ENETUNREACH):
		return "network unreachable"
	}
	return err.Error()
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

func probeTCP(ctx context.Context, t target, r *Result) error {
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", t.hostPort())
	if err != nil {
		return err
	}
	r.LocalAddr = c.LocalAddr().String()
	return c.Close()
}

func probeHTTP(ctx context.Context, t target, r *Result) error {
	dialer := &net.Dialer{}
	tr := &http.Transport{
		Proxy:             nil, // never a proxy: probes test the dataplane
		DisableKeepAlives: true,
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			c, err := dialer.DialContext(ctx, network, addr)
			if err == nil {
				r.LocalAddr = c.LocalAddr().String()
			}
			return c, err
		},
	}
	defer tr.CloseIdleConnections()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+t.hostPort()+t.path, nil)
	if err != nil {
		return err
	}
	resp, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			return ue.Err
		}
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return httpStatusError(resp.StatusCode)
	}
	if t.path == "/clientip" {
		r.Seen = strings.TrimSpace(string(body))
	}
	return nil
}

func probeUDP(ctx context.Context, t target, r *Result) error {
	var d net.Dialer
	c, err := d.DialContext(ctx, "udp", t.hostPort())
	if err != nil {
		return err
	}
	defer c.Close()
	r.LocalAddr = c.LocalAddr().String()
	if dl, ok := ctx.Deadline(); ok {
		_ = c.SetDeadline(dl)
	}
	if _, err := c.Write([]byte("hybridcni probe")); err != nil {
		return err
	}
	buf := make([]byte, 512)
	n, err := c.Read(buf)
	if err != nil {
		return err
	}
	r.Seen = strings.TrimSpace(string(buf[:n]))
	return nil
}

// probeICMP sends one echo request: with a raw socket when allowed (root,
// CAP_NET_RAW), else with an unprivileged ICMP datagram socket.
func probeICMP(ctx context.Context, t target, r *Result) error {
	dst := net.ParseIP(t.host)
	conn, err := icmp.ListenPacket("ip4:icmp", "0.0.0.0")
	raw := err == nil
	if err != nil {
		if conn, err = icmp.ListenPacket("udp4", "0.0.0.0"); err != nil {
			return fmt.Errorf("open an ICMP socket (needs CAP_NET_RAW or net.ipv4.ping_group_range): %w", err)
		}
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	id := (os.Getpid() ^ rand.IntN(0xffff)) & 0xffff
	seq := rand.IntN(0xffff)
	msg := icmp.Message{Type: ipv4.ICMPTypeEcho, Body: &icmp.Echo{ID: id, Seq: seq, Data: []byte("hybridcni probe")}}
	b, err := msg.Marshal(nil)
	if err != nil {
		return err
	}
	var to net.Addr = &net.IPAddr{IP: dst}
	if !raw {
		to = &net.UDPAddr{IP: dst}
	}
	if _, err := conn.WriteTo(b, to); err != nil {
		return err
	}
	buf := make([]byte, 1500)
	for {
		n, peer, err := conn.ReadFrom(buf)
		if err != nil {
			return err
		}
		m, err := icmp.ParseMessage(1, buf[:n])
		if err != nil || m.Type != ipv4.ICMPTypeEchoReply {
			continue
		}
		echo, ok := m.Body.(*icmp.Echo)
		// Unprivileged sockets rewrite the ID; match on peer and seq there.
		if !ok || echo.Seq != seq || (raw && echo.ID != id) {
			continue
		}
		if !sameIP(addrIP(peer), t.host) {
			continue
		}
		return nil
	}
}

func addrIP(a net.Addr) string {
	switch v := a.(type) {
	case *net.IPAddr:
		return v.IP.String()
	case *net.UDPAddr:
		return v.IP.String()
	}
	return ""
}
