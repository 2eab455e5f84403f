package calico_test

import (
	"context"
	"testing"
	"time"

	"github.com/hybridcni/hybridcni/framework/cni"
	"github.com/hybridcni/hybridcni/framework/cni/calico"
	"github.com/hybridcni/hybridcni/framework/cni/cnitest"
	"github.com/hybridcni/hybridcni/framework/config"
)

// BenchmarkCalicoLifecycle times each step (install, CRDs + upgrade,
// rollback, uninstall, cleanup) on the API tier with the real charts, split
// into waiting for the cluster and the harness's own work. The stand-in
// operator finishes its teardown in time (no finalizers left).
func BenchmarkCalicoLifecycle(b *testing.B) {
	_, c, src, run := cnitest.Lifecycle(b, config.Calico, 3, 1, "v3.29.6")
	cnitest.StartFakeTigeraOperator(b, c, "", cnitest.WithoutFinalizers())
	times := &cnitest.StepTimes{}
	d := calico.NewDriver(c, cni.Options{Source: src, Timeout: 3 * time.Minute, Record: times.Record})
	ctx := context.Background()
	b.ResetTimer()
	for range b.N {
		if _, err := d.Install(ctx, run); err != nil {
			b.Fatal(err)
		}
		if _, err := d.Upgrade(ctx, run, "v3.29.7"); err != nil {
			b.Fatal(err)
		}
		if _, err := d.Rollback(ctx, run, 0); err != nil {
			b.Fatal(err)
		}
		if err := d.Uninstall(ctx); err != nil {
			b.Fatal(err)
		}
		if _, err := d.Cleanup(ctx); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	times.Report(b)
}
