package echo_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hybridcni/hybridcni/framework/config"
	"github.com/hybridcni/hybridcni/framework/echo"
	"github.com/hybridcni/hybridcni/framework/lab"
)

func TestSeqCodec(t *testing.T) {
	at := time.Unix(0, 1_700_000_000_123_456_789)
	b := echo.EncodeSeq(42, at)
	seq, sent, ok := echo.DecodeSeq(b)
	if !ok || seq != 42 || !sent.Equal(at) {
		t.Fatalf("decode: %d %v %v", seq, sent, ok)
	}
	for _, bad := range [][]byte{nil, []byte("hello"), append([]byte("XXXX"), b[4:]...), b[:len(b)-1]} {
		if _, _, ok := echo.DecodeSeq(bad); ok {
			t.Errorf("decoded a non-frame %q", bad)
		}
	}
}

func TestReplyCodec(t *testing.T) {
	frame := echo.EncodeSeq(9, time.Unix(5, 0))
	b := echo.EncodeReply(frame, 1500*time.Millisecond, 7)
	if r, ok := echo.DecodeReply(b); !ok || r.Seq != 9 || !r.Sent.Equal(time.Unix(5, 0)) || r.Held != 1500*time.Millisecond || r.Drops != 7 {
		t.Fatalf("decode reply: %+v %v", r, ok)
	}
	// An echo that does not say held the frame 0 and dropped nothing.
	if r, ok := echo.DecodeReply(frame); !ok || r.Seq != 9 || r.Held != 0 || r.Drops != 0 {
		t.Fatalf("bare frame as reply: %+v %v", r, ok)
	}
	for _, bad := range [][]byte{nil, b[:len(b)-1], append(b, 0), append([]byte("XXXX"), b[4:]...)} {
		if _, ok := echo.DecodeReply(bad); ok {
			t.Errorf("decoded a non-reply %q", bad)
		}
	}
}

// stampedPair is a loopback UDP socket with kernel stamps on (and a receive
// buffer of buffer bytes, unless 0) and a socket sending to it.
func stampedPair(t *testing.T, buffer int) (rx, tx *net.UDPConn) {
	t.Helper()
	rx, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rx.Close() })
	if buffer > 0 {
		if err := rx.SetReadBuffer(buffer); err != nil {
			t.Fatal(err)
		}
	}
	if !echo.StampReceives(rx) {
		t.Fatal("SO_TIMESTAMPNS or SO_RXQ_OVFL refused on a Linux UDP socket")
	}
	tx, err = net.DialUDP("udp", nil, rx.LocalAddr().(*net.UDPAddr))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tx.Close() })
	return rx, tx
}

// awaitArrivalStamps waits until the kernel stamps datagrams as they
// arrive. The first socket asking for stamps turns them on machine-wide
// through a deferred kernel work item; until it runs, a datagram carries
// no stamp and recvmsg stamps it with the read (make test under load once
// read a 300 ms wait as no wait). Bounded at 2 s, polled every 20 ms.
func awaitArrivalStamps(t *testing.T, rx, tx *net.UDPConn) {
	t.Helper()
	const gap = 20 * time.Millisecond
	buf, oob := make([]byte, 16), make([]byte, echo.OOBSize)
	deadline := time.Now().Add(2 * time.Second)
	for tries := 1; ; tries++ {
		if _, err := tx.Write([]byte("p")); err != nil {
			t.Fatal(err)
		}
		time.Sleep(gap)
		_, _, a, err := echo.ReadStamped(rx, buf, oob)
		if err != nil {
			t.Fatal(err)
		}
		if time.Since(a.At) >= gap/2 {
			if tries > 1 {
				t.Logf("the kernel stamped arrivals from the %d-th datagram on", tries)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %d datagrams in 2 s, the kernel still stamps them at the read, not at arrival", tries)
		}
	}
}

// TestReadStampedTellsArrivalFromRead: a datagram read late carries the
// time it reached the socket, not the time of the read (the meter's
// defence against a starved process counting as network loss).
func TestReadStampedTellsArrivalFromRead(t *testing.T) {
	rx, tx := stampedPair(t, 0)
	awaitArrivalStamps(t, rx, tx)
	sent := time.Now()
	if _, err := tx.Write([]byte("x")); err != nil {
		t.Fatal(err)
	}
	const wait = 300 * time.Millisecond
	time.Sleep(wait) // the reader is busy
	buf, oob := make([]byte, 16), make([]byte, echo.OOBSize)
	_, _, a, err := echo.ReadStamped(rx, buf, oob)
	read, at := time.Now(), a.At
	if err != nil || !a.Stamped {
		t.Fatalf("read: stamped %v, %v", a.Stamped, err)
	}
	if at.Before(sent.Add(-time.Millisecond)) || read.Sub(at) < wait-10*time.Millisecond {
		t.Fatalf("arrival %s, sent %s, read %s: want the arrival near the send, %v before the read",
			at.Format("15:04:05.000"), sent.Format("15:04:05.000"), read.Format("15:04:05.000"), wait)
	}
}

// TestReadStampedCountsSocketDrops: datagrams sent to a socket whose
// reader is away, more than its receive buffer holds, are dropped by the
// kernel, and the next datagram read says how many.
func TestReadStampedCountsSocketDrops(t *testing.T) {
	rx, tx := stampedPair(t, 4096) // the kernel's minimum: a few datagrams
	const sent = 200
	for i := range sent {
		if _, err := tx.Write(echo.EncodeSeq(uint64(i), time.Now())); err != nil {
			t.Fatal(err)
		}
	}
	buf, oob := make([]byte, 64), make([]byte, echo.OOBSize)
	queued := 0
	var last echo.Arrival
	for {
		_ = rx.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
		_, _, a, err := echo.ReadStamped(rx, buf, oob)
		if err != nil {
			break
		}
		queued, last = queued+1, a
	}
	if queued == 0 || queued == sent {
		t.Fatalf("%d of %d datagrams queued: want the small buffer to hold some, not all", queued, sent)
	}
	// A datagram carries the count as of its own queueing: the next one says.
	if _, err := tx.Write([]byte("after")); err != nil {
		t.Fatal(err)
	}
	_ = rx.SetReadDeadline(time.Now().Add(time.Second))
	_, _, last, err := echo.ReadStamped(rx, buf, oob)
	if err != nil {
		t.Fatal(err)
	}
	if !last.Counted || int(last.Drops) != sent-queued {
		t.Fatalf("the last read says %d dropped (counted %v); %d were sent and %d queued", last.Drops, last.Counted, sent, queued)
	}
}

func TestConfigValidateNamesField(t *testing.T) {
	for _, tc := range []struct {
		cfg   echo.Config
		field string
	}{
		{echo.Config{HTTPPort: 70000}, "http-port"},
		{echo.Config{UDPPort: -2}, "udp-port"},
		{echo.Config{TCPPort: 65536}, "tcp-port"},
		{echo.Config{HTTPPort: -1, UDPPort: -1}, "http-port"},
		{echo.Config{Address: "localhost"}, "address"},
	} {
		err := tc.cfg.Validate()
		if f := config.Fields(err); len(f) != 1 || f[0] != tc.field {
			t.Errorf("%+v: error %v, want one naming %q", tc.cfg, err, tc.field)
		}
		if _, err := echo.Listen(tc.cfg); err == nil {
			t.Errorf("%+v: Listen accepted invalid config", tc.cfg)
		}
	}
}

// inNS runs fn on a thread inside ns: sockets it opens belong to ns.
func inNS(t *testing.T, ns *lab.NS, fn func() error) {
	t.Helper()
	if err := ns.Do(fn); err != nil {
		t.Fatal(err)
	}
}

func httpGet(c net.Conn, path string) (string, error) {
	if _, err := fmt.Fprintf(c, "GET %s HTTP/1.0\r\nHost: echo\r\n\r\n", path); err != nil {
		return "", err
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		return string(b), fmt.Errorf("status %d", resp.StatusCode)
	}
	return string(b), err
}

// TestServerAnswers runs the server in a lab namespace and talks to it over
// the namespace's own interface address.
func TestServerAnswers(t *testing.T) {
	l := lab.ForTest(t)
	srvNS, err := l.NS("echo")
	if err != nil {
		t.Fatal(err)
	}
	cliNS, err := l.NS("client")
	if err != nil {
		t.Fatal(err)
	}
	if err := lab.Veth(lab.End{NS: srvNS, Name: "eth0", Addrs: []string{"10.99.7.1/24"}},
		lab.End{NS: cliNS, Name: "eth0", Addrs: []string{"10.99.7.2/24"}}); err != nil {
		t.Fatal(err)
	}
	var s *echo.Server
	inNS(t, srvNS, func() (err error) {
		s, err = echo.Listen(echo.Config{HTTPPort: 0, UDPPort: 0, TCPPort: 9001, Hostname: "echo-a"})
		return err
	})
	httpPort := s.HTTPAddr().(*net.TCPAddr).Port
	udpPort := s.UDPAddr().(*net.UDPAddr).Port
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx) }()
	defer cancel()

	dial := func(network string, port int) net.Conn {
		var c net.Conn
		inNS(t, cliNS, func() (err error) {
			c, err = net.DialTimeout(network, fmt.Sprintf("10.99.7.1:%d", port), 2*time.Second)
			return err
		})
		_ = c.SetDeadline(time.Now().Add(3 * time.Second))
		t.Cleanup(func() { c.Close() })
		return c
	}

	c := dial("tcp", httpPort)
	got, err := httpGet(c, "/clientip")
	if err != nil || got != c.LocalAddr().String() {
		t.Fatalf("/clientip = %q (%v), want the client's %s", got, err, c.LocalAddr())
	}
	for path, want := range map[string]string{"/hostname": "echo-a", "/healthz": "ok"} {
		if got, err := httpGet(dial("tcp", httpPort), path); err != nil || got != want {
			t.Errorf("%s = %q (%v), want %q", path, got, err, want)
		}
	}
	if got, err := httpGet(dial("tcp", httpPort), "/nope"); err == nil {
		t.Errorf("/nope answered 200: %q", got)
	}

	u := dial("udp", udpPort)
	buf := make([]byte, 256)
	if _, err := u.Write([]byte("who am i")); err != nil {
		t.Fatal(err)
	}
	n, err := u.Read(buf)
	if err != nil || string(buf[:n]) != u.LocalAddr().String() {
		t.Fatalf("udp echo = %q (%v), want %s", buf[:n], err, u.LocalAddr())
	}
	frame := echo.EncodeSeq(7, time.Now())
	if _, err := u.Write(frame); err != nil {
		t.Fatal(err)
	}
	if n, err = u.Read(buf); err != nil || n != echo.ReplyLen || !bytes.Equal(buf[:echo.SeqLen], frame) {
		t.Fatalf("udp seq frame came back as %q (%v), want the frame and the time held", buf[:n], err)
	}
	if r, ok := echo.DecodeReply(buf[:n]); !ok || r.Seq != 7 || r.Held < 0 || r.Held > time.Second || r.Drops != 0 {
		t.Fatalf("udp reply: %+v, ok %v: want seq 7 held well under a second, nothing dropped", r, ok)
	}

	tc := dial("tcp", 9001)
	for seq := range uint64(3) {
		f := echo.EncodeSeq(seq, time.Now())
		if _, err := tc.Write(f); err != nil {
			t.Fatal(err)
		}
		back := make([]byte, echo.SeqLen)
		if _, err := io.ReadFull(tc, back); err != nil || !bytes.Equal(back, f) {
			t.Fatalf("tcp seq %d came back as %q (%v)", seq, back, err)
		}
	}

	// Graceful stop: Serve returns nil and the ports close.
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Serve after cancel: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Serve did not return within 10s of cancel")
	}
	inNS(t, cliNS, func() error {
		_, err := net.DialTimeout("tcp", fmt.Sprintf("10.99.7.1:%d", httpPort), time.Second)
		if !errors.Is(err, syscall.ECONNREFUSED) {
			return fmt.Errorf("http port after stop: %v, want connection refused", err)
		}
		return nil
	})
}

func TestConfigRefusesANegativeReceiveBuffer(t *testing.T) {
	err := echo.Config{UDPReceiveBuffer: -1}.Validate()
	var ce *config.Error
	if !errors.As(err, &ce) || !strings.Contains(err.Error(), "udp-receive-buffer") {
		t.Fatalf("negative buffer: %v, want an error naming udp-receive-buffer", err)
	}
}
