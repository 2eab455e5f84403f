package topologies

import (
	"context"
	"testing"
	"time"
)

// Docker side of `hybridcni up` and `down`: network, router (until its API
// answers) and on-prem host (until echo listens), then their removal.
func BenchmarkDockerSideUpDown(b *testing.B) {
	dc := dockerTier(b)
	_, imgs := harness(b, dc)
	topo, _ := Load("default")
	r := testRun(b, dc, nil)
	var up, down time.Duration
	for i := 0; b.Loop(); i++ {
		name := UniqueName("bench")
		cleanupRun(b, dc, name)
		start := time.Now()
		e, err := Up(context.Background(), dc, Spec{Run: r, Topology: topo, Name: name, Images: imgs})
		if err != nil {
			b.Fatal(err)
		}
		mid := time.Now()
		if err := e.Down(context.Background()); err != nil {
			b.Fatal(err)
		}
		up += mid.Sub(start)
		down += time.Since(mid)
	}
	b.ReportMetric(up.Seconds()/float64(b.N), "s/up")
	b.ReportMetric(down.Seconds()/float64(b.N), "s/down")
}

// Teardown after an interrupt: from the cancel (after the router step) to
// Up returning with everything removed.
func BenchmarkTeardownAfterInterrupt(b *testing.B) {
	dc := dockerTier(b)
	_, imgs := harness(b, dc)
	topo, _ := Load("default")
	r := testRun(b, dc, nil)
	var teardown time.Duration
	for b.Loop() {
		name := UniqueName("bench-int")
		cleanupRun(b, dc, name)
		ctx, cancel := context.WithCancel(context.Background())
		var at time.Time
		_, err := Up(ctx, dc, Spec{Run: r, Topology: topo, Name: name, Images: imgs}, WithAfterStep(func(step string) {
			if step == StepRouter {
				at = time.Now()
				cancel()
			}
		}))
		teardown += time.Since(at)
		cancel()
		if err == nil {
			b.Fatal("interrupted Up succeeded")
		}
		if left := leftovers(b, dc, name); len(left) > 0 {
			b.Fatalf("left %s", names(left))
		}
	}
	b.ReportMetric(teardown.Seconds()/float64(b.N), "s/teardown")
}
