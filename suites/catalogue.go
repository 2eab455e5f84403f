package suites

import (
	"fmt"
	"time"

	. "github.com/onsi/ginkgo/v2"

	"github.com/hybridcni/hybridcni/framework/checks"
)

// bodies are the catalogue's checks as the suites run them: one entry per
// check of framework/checks, keyed by its name (a test keeps both in step).
var bodies = map[string]func(*world, SpecContext){
	"readiness/not-ready-without-cni": (*world).nodesNotReady,
	"readiness/nodes-ready":           (*world).nodesReady,
	"placement":                       (*world).placement,
	"ipam/blocks":                     (*world).ipamBlocks,
	"ipam/pod-addresses":              (*world).ipamPods,
	"ipam/unchanged":                  (*world).ipamUnchanged,
	"pod-to-pod/same-node":            (*world).podToPodSameNode,
	"pod-to-pod/cross-node":           (*world).podToPodCrossNode,
	"vxlan/encapsulated":              (*world).vxlanEncapsulated,
	"pod-to-service/cluster-ip":       (*world).podToClusterIP,
	"pod-to-service/dns":              (*world).podToServiceDNS,
	"node-to-pod":                     (*world).nodeToPod,
	"pod-to-node":                     (*world).podToNode,
	"pod-to-external":                 (*world).podToExternal,
	"control-plane-to-node":           (*world).controlPlaneToNode,
	"control-plane-to-pod":            (*world).controlPlaneToPod,
	"control-plane-to-pod/webhook":    (*world).webhookOnHybridNode,
	"masquerade":                      (*world).masquerade,
	"bgp/resources":                   (*world).bgpResources,
	"bgp/sessions":                    (*world).bgpSessions,
	"bgp/pod-blocks":                  (*world).bgpPodBlocks,
	"bgp/services":                    (*world).bgpServices,
	"bgp/withdrawal":                  (*world).bgpWithdrawal,
	"bgp/graceful-restart":            (*world).bgpGracefulRestart,
	"bgp/parameters":                  (*world).bgpParameters,
	"cleanup/nodes":                   (*world).cleanNodes,
	"cleanup/crds":                    (*world).cleanCRDs,
}

// check runs one catalogue entry: it skips with the reason when the check
// does not apply to the run or the environment lacks a capability, and
// when the phase's lifecycle step did not leave the CNI in place.
func (w *world) check(e checks.Entry) func(SpecContext) {
	body, ok := bodies[e.Check.Name()]
	return func(ctx SpecContext) {
		if !ok {
			Fail(fmt.Sprintf("check %s is in the catalogue but has no body in suites", e.Check.Name()))
		}
		w.phase = e.Phase
		if e.Skip != "" {
			Skip("does not apply: " + e.Skip)
		}
		switch e.Phase.Stage {
		case checks.BeforeCNI:
		case checks.AfterDelete:
			if !w.uninstalled {
				Skip("the release was not uninstalled (see the delete step)")
			}
		default:
			w.requireInstalled()
			if w.broken != "" {
				Skip(w.broken)
			}
		}
		w.require(e.Check.Capabilities()...)
		if why := changesOutsideHarness(e.Check.Name()); why != "" {
			Skip(why)
		}
		w.byDesign, w.once = 0, 0
		start := time.Now()
		body(w, ctx)
		w.tookToPass(e.Check.Name(), time.Since(start)-w.once, w.byDesign)
	}
}

// passTime is a check's pass: how long it took, and how much of that it
// waited by design (a settle window) rather than for the cluster.
type passTime struct{ took, byDesign time.Duration }

// work is the part of the pass spent waiting for the cluster.
func (p passTime) work() time.Duration { return max(p.took-p.byDesign, 0) }

// tookToPass records a pass of check (a failed body panics before it): the
// slowest work and the longest designed wait of its passes.
func (w *world) tookToPass(check string, took, byDesign time.Duration) {
	if w.passTook == nil {
		w.passTook = map[string]passTime{}
	}
	p := w.passTook[check]
	work := max(p.work(), passTime{took, byDesign}.work())
	p.byDesign = max(p.byDesign, min(byDesign, took))
	p.took = p.byDesign + work
	w.passTook[check] = p
}

// waitedByDesign adds d to what the running check waited by design.
func (w *world) waitedByDesign(d time.Duration) { w.byDesign += max(d, 0) }

// waitedOnce adds d to what the running check waited that no later run of
// it waits again: its pass counts without it.
func (w *world) waitedOnce(d time.Duration) { w.once += max(d, 0) }
