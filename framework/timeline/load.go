package timeline

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hybridcni/hybridcni/framework/report"
)

// BusyThreshold is the share of all cores above which the host counts as
// loaded: a span on the timeline, so a gap in it is attributed to a busy
// runner as well as to whatever else overlaps it.
const BusyThreshold = 90.0

// LoadSampler samples the host's CPU use (/proc/stat, /proc/loadavg) every
// interval: the samples go with the timeline (diagnostics), and a stretch
// at or above BusyThreshold is a host-loaded span.
type LoadSampler struct {
	rec      *Recorder
	interval time.Duration
	proc     string

	mu      sync.Mutex
	samples []report.LoadSample
	done    chan struct{}
}

// NewLoadSampler samples every interval (default 1 s) into rec (nil: samples only).
func NewLoadSampler(rec *Recorder, interval time.Duration) *LoadSampler {
	if interval <= 0 {
		interval = time.Second
	}
	return &LoadSampler{rec: rec, interval: interval, proc: "/proc", done: make(chan struct{})}
}

// Start samples until ctx ends; it fails when /proc/stat cannot be read.
func (s *LoadSampler) Start(ctx context.Context) error {
	busy, total, err := cpuTimes(s.proc)
	if err != nil {
		return err
	}
	go func() {
		defer close(s.done)
		t := time.NewTicker(s.interval)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case now := <-t.C:
				b, tot, err := cpuTimes(s.proc)
				if err != nil || tot <= total {
					continue
				}
				pct := 100 * float64(b-busy) / float64(tot-total)
				busy, total = b, tot
				sample := report.LoadSample{At: now, BusyPercent: pct, Load1: load1(s.proc)}
				s.mu.Lock()
				s.samples = append(s.samples, sample)
				s.mu.Unlock()
				if s.rec == nil {
					continue
				}
				if pct >= BusyThreshold {
					// The span starts at the previous sample: the busy stretch was measured since then.
					s.rec.Open("host-loaded", now.Add(-s.interval), report.Event{Kind: report.EventHostLoaded,
						Text: fmt.Sprintf("the host's CPU was %.0f%% busy or more (load %.1f)", BusyThreshold, sample.Load1)})
				} else {
					s.rec.Close("host-loaded", now, "")
				}
			}
		}
	}()
	return nil
}

// Samples returns the samples taken so far (wait for ctx's end with Wait
// for all of them).
func (s *LoadSampler) Samples() []report.LoadSample {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]report.LoadSample(nil), s.samples...)
}

// Wait waits until sampling stopped (after Start's ctx ended).
func (s *LoadSampler) Wait() { <-s.done }

// Summary is mean and peak busy share and peak load, one line.
func Summary(samples []report.LoadSample) string {
	if len(samples) == 0 {
		return "no CPU samples"
	}
	var sum, peak, load float64
	for _, s := range samples {
		sum += s.BusyPercent
		peak = max(peak, s.BusyPercent)
		load = max(load, s.Load1)
	}
	return fmt.Sprintf("host CPU during the hop: mean %.0f%% busy, peak %.0f%%, peak load %.1f (%d samples)", sum/float64(len(samples)), peak, load, len(samples))
}

// cpuTimes reads the busy and total jiffies of all CPUs.
func cpuTimes(proc string) (busy, total uint64, err error) {
	data, err := os.ReadFile(proc + "/stat")
	if err != nil {
		return 0, 0, fmt.Errorf("timeline: CPU load: %w", err)
	}
	line, _, _ := strings.Cut(string(data), "\n")
	f := strings.Fields(line)
	if len(f) < 5 || f[0] != "cpu" {
		return 0, 0, fmt.Errorf("timeline: CPU load: unexpected %s/stat line %q", proc, line)
	}
	for i, v := range f[1:] {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			continue
		}
		total += n
		if i != 3 && i != 4 { // idle and iowait
			busy += n
		}
	}
	return busy, total, nil
}

func load1(proc string) float64 {
	data, err := os.ReadFile(proc + "/loadavg")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(data))
	if len(f) == 0 {
		return 0
	}
	v, _ := strconv.ParseFloat(f[0], 64)
	return v
}
