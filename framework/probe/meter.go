package probe

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/hybridcni/hybridcni/framework/config"
	"github.com/hybridcni/hybridcni/framework/echo"
)

// DefaultRate is the disruption meter's probe rate per pair (probes/s).
const DefaultRate = 50

// MeterSpec is one meter run from the current place to a disruption endpoint.
type MeterSpec struct {
	// Target is udp://IP:PORT (echo's UDP port) or tcp://IP:PORT (echo's TCP
	// disruption port; one connection per probe).
	Target string
	// Rate in probes per second (default DefaultRate).
	Rate int
	// ReplyTimeout: a probe without a reply this long after sending is lost
	// (default 1 s).
	ReplyTimeout time.Duration
	// MaxDuration bounds the run even if nobody stops it (default 1 h).
	MaxDuration time.Duration
}

// Validate names the bad field and the fix.
func (s MeterSpec) Validate() error {
	t, err := parseTarget(s.Target)
	if err != nil {
		return err
	}
	if t.proto != UDP && t.proto != TCP {
		return config.Invalid("target", fmt.Sprintf("the disruption meter speaks udp or tcp, not %s", t.proto),
			"use udp://IP:PORT (echo --udp-port) or tcp://IP:PORT (echo --tcp-port)")
	}
	if s.Rate < 0 || s.Rate > 1000 {
		return config.Invalid("rate", fmt.Sprintf("%d probes/s is out of range", s.Rate), "use 1-1000 (default 50)")
	}
	if s.ReplyTimeout < 0 || s.MaxDuration < 0 {
		return config.Invalid("reply-timeout", "negative duration", "use a positive duration such as 1s")
	}
	return nil
}

func (s *MeterSpec) defaults() {
	if s.Rate == 0 {
		s.Rate = DefaultRate
	}
	if s.ReplyTimeout == 0 {
		s.ReplyTimeout = time.Second
	}
	if s.MaxDuration == 0 {
		s.MaxDuration = time.Hour
	}
}

// Gap is a run of consecutive lost probes: from the send time of the first
// lost probe to the send time of the next answered one.
type Gap struct {
	Start time.Time `json:"start"`
	End   time.Time `json:"end"`
	MS    float64   `json:"ms"`
	Lost  int       `json:"lost"`
}

// MeterResult is one pair's disruption record (the last JSON line of
// `hybridcni probe meter`).
type MeterResult struct {
	Target     string    `json:"target"`
	Rate       int       `json:"rate"`
	IntervalMS float64   `json:"interval_ms"`
	Started    time.Time `json:"started"`
	Stopped    time.Time `json:"stopped"`
	Sent       int       `json:"sent"`
	Lost       int       `json:"lost"`
	LossPct    float64   `json:"loss_pct"`
	// LongestGapMS is the longest Gap; 0 when nothing was lost.
	LongestGapMS float64 `json:"longest_gap_ms"`
	Gaps         []Gap   `json:"gaps,omitempty"`
	// SendErrors counts probes the kernel refused to send (no route): lost too.
	SendErrors int `json:"send_errors,omitempty"`
	// LateP50MS, LateP99MS and MaxLateMS are how far sends fell behind
	// their schedule: the meter's own timing error.
	LateP50MS float64 `json:"late_p50_ms"`
	LateP99MS float64 `json:"late_p99_ms"`
	MaxLateMS float64 `json:"max_late_ms"`
	// Held counts UDP probes whose reply crossed the network within the
	// reply timeout but reached the meter later than it, because a busy
	// probe process (the echo, or the meter itself) held it: answered,
	// not lost, and counted so a starved machine shows.
	Held int `json:"held,omitempty"`
	// EchoHeldMaxMS is the longest an echo held a probe, from its kernel's
	// arrival stamp to its reply; ReadLateMaxMS the longest a reply waited
	// in the meter's socket before the meter read it.
	EchoHeldMaxMS float64 `json:"echo_held_max_ms"`
	ReadLateMaxMS float64 `json:"read_late_max_ms"`
	// KernelStamps says replies carried the kernel's arrival time (UDP on
	// Linux); without them a late read counts against the network.
	KernelStamps bool `json:"kernel_stamps"`
	// SocketDrops counts replies the meter's own socket dropped (a full
	// receive buffer while the meter was busy): lost, but not on the
	// network. EchoSocketDrops counts datagrams the echo's socket dropped
	// while this pair ran, for all the echo's clients (so pairs to one echo
	// share them): lost to a busy echo, not to the network.
	SocketDrops     uint32 `json:"socket_drops,omitempty"`
	EchoSocketDrops uint32 `json:"echo_socket_drops,omitempty"`
	// ReceiveBuffer is the meter socket's receive buffer as granted (bytes).
	ReceiveBuffer int `json:"receive_buffer,omitempty"`
}

// MeterStarted is the first line `hybridcni probe meter` prints, once the
// first probe is out.
type MeterStarted struct {
	Event  string    `json:"event"` // "started"
	Target string    `json:"target"`
	At     time.Time `json:"at"`
}

// record is one probe: when it was sent and whether it was answered in time
// (held: only once the probe processes' own delay is taken off).
type record struct {
	sent     time.Time
	answered bool
	held     bool
}

// analyze counts losses and gaps in probes sent every interval.
func analyze(recs []record, interval time.Duration) (lost int, gaps []Gap) {
	for i := 0; i < len(recs); {
		if recs[i].answered {
			i++
			continue
		}
		j := i
		for j < len(recs) && !recs[j].answered {
			j++
		}
		end := recs[j-1].sent.Add(interval)
		if j < len(recs) {
			end = recs[j].sent
		}
		g := Gap{Start: recs[i].sent, End: end, Lost: j - i}
		g.MS = ms(end.Sub(g.Start))
		gaps = append(gaps, g)
		lost += j - i
		i = j
	}
	return lost, gaps
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// RunMeter sends sequence-numbered probes at a fixed rate from the current
// network namespace until stop is closed, ctx ends or MaxDuration passes,
// then waits ReplyTimeout for stragglers and reports. started (optional) is
// called once the first probe is out.
func RunMeter(ctx context.Context, spec MeterSpec, stop <-chan struct{}, started func(time.Time)) (MeterResult, error) {
	if err := spec.Validate(); err != nil {
		return MeterResult{}, err
	}
	spec.defaults()
	t, _ := parseTarget(spec.Target)
	interval := time.Second / time.Duration(spec.Rate)
	res := MeterResult{Target: spec.Target, Rate: spec.Rate, IntervalMS: ms(interval)}

	var (
		mu   sync.Mutex
		recs []record
	)
	var echoHeld, readLate time.Duration
	// drops: the meter socket's count, the echo's first and last seen.
	var drops struct {
		meter, echoFirst, echoLast uint32
		seen                       bool
	}
	// answer judges one reply: arrived is when it reached the meter's
	// socket, read when the meter read it, held how long the echo kept it.
	// The network's part of the round trip is arrived - sent - held.
	answer := func(seq uint64, arrived, read time.Time, held time.Duration) {
		mu.Lock()
		defer mu.Unlock()
		if seq >= uint64(len(recs)) || recs[seq].answered {
			return
		}
		r := &recs[seq]
		rtt := arrived.Sub(r.sent)
		if rtt < 0 || arrived.After(read) {
			arrived, rtt = read, read.Sub(r.sent) // a stamp that cannot be right
		}
		if held < 0 || held > rtt {
			held = 0
		}
		if rtt-held > spec.ReplyTimeout {
			return
		}
		r.answered = true
		r.held = read.Sub(r.sent) > spec.ReplyTimeout
		echoHeld, readLate = max(echoHeld, held), max(readLate, read.Sub(arrived))
	}
	var send func(seq uint64, at time.Time) error
	closeConn := func() {}
	var wg sync.WaitGroup
	switch t.proto {
	case UDP:
		var d net.Dialer
		c, err := d.DialContext(ctx, "udp", t.hostPort())
		if err != nil {
			return res, fmt.Errorf("probe meter: %w", err)
		}
		defer c.Close()
		closeConn = func() { c.Close() }
		uc := c.(*net.UDPConn)
		res.KernelStamps = echo.StampReceives(uc)
		res.ReceiveBuffer = echo.GrowReceiveBuffer(uc, echo.ProbeReceiveBuffer)
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf, oob := make([]byte, 64), make([]byte, echo.OOBSize)
			for {
				n, _, arrived, err := echo.ReadStamped(uc, buf, oob)
				read := time.Now()
				if errors.Is(err, net.ErrClosed) {
					return
				}
				if err != nil {
					continue // ICMP errors surface as ECONNREFUSED on a connected socket
				}
				if r, ok := echo.DecodeReply(buf[:n]); ok {
					answer(r.Seq, arrived.At, read, r.Held)
					mu.Lock()
					drops.meter = max(drops.meter, arrived.Drops)
					if !drops.seen {
						drops.echoFirst, drops.seen = r.Drops, true
					}
					drops.echoLast = max(drops.echoLast, r.Drops)
					mu.Unlock()
				}
			}
		}()
		send = func(seq uint64, at time.Time) error {
			_, err := c.Write(echo.EncodeSeq(seq, at))
			return err
		}
	case TCP:
		send = func(seq uint64, at time.Time) error {
			wg.Add(1)
			go func() {
				defer wg.Done()
				cctx, cancel := context.WithTimeout(context.Background(), spec.ReplyTimeout)
				defer cancel()
				var d net.Dialer
				c, err := d.DialContext(cctx, "tcp", t.hostPort())
				if err != nil {
					return
				}
				defer c.Close()
				dl, _ := cctx.Deadline()
				_ = c.SetDeadline(dl)
				if _, err := c.Write(echo.EncodeSeq(seq, at)); err != nil {
					return
				}
				buf := make([]byte, echo.SeqLen)
				if _, err := io.ReadFull(c, buf); err != nil {
					return
				}
				if got, _, ok := echo.DecodeSeq(buf); ok && got == seq {
					now := time.Now()
					answer(seq, now, now, 0)
				}
			}()
			return nil
		}
	}

	limit := time.NewTimer(spec.MaxDuration)
	defer limit.Stop()
	tick := time.NewTimer(0)
	defer tick.Stop()
	var lates []time.Duration
	begin := time.Now()
	res.Started = begin
loop:
	for seq := uint64(0); ; seq++ {
		due := begin.Add(time.Duration(seq) * interval)
		tick.Reset(time.Until(due))
		select {
		case <-stop:
			break loop
		case <-ctx.Done():
			break loop
		case <-limit.C:
			break loop
		case <-tick.C:
		}
		now := time.Now()
		lates = append(lates, now.Sub(due))
		mu.Lock()
		recs = append(recs, record{sent: now})
		mu.Unlock()
		if err := send(seq, now); err != nil {
			res.SendErrors++ // e.g. ENETUNREACH while a route is gone: lost
		}
		if seq == 0 && started != nil {
			started(now)
		}
	}
	res.Stopped = time.Now()
	// Give the last probes their reply timeout, then stop listening.
	wait := time.NewTimer(spec.ReplyTimeout)
	select {
	case <-wait.C:
	case <-ctx.Done():
		wait.Stop()
	}
	closeConn()
	wg.Wait()
	mu.Lock()
	final := append([]record(nil), recs...)
	mu.Unlock()
	res.Sent = len(final)
	res.Lost, res.Gaps = analyze(final, interval)
	for _, r := range final {
		if r.held {
			res.Held++
		}
	}
	res.EchoHeldMaxMS, res.ReadLateMaxMS = ms(echoHeld), ms(readLate)
	res.SocketDrops = drops.meter
	if drops.echoLast > drops.echoFirst {
		res.EchoSocketDrops = drops.echoLast - drops.echoFirst
	}
	if res.Sent > 0 {
		res.LossPct = 100 * float64(res.Lost) / float64(res.Sent)
	}
	for _, g := range res.Gaps {
		res.LongestGapMS = max(res.LongestGapMS, g.MS)
	}
	if len(lates) > 0 {
		slices.Sort(lates)
		res.LateP50MS = ms(lates[len(lates)/2])
		res.LateP99MS = ms(lates[len(lates)*99/100])
		res.MaxLateMS = ms(lates[len(lates)-1])
	}
	return res, nil
}

// The default disruption budget of an upgrade hop, per pair.
//
// DefaultMaxGap (2 s): a TCP connection rides out a 2 s gap with one or two
// retransmissions (Linux's initial RTO is 1 s) and no reset; a UDP client
// with the common 1-2 s retry sees at most one retry; kubelet probes
// (failure threshold 3 by default) do not flip. A longer gap is what users
// notice as an outage.
//
// DefaultMaxLossPct (1 %): an upgrade hop takes one to a few minutes, so 1 %
// allows about one such gap per hop plus scattered drops, while a quiet
// environment loses nothing (the lab baseline: 0 lost per pair): anything
// near 1 % is the operation, not noise. Both figures are per pair, so one
// bad path cannot hide behind many good ones.
const (
	DefaultMaxGap     = 2 * time.Second
	DefaultMaxLossPct = 1.0
)

// Budget is how much disruption an operation may cause, per pair. A zero
// field means the default (DefaultMaxGap, DefaultMaxLossPct), so a zero
// Budget is the documented default, never "anything goes"; a negative field
// is not checked (say so explicitly with Unchecked).
type Budget struct {
	MaxGap     time.Duration
	MaxLossPct float64
}

// Unchecked is the value of a Budget field that is not checked.
const Unchecked = -1

// Effective returns the budget with zero fields set to the defaults.
func (b Budget) Effective() Budget {
	if b.MaxGap == 0 {
		b.MaxGap = DefaultMaxGap
	}
	if b.MaxLossPct == 0 {
		b.MaxLossPct = DefaultMaxLossPct
	}
	return b
}

func (b Budget) String() string {
	b = b.Effective()
	var parts []string
	if b.MaxGap > 0 {
		parts = append(parts, "gap "+b.MaxGap.String())
	}
	if b.MaxLossPct > 0 {
		parts = append(parts, fmt.Sprintf("loss %.2f%%", b.MaxLossPct))
	}
	if len(parts) == 0 {
		return "no budget"
	}
	return strings.Join(parts, ", ")
}

// Check returns an error naming the pair and both figures when r is over budget.
func (b Budget) Check(name string, r MeterResult) error {
	b = b.Effective()
	var errs []error
	if b.MaxGap > 0 && r.LongestGapMS > ms(b.MaxGap) {
		errs = append(errs, fmt.Errorf("%s: longest gap %.0f ms exceeds the budget of %s (%d probes lost of %d)",
			name, r.LongestGapMS, b.MaxGap, r.Lost, r.Sent))
	}
	if b.MaxLossPct > 0 && r.LossPct > b.MaxLossPct {
		errs = append(errs, fmt.Errorf("%s: loss %.2f%% (%d of %d probes) exceeds the budget of %.2f%%",
			name, r.LossPct, r.Lost, r.Sent, b.MaxLossPct))
	}
	return errors.Join(errs...)
}
