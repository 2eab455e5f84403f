package router

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"
)

// looks builds a node's looks at its counts: at seconds t, the KEEPALIVE
// and UPDATE counts.
func looks(t0 time.Time, rows ...[3]float64) []kaSample {
	var out []kaSample
	for _, r := range rows {
		out = append(out, kaSample{at: t0.Add(time.Duration(r[0] * float64(time.Second))), keepalive: uint64(r[1]), update: uint64(r[2])})
	}
	return out
}

func judge(t *testing.T, want time.Duration, ss []kaSample) (bool, error) {
	t.Helper()
	j := newGapJudge(Node{"worker", "10.80.0.3"}, want)
	for _, s := range ss {
		done, err := j.look(s)
		if done || err != nil {
			return done, err
		}
	}
	return false, nil
}

// The judge on recorded looks: two gaps of the wanted interval pass; a
// gap too short or too long fails naming the node; a gap with an UPDATE in
// it, or across a blind spot, is not judged.
func TestGapJudge(t *testing.T) {
	t0 := time.Unix(1000, 0)
	want := 10 * time.Second
	if done, err := judge(t, want, looks(t0, [3]float64{0, 5, 1}, [3]float64{3, 6, 1}, [3]float64{13, 7, 1}, [3]float64{23.1, 8, 1})); !done || err != nil {
		t.Errorf("gaps of 10 s and 10.1 s: done %v, err %v; want a pass", done, err)
	}
	_, err := judge(t, want, looks(t0, [3]float64{0, 5, 1}, [3]float64{3, 6, 1}, [3]float64{8, 7, 1}))
	mustContain(t, err, "node worker (10.80.0.3): keepalive every 5 s measured", "want 10 s")
	_, err = judge(t, want, looks(t0, [3]float64{0, 5, 1}, [3]float64{3, 6, 1}, [3]float64{33, 7, 1}))
	mustContain(t, err, "node worker (10.80.0.3): keepalive: none received for 30s", "want one every 10 s")
	// An UPDATE between two KEEPALIVEs 4 s apart: that gap is not judged.
	if done, err := judge(t, want, looks(t0, [3]float64{0, 5, 1}, [3]float64{3, 6, 1}, [3]float64{5, 6, 2}, [3]float64{7, 7, 2},
		[3]float64{17, 8, 2}, [3]float64{27, 9, 2})); !done || err != nil {
		t.Errorf("a short gap with an UPDATE in it: done %v, err %v; want a pass on the two gaps after it", done, err)
	}
	// A blind spot: the gap across it is not judged.
	ss := looks(t0, [3]float64{0, 5, 1}, [3]float64{3, 6, 1}, [3]float64{20, 7, 1}, [3]float64{30, 8, 1}, [3]float64{40, 9, 1}, [3]float64{50, 10, 1})
	ss[2].blind = true
	if done, err := judge(t, want, ss); !done || err != nil {
		t.Errorf("a 17 s gap across a blind spot: done %v, err %v; want it not judged", done, err)
	}
	// A count that went down (a new session's counters): start over.
	if done, err := judge(t, want, looks(t0, [3]float64{0, 50, 1}, [3]float64{3, 51, 1}, [3]float64{4, 1, 0}, [3]float64{14, 2, 0},
		[3]float64{24, 3, 0}, [3]float64{34, 4, 0})); !done || err != nil {
		t.Errorf("counters reset: done %v, err %v; want a pass on the new counts", done, err)
	}
}

// The log keeps a session's changes, not its unchanged looks, and a new
// session starts a new history.
func TestKeepaliveLogHistory(t *testing.T) {
	l := &keepaliveLog{peers: map[string][]kaSample{}}
	s1, s2 := time.Unix(100, 0), time.Unix(200, 0)
	at := func(sec int) time.Time { return time.Unix(int64(sec), 0) }
	for _, s := range []kaSample{{at: at(101), session: s1, keepalive: 1}, {at: at(102), session: s1, keepalive: 1},
		{at: at(111), session: s1, keepalive: 2}, {at: at(201), session: s2, keepalive: 1}, {at: at(211), session: s2, keepalive: 2}} {
		l.record(map[string]kaSample{"10.80.0.3": s})
	}
	if h := l.history("10.80.0.3", s2); len(h) != 2 || !h[0].at.Equal(at(201)) {
		t.Errorf("history of the second session = %+v, want its two changes", h)
	}
	if h := l.history("10.80.0.3", s1); len(h) != 0 {
		t.Errorf("history of an earlier session = %+v, want none (only the latest session counts)", h)
	}
	if h := (*keepaliveLog)(nil).history("10.80.0.3", s2); h != nil {
		t.Errorf("no log: %+v", h)
	}
}

// With the keepalive log running, the check judges gaps the router already
// saw: a node at the wanted interval passes on recorded gaps, and a node at
// another interval fails on them, named.
func TestPeerParametersJudgeRecordedKeepalives(t *testing.T) {
	ctx := context.Background()
	r, rc := startRouter(t, func(c *Config) { c.HoldTime = 90 * time.Second; c.Keepalive = 30 * time.Second })
	good := Node{"good", "127.0.0.41"}
	bad := Node{"bad", "127.0.0.42"}
	startSpeaker(t, rc, good.Address, func(c *Config) { c.HoldTime, c.Keepalive = 30*time.Second, time.Second })
	startSpeaker(t, rc, bad.Address, func(c *Config) { c.HoldTime, c.Keepalive = 30*time.Second, 3*time.Second })
	c := r.Client()
	c.WatchKeepalives(ctx)
	t.Cleanup(c.stopKeepalives)
	k := NewChecker(c)
	k.Timeout = 20 * time.Second
	for _, n := range []Node{good, bad} {
		if err := k.PeerEstablished(ctx, n); err != nil {
			t.Fatal(err)
		}
	}
	// Wait (bounded) until the log holds three KEEPALIVEs of each session.
	deadline := time.Now().Add(30 * time.Second)
	for _, n := range []Node{good, bad} {
		for {
			p, err := k.rawPeer(ctx, n)
			if err != nil {
				t.Fatal(err)
			}
			if h := c.keepalives().history(n.Address, peerFromAPI(p).Up); len(h) > 0 && h[len(h)-1].keepalive-h[0].keepalive >= 3 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("the keepalive log did not record three KEEPALIVEs of %s in 30 s", n)
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	var out bytes.Buffer
	k.Progress = &out
	want := PeerParams{Keepalive: time.Second}
	if err := k.PeerParameters(ctx, good, want); err != nil {
		t.Fatalf("a node at the wanted interval failed: %v", err)
	}
	if !strings.Contains(out.String(), "(2 seen before the check)") {
		t.Errorf("the check did not judge recorded gaps: %q", out.String())
	}
	mustContain(t, k.PeerParameters(ctx, bad, want),
		"node bad (127.0.0.42): keepalive: none received for", "want one every 1 s", "seen before the check")
}
