package router

import (
	"context"
	"fmt"
	mrand "math/rand/v2"
	"os"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"
)

// BenchmarkCheckDelay: the delay from a speaker's advertisement to the
// prefix-learned check passing, watching events vs a 1-second polling loop,
// on the same netns lab (router and GoBGP speaker as processes, checks
// over the router's gRPC API). 50 advertisements per method and iteration.
func BenchmarkCheckDelay(b *testing.B) {
	const ads = 50
	l := newBGPLab(b, nil)
	ctx := context.Background()
	n1 := l.addNode("node1", "10.80.0.11", "10.85.1.0/24")
	_, spk := l.gobgpSpeaker(n1, 65001)
	if err := l.k.PrefixLearned(ctx, n1.Node, n1.block); err != nil {
		b.Fatal(err)
	}
	// The check is already waiting when the speaker advertises, as in a
	// suite; the pause before each advertisement is random so it falls at a
	// random phase of the polling loop's ticker.
	measure := func(k *Checker, base int) []time.Duration {
		out := make([]time.Duration, 0, ads)
		for i := 0; i < ads; i++ {
			p := fmt.Sprintf("10.%d.%d.0/24", 90+(base+i)/250, (base+i)%250)
			passed := make(chan time.Time, 1)
			errc := make(chan error, 1)
			go func() {
				if err := k.PrefixLearned(ctx, n1.Node, p); err != nil {
					errc <- err
					return
				}
				passed <- time.Now()
			}()
			time.Sleep(50*time.Millisecond + time.Duration(mrand.Int64N(int64(time.Second))))
			start := time.Now()
			if err := spk.Advertise(ctx, p, n1.Address); err != nil {
				b.Fatal(err)
			}
			select {
			case t := <-passed:
				out = append(out, t.Sub(start))
			case err := <-errc:
				b.Fatal(err)
			}
		}
		return out
	}
	var ev, poll []time.Duration
	base := 0
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		ev = append(ev, measure(&Checker{Client: l.client, Timeout: 10 * time.Second}, base)...)
		base += ads
		poll = append(poll, measure(&Checker{Client: l.client, Timeout: 10 * time.Second, Poll: time.Second}, base)...)
		base += ads
	}
	b.StopTimer()
	em, ep := quantile(ev, 0.5), quantile(ev, 0.99)
	pm, pp := quantile(poll, 0.5), quantile(poll, 0.99)
	b.ReportMetric(ms(em), "event-median-ms")
	b.ReportMetric(ms(ep), "event-p99-ms")
	b.ReportMetric(ms(pm), "poll1s-median-ms")
	b.ReportMetric(ms(pp), "poll1s-p99-ms")
	b.ReportMetric(float64(pm)/float64(em), "poll/event-median-ratio")
	b.Logf("advertisement -> check passed over %d advertisements each:\n  events:       median %v  p99 %v\n  1 s polling:  median %v  p99 %v\n  ratio (poll/event median): %.0fx",
		len(ev), em.Round(time.Microsecond), ep.Round(time.Microsecond), pm.Round(time.Microsecond), pp.Round(time.Microsecond), float64(pm)/float64(em))
}

// BenchmarkRouteInstall10k: 10,000 routes from 3 peers into the router's
// kernel table. The speakers hold their routes before the router starts;
// the clock runs from the first session up to the last route in the
// kernel. Reports install rate and the router process's memory.
func BenchmarkRouteInstall10k(b *testing.B) {
	const total, peers = 10000, 3
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		l := newBGPLabWith(b, true, nil)
		ctx := context.Background()
		var nodes []*labNode
		for p := 0; p < peers; p++ {
			n := l.addNode(fmt.Sprintf("node%d", p+1), fmt.Sprintf("10.80.0.%d", 11+p), fmt.Sprintf("10.85.%d.0/24", p+1))
			_, c := l.gobgpSpeaker(n, uint32(65001+p))
			var pfx []string
			for j := p; j < total-peers; j += peers {
				// 10.100.0.0 upward: distinct /28s.
				pfx = append(pfx, fmt.Sprintf("10.%d.%d.%d/28", 100+j/4096, (j/16)%256, (j%16)*16))
			}
			if err := c.AdvertiseMany(ctx, pfx, n.Address); err != nil {
				b.Fatal(err)
			}
			nodes = append(nodes, n)
		}
		start := time.Now()
		l.startRouter()
		wctx, cancel := context.WithCancel(ctx)
		events, err := l.client.Watch(wctx)
		if err != nil {
			b.Fatal(err)
		}
		firstUp := make(chan time.Time, 1)
		go func() {
			sent := false
			for ev := range events {
				if !sent && ev.Type == EventPeer && ev.Peer.Established() {
					firstUp <- time.Now()
					sent = true
				}
			}
		}()
		b.StartTimer()
		// Poll the kernel table (bounded) until every route is installed.
		deadline := time.Now().Add(2 * time.Minute)
		for {
			rs, err := l.router.Routes(ProtoBGP)
			if err != nil {
				b.Fatal(err)
			}
			if len(rs) >= total {
				break
			}
			if time.Now().After(deadline) {
				b.Fatalf("router kernel has %d of %d routes after 2m", len(rs), total)
			}
			time.Sleep(10 * time.Millisecond)
		}
		done := time.Now()
		b.StopTimer()
		cancel()
		up := <-firstUp
		install := done.Sub(up)
		rss, hwm := procMemory(l.proc.Pid())
		b.ReportMetric(float64(total)/install.Seconds(), "routes/s")
		b.ReportMetric(rss/1024, "router-rss-MiB")
		b.ReportMetric(hwm/1024, "router-peak-rss-MiB")
		b.Logf("%d routes from %d peers: first session up %v after router start, all in the kernel %v later (%.0f routes/s); router RSS %.1f MiB, peak %.1f MiB",
			total, peers, up.Sub(start).Round(time.Millisecond), install.Round(time.Millisecond), float64(total)/install.Seconds(), rss/1024, hwm/1024)
		for _, n := range nodes {
			if err := l.k.PeerEstablished(ctx, n.Node); err != nil {
				b.Fatal(err)
			}
		}
		b.StartTimer()
	}
}

// procMemory returns VmRSS and VmHWM of a process in KiB.
func procMemory(pid int) (rss, hwm float64) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		v, _ := strconv.ParseFloat(f[1], 64)
		switch f[0] {
		case "VmRSS:":
			rss = v
		case "VmHWM:":
			hwm = v
		}
	}
	return rss, hwm
}

func quantile(d []time.Duration, q float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	s := append([]time.Duration(nil), d...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	i := int(q*float64(len(s)-1) + 0.5)
	return s[i]
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
