package suites

import (
	"context"
	"testing"
	"time"

	"github.com/onsi/gomega"

	"github.com/hybridcni/hybridcni/framework/cni"
)

// settlingDriver is ready after notYet, then stable for settle.
type settlingDriver struct {
	cni.Driver
	notYet, settle time.Duration
}

func (d settlingDriver) WaitReady(ctx context.Context) (*cni.Readiness, error) {
	time.Sleep(d.notYet)
	since := time.Now()
	time.Sleep(d.settle)
	return &cni.Readiness{StableSince: since}, nil
}

// The readiness check counts its settle window as waited by design and the
// wait before it as work, so a held fault's bound does not multiply the window.
func TestNodesReadyCountsItsSettleWindowByDesign(t *testing.T) {
	gomega.RegisterFailHandler(func(m string, _ ...int) { t.Fatalf("%s", m) })
	w := &world{driver: settlingDriver{notYet: 200 * time.Millisecond, settle: 600 * time.Millisecond}}
	start := time.Now()
	w.cniReady(context.Background())
	took := time.Since(start)
	if w.byDesign < 600*time.Millisecond || w.byDesign > took-200*time.Millisecond {
		t.Fatalf("waited by design %s of %s, want the 600ms settle window and not the 200ms before it", w.byDesign, took)
	}
	w.tookToPass("readiness/nodes-ready", took, w.byDesign)
	if d, said := w.faultWait("readiness/nodes-ready"); d != faultWaitFloor {
		t.Errorf("bound %s (%s), want the floor: the window is not multiplied", d, said)
	}
}
