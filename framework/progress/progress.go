// Package progress writes a line every few seconds while a long wait goes
// on, saying what is awaited (which node, pod or route) and for how long,
// so a run's log never goes quiet for minutes.
package progress

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"time"
)

// DefaultInterval is how often a wait reports; a wait shorter than this
// prints nothing.
var DefaultInterval = 5 * time.Second

// Clock is the time source (a fake one in tests).
type Clock interface {
	Now() time.Time
	After(d time.Duration) <-chan time.Time
}

type realClock struct{}

func (realClock) Now() time.Time                         { return time.Now() }
func (realClock) After(d time.Duration) <-chan time.Time { return time.After(d) }

// Wait reports one wait until Done.
type Wait struct {
	w        io.Writer
	what     string
	limit    time.Duration
	interval time.Duration
	clock    Clock
	start    time.Time

	mu     sync.Mutex
	detail string
	done   chan struct{}
	once   sync.Once
}

// Option changes a Wait.
type Option func(*Wait)

// Every sets the interval between lines.
func Every(d time.Duration) Option { return func(w *Wait) { w.interval = d } }

// WithClock sets the time source.
func WithClock(c Clock) Option { return func(w *Wait) { w.clock = c } }

// Limit is the wait's bound, shown as "of <limit>".
func Limit(d time.Duration) Option { return func(w *Wait) { w.limit = d } }

// Start begins reporting the wait for what ("CNI readiness (cilium)",
// "node hybrid-1 Ready") to out; nil out reports nothing. Call Done when
// the wait ends.
func Start(out io.Writer, what string, opts ...Option) *Wait {
	w := &Wait{w: out, what: what, interval: DefaultInterval, clock: realClock{}, done: make(chan struct{})}
	for _, o := range opts {
		o(w)
	}
	w.start = w.clock.Now()
	if out != nil && w.interval > 0 {
		go w.loop()
	}
	return w
}

// Update says what the wait is held up by right now ("DaemonSet
// kube-system/cilium: pod on hybrid-1 not ready"); the next line shows it.
func (w *Wait) Update(detail string) {
	if w == nil {
		return
	}
	w.mu.Lock()
	w.detail = detail
	w.mu.Unlock()
}

// Done stops the reports.
func (w *Wait) Done() {
	if w == nil {
		return
	}
	w.once.Do(func() { close(w.done) })
}

// Line is the report after elapsed.
func (w *Wait) Line(elapsed time.Duration) string {
	w.mu.Lock()
	detail := w.detail
	w.mu.Unlock()
	s := fmt.Sprintf("waiting for %s: %s", w.what, elapsed.Round(time.Second))
	if w.limit > 0 {
		s += " of " + w.limit.String()
	}
	switch {
	case detail == "":
	case strings.HasPrefix(detail, "still "): // "still still advertised" reads as a typo
		s += "; " + detail
	default:
		s += "; still " + detail
	}
	return s
}

func (w *Wait) loop() {
	for {
		select {
		case <-w.done:
			return
		case <-w.clock.After(w.interval):
		}
		select {
		case <-w.done:
			return
		default:
		}
		fmt.Fprintln(w.w, w.Line(w.clock.Now().Sub(w.start)))
	}
}

// LogfWriter writes each line to logf (a log.Printf-like function), so a
// wait can report where the code logs through a function; nil logf: nil.
func LogfWriter(logf func(string, ...any)) io.Writer {
	if logf == nil {
		return nil
	}
	return logfWriter(logf)
}

type logfWriter func(string, ...any)

func (l logfWriter) Write(p []byte) (int, error) {
	for _, line := range strings.Split(strings.TrimRight(string(p), "\n"), "\n") {
		l("%s", line)
	}
	return len(p), nil
}
