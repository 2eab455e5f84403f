package progress

import (
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeClock fires After channels only when the test advances it.
type fakeClock struct {
	mu      sync.Mutex
	now     time.Time
	waiters []waiter
	armed   chan struct{} // one send per After call
}

type waiter struct {
	at time.Time
	ch chan time.Time
}

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }

func (c *fakeClock) After(d time.Duration) <-chan time.Time {
	c.mu.Lock()
	ch := make(chan time.Time, 1)
	c.waiters = append(c.waiters, waiter{c.now.Add(d), ch})
	c.mu.Unlock()
	c.armed <- struct{}{}
	return ch
}

func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	keep := c.waiters[:0]
	for _, w := range c.waiters {
		if !w.at.After(c.now) {
			w.ch <- c.now
		} else {
			keep = append(keep, w)
		}
	}
	c.waiters = keep
}

// syncBuffer is a writer the reporting goroutine and the test share.
type syncBuffer struct {
	mu    sync.Mutex
	b     strings.Builder
	lines chan string
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	s.b.Write(p)
	s.mu.Unlock()
	s.lines <- string(p)
	return len(p), nil
}

// A wait shorter than the interval prints nothing; a longer one prints a
// line per interval naming the awaited thing, what holds it up, and how
// long it has waited out of its limit.
func TestWaitReportsWhatIsAwaited(t *testing.T) {
	clock := &fakeClock{now: time.Unix(0, 0), armed: make(chan struct{}, 10)}
	out := &syncBuffer{lines: make(chan string, 10)}
	w := Start(out, "node hybrid-1 Ready", WithClock(clock), Every(5*time.Second), Limit(5*time.Minute))
	defer w.Done()

	<-clock.armed
	clock.advance(4 * time.Second)
	select {
	case l := <-out.lines:
		t.Fatalf("a line before the interval passed: %q", l)
	default:
	}
	w.Update("node hybrid-1: NetworkReady=false")
	clock.advance(time.Second)
	line := <-out.lines
	for _, want := range []string{"waiting for node hybrid-1 Ready", "5s of 5m0s", "still node hybrid-1: NetworkReady=false"} {
		if !strings.Contains(line, want) {
			t.Errorf("line %q does not say %q", line, want)
		}
	}
	<-clock.armed
	clock.advance(5 * time.Second)
	if line := <-out.lines; !strings.Contains(line, "10s of 5m0s") {
		t.Errorf("second line %q does not say 10s", line)
	}
}

// Done before the interval: nothing is ever printed.
func TestShortWaitIsQuiet(t *testing.T) {
	clock := &fakeClock{now: time.Unix(0, 0), armed: make(chan struct{}, 10)}
	out := &syncBuffer{lines: make(chan string, 10)}
	w := Start(out, "route 10.85.0.0/26", WithClock(clock), Every(5*time.Second))
	<-clock.armed
	clock.advance(2 * time.Second)
	w.Done()
	clock.advance(10 * time.Second)
	w.Done() // twice is fine
	select {
	case l := <-out.lines:
		t.Fatalf("a done wait printed %q", l)
	default:
	}
}

// A detail that already says "still" is not given a second one.
func TestLineSaysStillOnce(t *testing.T) {
	w := Start(nil, "bgp withdrawn-by-all: prefix 198.18.1.5/32")
	w.Update("still advertised: 198.18.1.5/32 from 172.18.0.4")
	line := w.Line(7 * time.Second)
	if strings.Contains(line, "still still") || !strings.Contains(line, "; still advertised: 198.18.1.5/32") {
		t.Errorf("line %q", line)
	}
	w.Update("node hybrid-1: NetworkReady=false")
	if line := w.Line(7 * time.Second); !strings.Contains(line, "; still node hybrid-1") {
		t.Errorf("line %q lost its still", line)
	}
}
