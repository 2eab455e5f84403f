package router

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
)

// logLines is a router log that a test can wait on.
type logLines struct {
	mu    sync.Mutex
	lines []string
}

func (l *logLines) logf(f string, a ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lines = append(l.lines, fmt.Sprintf(f, a...))
}

// waitFor waits until a line contains want; the failure shows the log.
func (l *logLines) waitFor(t *testing.T, want string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		l.mu.Lock()
		for _, s := range l.lines {
			if strings.Contains(s, want) {
				l.mu.Unlock()
				return
			}
		}
		l.mu.Unlock()
		time.Sleep(50 * time.Millisecond)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	t.Fatalf("router log has no line with %q; it has:\n%s", want, strings.Join(l.lines, "\n"))
}

// The router logs what each peer sends as sent: its UPDATEs (announce and
// withdraw) and its End-of-RIB, which the best-path lines do not show. A
// graceful restart that leaves routes stale is read from these lines.
func TestRouterLogsWhatPeersSend(t *testing.T) {
	ctx := context.Background()
	var log logLines
	cfg := Config{
		ASN: routerASN, RouterID: "127.0.0.1", ListenAddresses: []string{"127.0.0.1"},
		ListenPort: int32(freePort(t)), NeighborPrefixes: []string{"127.0.0.0/26"}, NeighborASN: nodeASN,
		HoldTime: 9 * time.Second, Keepalive: 3 * time.Second, ConnectRetry: time.Second,
		GracefulRestart: true,
	}
	r, err := New(cfg, WithLogf(log.logf))
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = r.Stop() })

	const node, block = "127.0.0.45", "10.85.45.0/24"
	s := startSpeaker(t, r.Config(), node, func(c *Config) { c.GracefulRestart = true })
	if err := NewChecker(r.Client()).PeerEstablished(ctx, Node{"node45", node}); err != nil {
		t.Fatal(err)
	}
	log.waitFor(t, "router: received end-of-rib from "+node)
	if err := s.Client().Advertise(ctx, block, node); err != nil {
		t.Fatal(err)
	}
	log.waitFor(t, "router: received "+block+" via "+node+" from "+node)
	if err := s.Client().Withdraw(ctx, block, node); err != nil {
		t.Fatal(err)
	}
	log.waitFor(t, "router: received withdraw "+block+" from "+node)
}
