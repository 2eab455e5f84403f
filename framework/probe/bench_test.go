package probe_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/hybridcni/hybridcni/framework/lab"
	"github.com/hybridcni/hybridcni/framework/probe"
)

// BenchmarkProbeMatrix10x10: 10 client pods x 10 echo pods (half on each
// node, so half the probes cross the VXLAN overlay), HTTP /clientip with the
// source asserted. Reports probes/s and the median probe latency (the
// network exchange) and median per-probe wall time (including starting
// `hybridcni probe` in the pod's namespace).
func BenchmarkProbeMatrix10x10(b *testing.B) {
	c := newCluster(b, clusterOpts{podsPerNode: 10, masquerade: true})
	var clients, servers []*labPod
	for _, n := range c.nodes {
		clients = append(clients, n.pods[:5]...)
		servers = append(servers, n.pods[5:]...)
	}
	var exps []probe.Expectation
	for _, cl := range clients {
		for _, s := range servers {
			scenario := "pod-to-pod/same-node"
			if cl.node != s.node {
				scenario = "pod-to-pod/cross-node"
			}
			exps = append(exps, probe.ExpectSuccess(scenario, cl.source(), s.http(), probe.WithSource(cl.ip, "the pod IP")))
		}
	}
	var latencies, walls []float64
	b.ResetTimer()
	start := time.Now()
	for b.Loop() {
		check := probe.NewCheck(probe.WithConcurrency(16))
		must(b, check.Expect(exps...))
		rep := check.Run(context.Background())
		if err := rep.Err(); err != nil {
			b.Fatal(err)
		}
		for _, v := range rep.Verdicts {
			latencies = append(latencies, v.Result.LatencyMS)
			walls = append(walls, float64(v.Duration.Microseconds())/1000)
		}
	}
	elapsed := time.Since(start)
	b.ReportMetric(float64(len(latencies))/elapsed.Seconds(), "probes/s")
	b.ReportMetric(median(latencies), "median-probe-ms")
	b.ReportMetric(median(walls), "median-wall-ms")
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	slices.Sort(v)
	return v[len(v)/2]
}

// BenchmarkMeterTiming: how closely the meter keeps its schedule (the
// timing resolution of every gap it reports), running as `hybridcni probe
// meter` in a namespace at 200 probes/s for 1 s per op.
func BenchmarkMeterTiming(b *testing.B) {
	requireLabTools(b)
	l := lab.ForTest(b)
	srv, cli := mustNS(b, l, "srv"), mustNS(b, l, "cli")
	must(b, lab.Veth(lab.End{NS: srv, Name: "eth0", Addrs: []string{"10.99.9.1/24"}},
		lab.End{NS: cli, Name: "eth0", Addrs: []string{"10.99.9.2/24"}}))
	serveEcho(b, srv, "srv")
	pair := probe.MeterPair{
		From: probe.Source{Place: probe.InNetNS(cli, cliBin(), cliEnv), Name: "cli", IP: "10.99.9.2"},
		To:   probe.UDPTarget("srv", "10.99.9.1", udpPort),
	}
	var p50, p99, worst []float64
	for b.Loop() {
		m, err := probe.StartMeter(context.Background(), []probe.MeterPair{pair}, probe.WithRate(200))
		must(b, err)
		time.Sleep(time.Second) // the measured period
		rep, err := m.Stop()
		must(b, err)
		r := rep.Pairs[0]
		if r.Lost != 0 {
			b.Logf("meter lost %d of %d probes on an idle veth (a loaded machine): %+v", r.Lost, r.Sent, r.Gaps)
		}
		p50, p99, worst = append(p50, r.LateP50MS), append(p99, r.LateP99MS), append(worst, r.MaxLateMS)
	}
	b.ReportMetric(median(p50)*1000, "late-p50-µs")
	b.ReportMetric(median(p99)*1000, "late-p99-µs")
	b.ReportMetric(median(worst)*1000, "late-max-µs")
}
