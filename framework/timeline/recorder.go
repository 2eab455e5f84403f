// Package timeline records what happens during an upgrade hop, for the
// disruption meter's timeline: pods terminating and turning ready per node
// (a Kubernetes watch), BGP sessions dropping and coming back and routes
// withdrawn and re-learned (the on-prem router's events), the harness's own
// steps, and the host's CPU load. Every entry is a report.Event: a span
// (something down, until it is back) or an instant.
package timeline

import (
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/hybridcni/hybridcni/framework/report"
)

// Recorder collects events from any goroutine. Spans are opened and closed
// by key; a span still open when Events is called ends then, and says so.
type Recorder struct {
	mu     sync.Mutex
	events []report.Event
	open   map[string]*report.Event
	now    func() time.Time
}

// NewRecorder returns an empty recorder.
func NewRecorder() *Recorder {
	return &Recorder{open: map[string]*report.Event{}, now: time.Now}
}

// Add records a finished event (an instant, or a span with both ends).
func (r *Recorder) Add(e report.Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, e)
}

// Instant records something that happened now.
func (r *Recorder) Instant(kind, node, subject, text string) {
	r.Add(report.Event{Kind: kind, Start: r.now(), Node: node, Subject: subject, Text: text})
}

// Begin opens a span now and returns the function that ends it.
func (r *Recorder) Begin(kind, node, subject, text string) (end func()) {
	start := r.now()
	var once sync.Once
	return func() {
		once.Do(func() {
			r.Add(report.Event{Kind: kind, Start: start, End: r.now(), Node: node, Subject: subject, Text: text})
		})
	}
}

// Open starts the span key at at, unless it is open already (then it
// reports false and the first opening stands).
func (r *Recorder) Open(key string, at time.Time, e report.Event) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.open[key]; ok {
		return false
	}
	e.Start = at
	r.open[key] = &e
	return true
}

// IsOpen reports whether the span key is open.
func (r *Recorder) IsOpen(key string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	_, ok := r.open[key]
	return ok
}

// Close ends the span key at at, appending suffix to its text; it reports
// whether the span was open.
func (r *Recorder) Close(key string, at time.Time, suffix string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	e, ok := r.open[key]
	if !ok {
		return false
	}
	delete(r.open, key)
	e.End = at
	if !e.End.After(e.Start) {
		e.End = e.Start.Add(time.Millisecond)
	}
	e.Text += suffix
	r.events = append(r.events, *e)
	return true
}

// Events returns every event in start order; spans still open end now,
// their text saying they were not over.
func (r *Recorder) Events() []report.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := slices.Clone(r.events)
	now := r.now()
	keys := make([]string, 0, len(r.open))
	for k := range r.open {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		e := *r.open[k]
		e.End = now
		e.Text += " (not over when the recording ended)"
		out = append(out, e)
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Start.Before(out[j].Start) })
	return out
}
