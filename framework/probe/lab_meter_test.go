package probe_test

import (
	"context"
	"fmt"
	"math"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hybridcni/hybridcni/framework/lab"
	"github.com/hybridcni/hybridcni/framework/probe"
)

const meterInterval = time.Second / probe.DefaultRate

func startMeter(t *testing.T, pairs []probe.MeterPair) *probe.Meter {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	m, err := probe.StartMeter(ctx, pairs)
	must(t, err)
	return m
}

func stopMeter(t *testing.T, m *probe.Meter) *probe.DisruptionReport {
	t.Helper()
	rep, err := m.Stop()
	must(t, err)
	t.Logf("\n%s", rep.Table())
	return rep
}

// waitAnswer polls one UDP probe from p to dst until it is answered: the
// event that says the network is back.
func waitAnswer(t *testing.T, p *labPod, dst probe.Target) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		var r probe.Result
		must(t, p.ns.Do(func() (err error) {
			r, err = probe.Run(context.Background(), probe.Spec{Target: dst.URL(), Timeout: 100 * time.Millisecond})
			return err
		}))
		if r.OK {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s -> %s still unanswered 10s after the link came back: %s", p.name, dst.Name, r.Error)
		}
	}
}

// TestLabDisruptionMeter takes node1's underlay link down for a known time and checks the meter's longest gap against it; a same-node
// pair on the same client must see nothing, and an idle link loses nothing.
func TestLabDisruptionMeter(t *testing.T) {
	c := newCluster(t, clusterOpts{masquerade: true})
	n1 := c.nodes[0]
	a, b, x := n1.pods[0], n1.pods[1], c.nodes[1].pods[0]
	crossUDP := probe.UDPTarget(x.name, x.ip, udpPort)
	pairs := []probe.MeterPair{
		{From: a.source(), To: crossUDP},
		{From: x.source(), To: probe.TCPTarget(a.name, a.ip, tcpPort)},
		{From: a.source(), To: probe.UDPTarget(b.name, b.ip, udpPort)},
	}
	budget := probe.Budget{MaxGap: time.Second, MaxLossPct: 1}

	t.Run("idle link loses nothing", func(t *testing.T) {
		m := startMeter(t, pairs)
		time.Sleep(time.Second) // the measured period: nothing happens
		rep := stopMeter(t, m)
		for _, p := range rep.Pairs {
			if p.Lost != 0 || p.Sent < 40 || len(p.Gaps) != 0 {
				t.Errorf("%s: sent %d lost %d gaps %v on an idle link; want ~50 sent, none lost", p.Name, p.Sent, p.Lost, p.Gaps)
			}
		}
		if err := rep.Check(budget); err != nil {
			t.Fatalf("an idle link failed the budget: %v", err)
		}
	})

	for _, outage := range []time.Duration{300 * time.Millisecond, 1500 * time.Millisecond} {
		t.Run("link down "+outage.String(), func(t *testing.T) {
			m := startMeter(t, pairs)
			time.Sleep(200 * time.Millisecond) // a clean stretch before the outage
			// Node1's underlay link goes down: the VXLAN overlay loses its path.
			must(t, n1.ns.SetLinkUp("eth0", false))
			down := time.Now()
			time.Sleep(outage) // the operation under measurement
			up := time.Now()
			must(t, n1.ns.SetLinkUp("eth0", true))
			actual := up.Sub(down)
			// The kernel drops routes through a downed link; put the default back.
			must(t, n1.ns.ReplaceRoute(lab.Route{Dst: "default", Gw: routerNdIP}))
			waitAnswer(t, a, crossUDP)
			time.Sleep(200 * time.Millisecond) // a clean stretch after recovery
			rep := stopMeter(t, m)
			for _, p := range rep.Pairs[:2] { // the cross-node pairs
				// ±50 ms plus one interval; on a loaded machine also the
				// meter's own reported lateness (a stalled sender moves an edge).
				late := time.Duration(p.MaxLateMS * float64(time.Millisecond))
				tolerance := 50*time.Millisecond + meterInterval + late
				if late > 20*time.Millisecond {
					t.Logf("%s: the meter ran up to %v behind schedule (loaded machine); tolerance %v", p.Name, late, tolerance)
				}
				gap := time.Duration(p.LongestGapMS * float64(time.Millisecond))
				if math.Abs(float64(gap-actual)) > float64(tolerance) {
					t.Errorf("%s: longest gap %v, link was down %v: off by more than %v", p.Name, gap, actual, tolerance)
				}
				if len(p.Gaps) != 1 {
					t.Errorf("%s: %d gaps, want exactly the outage: %+v", p.Name, len(p.Gaps), p.Gaps)
					continue
				}
				g := p.Gaps[0]
				if g.Start.Before(down.Add(-tolerance)) || g.End.After(up.Add(tolerance)) {
					t.Errorf("%s: gap window %s-%s is not the outage %s-%s", p.Name,
						g.Start.Format("15:04:05.000"), g.End.Format("15:04:05.000"), down.Format("15:04:05.000"), up.Format("15:04:05.000"))
				}
			}
			if same := rep.Pairs[2]; same.Lost != 0 {
				t.Errorf("%s: lost %d probes, but its path never left node1", same.Name, same.Lost)
			}
			err := rep.Check(budget)
			if err == nil {
				t.Fatalf("a %v outage passed the budget %+v", outage, budget)
			}
			want := "exceeds the budget of 1.00%"
			if outage > time.Second {
				want = "exceeds the budget of 1s"
			}
			if !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "disruption: pod-1-0 (10.100.0.10) -> pod-2-0 (10.100.0.138)") {
				t.Fatalf("budget error lacks %q or the pair name: %v", want, err)
			}
			if strings.Contains(err.Error(), "-> pod-1-1") {
				t.Fatalf("the undisturbed same-node pair failed the budget: %v", err)
			}
		})
	}
}

// TestLabMeterBusyEchoIsNotNetworkLoss stops the on-prem echo process
// (SIGSTOP) for 1.5 s while the meter runs: the network delivered every
// probe, the process held them. Those probes are answered and counted as
// held, with the echo's holding time; a 1.5 s link outage on the same
// pair (TestLabDisruptionMeter) is loss. The echo's 8 MiB receive buffer
// holds the stall at 1,000 probes/s; with a buffer that cannot, the probes
// it dropped are lost and counted as the echo socket's drops.
func TestLabMeterBusyEchoIsNotNetworkLoss(t *testing.T) {
	c := newCluster(t, clusterOpts{masquerade: true})
	a := c.nodes[0].pods[0]
	pair := probe.MeterPair{From: a.source(), To: probe.UDPTarget("onprem-echo", onpremIP, udpPort).Outside()}
	m := startMeter(t, []probe.MeterPair{pair})
	time.Sleep(200 * time.Millisecond)
	const stall = 1500 * time.Millisecond
	must(t, c.echo.Signal(syscall.SIGSTOP))
	time.Sleep(stall) // the echo is starved
	must(t, c.echo.Signal(syscall.SIGCONT))
	time.Sleep(500 * time.Millisecond)
	rep := stopMeter(t, m)
	p := rep.Pairs[0]
	if !p.KernelStamps {
		t.Fatalf("%s: no kernel arrival stamps on Linux UDP", p.Name)
	}
	if p.Lost != 0 {
		t.Errorf("%s: %d probes counted lost, gaps %+v: the network delivered them, the echo process held them", p.Name, p.Lost, p.Gaps)
	}
	// Probes sent in the stall's first 0.5 s came back over a second late.
	if p.Held < 10 {
		t.Errorf("%s: %d probes held, want the ~25 the stopped echo kept over the reply timeout", p.Name, p.Held)
	}
	if held := time.Duration(p.EchoHeldMaxMS * float64(time.Millisecond)); held < stall-100*time.Millisecond || held > stall+time.Second {
		t.Errorf("%s: the echo held a probe at most %v, the process was stopped %v", p.Name, held, stall)
	}
	if err := rep.Check(probe.Budget{}); err != nil {
		t.Errorf("a busy echo failed the disruption budget: %v", err)
	}
	if p.EchoSocketDrops != 0 || p.SocketDrops != 0 {
		t.Errorf("%s: socket drops echo %d, meter %d in a stall the buffers hold", p.Name, p.EchoSocketDrops, p.SocketDrops)
	}

	// At 1,000 probes/s the echo's 8 MiB receive buffer holds the same
	// stall: nothing lost, nothing dropped.
	stalled := func(echoProc *lab.Proc) *probe.DisruptionReport {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		m, err := probe.StartMeter(ctx, []probe.MeterPair{pair}, probe.WithRate(1000))
		must(t, err)
		time.Sleep(200 * time.Millisecond)
		must(t, echoProc.Signal(syscall.SIGSTOP))
		time.Sleep(stall)
		must(t, echoProc.Signal(syscall.SIGCONT))
		time.Sleep(500 * time.Millisecond)
		return stopMeter(t, m)
	}
	rep = stalled(c.echo)
	if p = rep.Pairs[0]; p.Lost != 0 || p.EchoSocketDrops != 0 || p.Held < 500 {
		t.Errorf("%s at 1,000/s: lost %d, echo socket drops %d, held %d: want nothing lost or dropped, ~500 held", p.Name, p.Lost, p.EchoSocketDrops, p.Held)
	}

	// An echo with the kernel's smallest buffer (what a starved echo with
	// rmem_max's 208 KiB meets at a few hundred probes/s) overflows: those
	// probes are lost, and the meter says the echo's socket dropped them.
	c.echo.Stop(5 * time.Second)
	c.echo = startEchoProcess(t, c.onprem, "onprem-echo", "--udp-receive-buffer", "4096")
	rep = stalled(c.echo)
	p = rep.Pairs[0]
	if p.Lost == 0 || p.EchoSocketDrops == 0 || int(p.EchoSocketDrops+p.SocketDrops) != p.Lost {
		t.Errorf("%s: lost %d, socket drops echo %d, meter %d: want every loss a socket drop", p.Name, p.Lost, p.EchoSocketDrops, p.SocketDrops)
	}
	if s := rep.Table(); !strings.Contains(s, fmt.Sprintf("meter %d, echo %d", p.SocketDrops, p.EchoSocketDrops)) {
		t.Errorf("the table does not show the socket drops:\n%s", s)
	}
}
