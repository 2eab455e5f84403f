package suites

import (
	"context"

	. "github.com/onsi/gomega"

	"github.com/hybridcni/hybridcni/framework/probe"
)

// startMeter starts the disruption meter across pod-to-pod (cross-node),
// pod-to-service and pod-to-external pairs, or returns nil where the
// environment has no dataplane (the upgrade itself still runs).
func (w *world) startMeter(ctx context.Context) *probe.Meter {
	if !w.env.Has(Dataplane) {
		return nil
	}
	wl := w.dataplane(ctx)
	a := wl.pods[wl.order[0]][0]
	b := wl.pods[wl.order[len(wl.order)-1]][1]
	pairs := []probe.MeterPair{
		{From: w.source(a), To: probe.UDPTarget(b.Name, b.IP, echoUDPPort)},
		{From: w.source(b), To: probe.UDPTarget("service/"+echoService, wl.serviceIP, echoUDPPort)},
	}
	if w.env.Has(OnPremHost) && !w.podsUnreachableOnPrem() {
		pairs = append(pairs, probe.MeterPair{From: w.source(a), To: probe.UDPTarget(w.env.OnPrem.Name, w.env.OnPrem.IP, w.env.OnPremUDPPort).Outside()})
	}
	m, err := probe.StartMeter(ctx, pairs)
	Expect(err).NotTo(HaveOccurred(), "start the disruption meter")
	return m
}
