package router

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"
)

// lockedBuffer is the writer the progress goroutine and the test share.
type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string { l.mu.Lock(); defer l.mu.Unlock(); return l.b.String() }

// While a check waits on the router, a line every ProgressEvery names what
// it awaits (the peer's node and address, the prefix), for how long of
// its bound, and what still holds it up; a check that passes at once
// prints nothing.
func TestChecksReportProgressWhileWaiting(t *testing.T) {
	ctx := context.Background()
	r, rc := startRouter(t, nil)
	n1 := Node{"node1", "127.0.0.21"}
	absent := Node{"node9", "127.0.0.29"}
	s1 := startSpeaker(t, rc, n1.Address, nil)
	if err := s1.Client().Advertise(ctx, "10.85.1.0/24", n1.Address); err != nil {
		t.Fatal(err)
	}
	k := NewChecker(r.Client())
	k.Timeout = 20 * time.Second
	if err := k.PrefixLearned(ctx, n1, "10.85.1.0/24"); err != nil {
		t.Fatal(err)
	}

	// Long enough for several lines at one per 100 ms on a starved CPU
	// (700 ms gave two lines under make test's load).
	const bound = 2 * time.Second
	for _, c := range []struct {
		name  string
		check func(k *Checker) error
		want  []string
	}{
		{"session never established", func(k *Checker) error { return k.PeerEstablished(ctx, absent) },
			[]string{"waiting for bgp peer-established: node node9 (127.0.0.29)", "of " + bound.String(), "still no session from 127.0.0.29"}},
		{"prefix never advertised", func(k *Checker) error {
			return k.AdvertisedBy(ctx, "198.18.1.5/32", []Node{n1, absent}, "")
		}, []string{"waiting for bgp advertised-by: prefix 198.18.1.5/32 from node node1 (127.0.0.21), node node9 (127.0.0.29)",
			"still node node1 (127.0.0.21): not advertised"}},
		{"prefix never withdrawn", func(k *Checker) error { return k.WithdrawnByAll(ctx, "10.85.1.0/24") },
			[]string{"waiting for bgp withdrawn-by-all: prefix 10.85.1.0/24", "; still advertised: 10.85.1.0/24"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			var out lockedBuffer
			k := NewChecker(r.Client())
			k.Timeout, k.Progress, k.ProgressEvery = bound, &out, 100*time.Millisecond
			if err := c.check(k); err == nil {
				t.Fatal("the check passed; the test needs one that waits out its bound")
			}
			lines := strings.Split(strings.TrimSpace(out.String()), "\n")
			if len(lines) < 3 {
				t.Fatalf("%d progress line(s) in %s at one per 100ms, want several:\n%s", len(lines), bound, out.String())
			}
			for _, w := range c.want {
				if !strings.Contains(lines[len(lines)-1], w) {
					t.Errorf("last line lacks %q:\n%s", w, lines[len(lines)-1])
				}
			}
			if !strings.Contains(lines[0], "waiting for ") || lines[0] == lines[len(lines)-1] {
				t.Errorf("the lines do not count the time waited:\n%s", out.String())
			}
		})
	}

	var quiet lockedBuffer
	k.Progress, k.ProgressEvery = &quiet, 100*time.Millisecond
	if err := k.PeerEstablished(ctx, n1); err != nil {
		t.Fatal(err)
	}
	time.Sleep(250 * time.Millisecond)
	if quiet.String() != "" {
		t.Errorf("a check that passed at once printed progress:\n%s", quiet.String())
	}
}
