package cilium_test

import (
	"context"
	"testing"
	"time"

	"github.com/hybridcni/hybridcni/framework/cni"
	"github.com/hybridcni/hybridcni/framework/cni/cilium"
	"github.com/hybridcni/hybridcni/framework/cni/cnitest"
	"github.com/hybridcni/hybridcni/framework/config"
)

// BenchmarkCiliumLifecycle times each step (install, pre-flight, upgrade,
// rollback, uninstall, cleanup) on the API tier with the real charts,
// split into waiting for the cluster and the harness's own work.
func BenchmarkCiliumLifecycle(b *testing.B) {
	_, c, src, run := cnitest.Lifecycle(b, config.Cilium, 3, 1, "1.16.18")
	times := &cnitest.StepTimes{}
	d := cilium.NewDriver(c, cni.Options{Source: src, Timeout: time.Minute, Record: times.Record})
	ctx := context.Background()
	b.ResetTimer()
	for range b.N {
		if _, err := d.Install(ctx, run); err != nil {
			b.Fatal(err)
		}
		if _, err := d.Upgrade(ctx, run, "1.16.19"); err != nil {
			b.Fatal(err)
		}
		if _, err := d.Rollback(ctx, run, 0); err != nil {
			b.Fatal(err)
		}
		if err := d.Uninstall(ctx); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		cnitest.RegisterCRDs(b, c, cnitest.CiliumOperatorCRDs()...)
		b.StartTimer()
		if _, err := d.Cleanup(ctx); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	times.Report(b)
}
