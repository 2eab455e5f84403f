package calico_test

import (
	"context"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/hybridcni/hybridcni/framework/cni"
	"github.com/hybridcni/hybridcni/framework/cni/calico"
	"github.com/hybridcni/hybridcni/framework/cni/cnitest"
	"github.com/hybridcni/hybridcni/framework/cni/standin"
)

// heldNodePods counts calico-node pods the stand-in holds NotReady.
func heldNodePods(t *testing.T, c *cni.Cluster) (held, all int) {
	t.Helper()
	l, err := c.Kube.CoreV1().Pods(calico.SystemNamespace).List(context.Background(), metav1.ListOptions{LabelSelector: "k8s-app=calico-node"})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range l.Items {
		all++
		for _, cond := range p.Status.Conditions {
			if cond.Type == corev1.PodReady && cond.Status == corev1.ConditionFalse && cond.Reason == standin.ReasonWaitingForBGP {
				held++
			}
		}
	}
	return held, all
}

// The guide: with natOutgoing Disabled, Calico's components cannot start
// until the pod addresses are advertised. The stand-in plays that (BGP
// Enabled and a pool without NAT: calico-node NotReady and tigerastatus
// calico not Available until a BGPPeer and BGPConfiguration default exist).
// The old order (wait for readiness, then apply BGP) stalls until its
// timeout; applying BGP then releases Calico. The driver's order (BGP
// before the wait) installs.
func TestCalicoWithoutNATNeedsBGPBeforeReadiness(t *testing.T) {
	ctx := context.Background()
	t.Run("old-order-stalls", func(t *testing.T) {
		_, c, d, run := setup(t, 2, 0, "v3.29.6", func(o *cni.Options) { o.Timeout = 6 * time.Second })
		run.BGP.Enabled, run.Network.Masquerade = true, false
		cnitest.StartFakeTigeraOperator(t, c, "", cnitest.WithoutFinalizers())
		// The driver's order before this change: helm install, wait, then BGP.
		_, err := d.InstallRelease(ctx, run, calico.New().Values(run), cni.StartStopwatch())
		wantAll(t, err, "installed (revision 1) but", "tigerastatus calico",
			"natOutgoing Disabled", "waiting for a BGPPeer and BGPConfiguration default")
		if held, all := heldNodePods(t, c); all == 0 || held != all {
			t.Errorf("calico-node pods held NotReady: %d of %d, want all", held, all)
		}
		// What the old order would have done next unblocks Calico.
		if _, err := d.ApplyBGP(ctx, run); err != nil {
			t.Fatal(err)
		}
		// (a longer wait than the stall's: readiness must hold for its settle window)
		if _, err := calico.NewDriver(c, cni.Options{Timeout: 40 * time.Second}).WaitReady(ctx); err != nil {
			t.Fatalf("after the BGP objects: %v", err)
		}
		if held, _ := heldNodePods(t, c); held != 0 {
			t.Errorf("%d calico-node pods still held after BGP was configured", held)
		}
	})
	t.Run("driver-applies-bgp-first", func(t *testing.T) {
		_, c, d, run := setup(t, 2, 0, "v3.29.6", func(o *cni.Options) { o.Timeout = 20 * time.Second })
		run.BGP.Enabled, run.Network.Masquerade = true, false
		cnitest.StartFakeTigeraOperator(t, c, "", cnitest.WithoutFinalizers())
		if _, err := d.Install(ctx, run); err != nil {
			t.Fatal(err)
		}
		r, err := d.Readiness(ctx)
		if err != nil || !r.OK() || r.Tigera["calico"] != "Available" {
			t.Fatalf("readiness after install: %v %v %v", err, r.Err(), r.Tigera)
		}
		if bgp, err := d.BGPResources(ctx); err != nil || len(bgp) != 2 {
			t.Fatalf("BGP resources: %s %v", cnitest.Sprint(bgp), err)
		}
	})
	// With NAT (the guide's default) nothing waits for BGP: the old order
	// was fine there, and still is.
	t.Run("with-nat-no-dependency", func(t *testing.T) {
		_, c, d, run := setup(t, 1, 0, "v3.29.6", func(o *cni.Options) { o.Timeout = 20 * time.Second })
		run.BGP.Enabled, run.Network.Masquerade = true, true
		cnitest.StartFakeTigeraOperator(t, c, "", cnitest.WithoutFinalizers())
		if _, err := d.InstallRelease(ctx, run, calico.New().Values(run), cni.StartStopwatch()); err != nil {
			t.Fatal(err)
		}
	})
}
