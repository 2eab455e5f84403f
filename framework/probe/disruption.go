package probe

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hybridcni/hybridcni/internal/table"
)

// MeterPair is one client -> disruption endpoint the meter watches. To must
// be a UDP target (echo's UDP port) or TCP (echo's --tcp-port).
type MeterPair struct {
	From Source
	To   Target
}

// Name is the pair's cilium-cli style name.
func (p MeterPair) Name() string {
	return fmt.Sprintf("disruption: %s (%s) -> %s (%s)", p.From.Name, p.From.IP, p.To.Name, p.To.IP)
}

// MeterOption configures a meter.
type MeterOption func(*meterCfg)

type meterCfg struct {
	rate         int
	replyTimeout time.Duration
	maxDuration  time.Duration
	startTimeout time.Duration
}

// WithRate sets probes per second per pair (default 50).
func WithRate(n int) MeterOption { return func(c *meterCfg) { c.rate = n } }

// WithReplyTimeout: an unanswered probe counts as lost after this (default 1 s).
func WithReplyTimeout(d time.Duration) MeterOption { return func(c *meterCfg) { c.replyTimeout = d } }

// WithMaxDuration bounds the meter if Stop is never called (default 1 h).
func WithMaxDuration(d time.Duration) MeterOption { return func(c *meterCfg) { c.maxDuration = d } }

// Meter runs `hybridcni probe meter` in each pair's place while an operation
// (an upgrade, a restart) runs; Stop collects the figures.
type Meter struct {
	pairs []MeterPair
	runs  []*meterRun
}

type meterRun struct {
	stdin   *io.PipeWriter
	out     *lineWriter
	stderr  bytes.Buffer
	done    chan struct{}
	code    int
	err     error
	started chan time.Time
}

// StartMeter starts the meter in every pair's place and returns once each
// has its first probe out (or an error, after stopping those started).
func StartMeter(ctx context.Context, pairs []MeterPair, opts ...MeterOption) (*Meter, error) {
	cfg := meterCfg{rate: DefaultRate, replyTimeout: time.Second, maxDuration: time.Hour, startTimeout: 30 * time.Second}
	for _, o := range opts {
		o(&cfg)
	}
	if len(pairs) == 0 {
		return nil, errors.New("probe: StartMeter: no pairs: give at least one client -> echo pair")
	}
	for _, p := range pairs {
		if p.From.Place == nil {
			return nil, fmt.Errorf("probe: %s: From.Place is nil", p.Name())
		}
		spec := MeterSpec{Target: p.To.URL(), Rate: cfg.rate, ReplyTimeout: cfg.replyTimeout, MaxDuration: cfg.maxDuration}
		if err := spec.Validate(); err != nil {
			return nil, fmt.Errorf("probe: %s: %w", p.Name(), err)
		}
	}
	m := &Meter{pairs: pairs}
	for _, p := range pairs {
		argv := append(p.From.Place.Command(), "probe", "meter", "--target", p.To.URL(),
			"--rate", strconv.Itoa(cfg.rate), "--reply-timeout", cfg.replyTimeout.String(),
			"--max-duration", cfg.maxDuration.String(), "--until-stdin-closes")
		pr, pw := io.Pipe()
		r := &meterRun{stdin: pw, done: make(chan struct{}), started: make(chan time.Time, 1)}
		r.out = &lineWriter{onLine: func(line string) {
			if st, err := lastJSON[MeterStarted]([]byte(line)); err == nil && st.Event == "started" {
				select {
				case r.started <- st.At:
				default:
				}
			}
		}}
		m.runs = append(m.runs, r)
		go func() {
			defer close(r.done)
			r.code, r.err = p.From.Place.Exec(ctx, argv, Stdio{Stdin: pr, Stdout: r.out, Stderr: &r.stderr})
		}()
	}
	deadline := time.NewTimer(cfg.startTimeout)
	defer deadline.Stop()
	for i, r := range m.runs {
		select {
		case <-r.started:
		case <-r.done:
			_, _ = m.Stop()
			return nil, fmt.Errorf("probe: %s: the meter ended before its first probe (exit %d, %v): %s",
				pairs[i].Name(), r.code, r.err, firstLine(r.stderr.String()))
		case <-deadline.C:
			_, _ = m.Stop()
			return nil, fmt.Errorf("probe: %s: the meter did not start within %s", pairs[i].Name(), cfg.startTimeout)
		case <-ctx.Done():
			_, _ = m.Stop()
			return nil, ctx.Err()
		}
	}
	return m, nil
}

// Stop ends every pair's meter (by closing its stdin) and collects results.
func (m *Meter) Stop() (*DisruptionReport, error) {
	for _, r := range m.runs {
		_ = r.stdin.Close()
	}
	rep := &DisruptionReport{}
	var errs []error
	for i, r := range m.runs {
		<-r.done
		p := m.pairs[i]
		res, err := lastJSON[MeterResult]([]byte(r.out.String()))
		if r.err != nil || err != nil || res.Target == "" {
			errs = append(errs, fmt.Errorf("%s: the meter reported nothing (exit %d, %v): %s",
				p.Name(), r.code, r.err, firstLine(r.stderr.String())))
			continue
		}
		rep.Pairs = append(rep.Pairs, PairDisruption{Name: p.Name(), MeterResult: res})
	}
	return rep, errors.Join(errs...)
}

// PairDisruption is one pair's figures.
type PairDisruption struct {
	Name string
	MeterResult
}

// DisruptionReport holds every pair's figures.
type DisruptionReport struct {
	Pairs []PairDisruption
}

// Check applies the budget to every pair; the error names each pair over it.
func (r *DisruptionReport) Check(b Budget) error {
	var errs []error
	for _, p := range r.Pairs {
		if err := b.Check(p.Name, p.MeterResult); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Table renders sent, lost, loss %, longest gap, probes held by a busy
// probe process, the probe sockets' drops and gap windows per pair.
func (r *DisruptionReport) Table() string {
	var b bytes.Buffer
	t := table.New(&b, "pair", "sent", "lost", "loss", "longest gap", "held", "socket drops", "gaps")
	for _, p := range r.Pairs {
		var gaps []string
		for _, g := range p.Gaps {
			gaps = append(gaps, fmt.Sprintf("%s-%s (%.0f ms)", g.Start.Format("15:04:05.000"), g.End.Format("15:04:05.000"), g.MS))
		}
		held, dropped := "-", "-"
		if p.Held > 0 {
			held = fmt.Sprintf("%d (up to %.0f ms)", p.Held, max(p.EchoHeldMaxMS, p.ReadLateMaxMS))
		}
		if p.SocketDrops+p.EchoSocketDrops > 0 {
			dropped = fmt.Sprintf("meter %d, echo %d", p.SocketDrops, p.EchoSocketDrops)
		}
		t.Row(p.Name, p.Sent, p.Lost, fmt.Sprintf("%.2f%%", p.LossPct), fmt.Sprintf("%.0f ms", p.LongestGapMS), held, dropped, strings.Join(gaps, ", "))
	}
	_ = t.Flush()
	return b.String()
}

// lineWriter keeps everything written and calls onLine for each full line.
type lineWriter struct {
	mu     sync.Mutex
	all    bytes.Buffer
	part   []byte
	onLine func(string)
}

func (w *lineWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.all.Write(p)
	w.part = append(w.part, p...)
	for {
		i := bytes.IndexByte(w.part, '\n')
		if i < 0 {
			break
		}
		line := string(w.part[:i])
		w.part = w.part[i+1:]
		if w.onLine != nil {
			w.onLine(line)
		}
	}
	return len(p), nil
}

func (w *lineWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.all.String()
}
