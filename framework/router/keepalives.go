package router

import (
	"context"
	"fmt"
	"sync"
	"time"

	api "github.com/osrg/gobgp/v3/api"
)

// The router's neighbor state has message counts, not arrival times, so a
// node's keepalive interval is measured by watching its KEEPALIVE count go
// up. Measured when the check runs, that takes up to three intervals (30 s
// at the guide's 10 s) per phase. A keepalive log samples the counts in the
// background from the start of a run, so the check judges the gaps already
// seen on the node's current session and waits only for what is missing.

const (
	// keepalivePoll is how often the counts are read (the gaps are known to
	// about this).
	keepalivePoll = 100 * time.Millisecond
	// keepaliveBlind: a look this long after the one before it leaves a
	// blind spot (the process was starved); no gap across it is judged.
	keepaliveBlind = time.Second
	// keepaliveKept is how many changes are kept per node (at one KEEPALIVE
	// every 10 s, about ten minutes).
	keepaliveKept = 64
)

// kaSample is one look at a node's counts, kept when something changed.
type kaSample struct {
	at time.Time
	// session is when the node's session came up: a new session starts a
	// new history.
	session   time.Time
	keepalive uint64
	update    uint64
	// blind: the look before this one was more than keepaliveBlind ago.
	blind bool
}

// keepaliveLog records, per node address, the changes of its counts.
type keepaliveLog struct {
	mu     sync.Mutex
	peers  map[string][]kaSample
	cancel context.CancelFunc
	done   chan struct{}
}

// WatchKeepalives starts recording, in the background until ctx ends or
// the client is closed, when each node's KEEPALIVE and UPDATE counts go up;
// PeerParameters then judges the keepalive interval on gaps already seen.
// A second call while one runs does nothing.
func (c *Client) WatchKeepalives(ctx context.Context) {
	c.kaMu.Lock()
	defer c.kaMu.Unlock()
	if c.ka != nil {
		select {
		case <-c.ka.done:
		default:
			return
		}
	}
	ctx, cancel := context.WithCancel(ctx)
	l := &keepaliveLog{peers: map[string][]kaSample{}, cancel: cancel, done: make(chan struct{})}
	c.ka = l
	go l.run(ctx, c.b)
}

// stopKeepalives ends the recording and waits for it.
func (c *Client) stopKeepalives() {
	c.kaMu.Lock()
	l := c.ka
	c.kaMu.Unlock()
	if l != nil {
		l.cancel()
		<-l.done
	}
}

func (c *Client) keepalives() *keepaliveLog {
	c.kaMu.Lock()
	defer c.kaMu.Unlock()
	return c.ka
}

func (l *keepaliveLog) run(ctx context.Context, b backend) {
	defer close(l.done)
	tick := time.NewTicker(keepalivePoll)
	defer tick.Stop()
	var last time.Time
	for {
		now := time.Now()
		blind := !last.IsZero() && now.Sub(last) > keepaliveBlind
		looked := map[string]kaSample{}
		err := b.listPeers(ctx, func(p *api.Peer) {
			pe := peerFromAPI(p)
			if !pe.Established() {
				return
			}
			r := p.GetState().GetMessages().GetReceived()
			looked[pe.Address] = kaSample{at: now, session: pe.Up, keepalive: r.GetKeepalive(), update: r.GetUpdate(), blind: blind}
		})
		if err == nil {
			last = now
			l.record(looked)
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// record keeps each node's look when it differs from the one before.
func (l *keepaliveLog) record(looked map[string]kaSample) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for addr, s := range looked {
		h := l.peers[addr]
		if n := len(h); n > 0 {
			p := h[n-1]
			if !s.blind && p.session.Equal(s.session) && p.keepalive == s.keepalive && p.update == s.update {
				continue
			}
		}
		h = append(h, s)
		if len(h) > keepaliveKept {
			h = h[len(h)-keepaliveKept:]
		}
		l.peers[addr] = h
	}
}

// history is what was recorded of node addr's session that came up at
// session, oldest first.
func (l *keepaliveLog) history(addr string, session time.Time) []kaSample {
	if l == nil {
		return nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	h := l.peers[addr]
	i := len(h)
	for i > 0 && h[i-1].session.Equal(session) {
		i--
	}
	return append([]kaSample(nil), h[i:]...)
}

// gapJudge measures a node's keepalive interval from looks at its counts,
// recorded or live: two gaps between KEEPALIVEs, each within the tolerance
// of want, fail at once on a gap or a silence outside it. A gap with an
// UPDATE in it is not judged (a speaker may restart its keepalive timer
// when it sends one, as BIRD does), nor one across a blind spot.
type gapJudge struct {
	n           Node
	want        time.Duration
	lo, hi      time.Duration
	primed      bool
	last, upd   uint64
	seen, start time.Time
	gaps        []time.Duration
	// recorded counts the gaps judged from the keepalive log.
	recorded int
}

func newGapJudge(n Node, want time.Duration) *gapJudge {
	slack := time.Duration(float64(want)*keepaliveTolerance) + 2*keepalivePoll
	return &gapJudge{n: n, want: want, lo: want - slack, hi: want + slack}
}

// look takes one look at the counts; done once two gaps are measured.
func (j *gapJudge) look(s kaSample) (done bool, err error) {
	if !j.primed || s.blind || s.keepalive < j.last {
		// The first look, or one that cannot be compared with the last:
		// start over from here.
		j.primed, j.last, j.upd = true, s.keepalive, s.update
		j.seen, j.start = time.Time{}, s.at
		return false, nil
	}
	updated := s.update != j.upd
	j.upd = s.update
	if s.keepalive > j.last {
		if !j.seen.IsZero() && !updated {
			gap := s.at.Sub(j.seen)
			if d := s.keepalive - j.last; d > 1 {
				gap /= time.Duration(d)
			}
			j.gaps = append(j.gaps, gap)
			switch {
			case gap < j.lo:
				return false, fmt.Errorf("%s: keepalive every %s measured (gaps %s), want %s", j.n, secs(gap.Round(time.Second)), durList(j.gaps), secs(j.want))
			case gap > j.hi:
				return false, fmt.Errorf("%s: keepalive: none received for %s, want one every %s (gaps so far %s)",
					j.n, gap.Round(100*time.Millisecond), secs(j.want), durList(j.gaps[:len(j.gaps)-1]))
			}
		}
		j.seen, j.last = s.at, s.keepalive
		return len(j.gaps) >= 2, nil
	}
	if updated && !j.seen.IsZero() {
		j.seen, j.start = time.Time{}, s.at // start over from the next KEEPALIVE
	}
	return false, j.silence(s.at)
}

// silence fails when no KEEPALIVE came for longer than the tolerance allows.
func (j *gapJudge) silence(now time.Time) error {
	ref := j.seen
	if ref.IsZero() {
		ref = j.start
	}
	if now.Sub(ref) > j.hi {
		return fmt.Errorf("%s: keepalive: none received for %s, want one every %s (gaps so far %s)",
			j.n, now.Sub(ref).Round(100*time.Millisecond), secs(j.want), durList(j.gaps))
	}
	return nil
}
