package kuberouter

import (
	"slices"
	"strings"
	"testing"

	"github.com/hybridcni/hybridcni/framework/cni"
)

// With BGP on, the agents run the guide's session parameters, advertise
// every service address type the facts name, and hand out LoadBalancer
// addresses from the checks' pool; with BGP off, no allocator runs.
func TestChartRendersGuideTimersAndServiceAdvertisements(t *testing.T) {
	args, _ := agentArgs(t, render(t, testRun(false, true)))
	for _, want := range []string{
		"--bgp-holdtime=30s", "--bgp-graceful-restart=true", "--bgp-graceful-restart-time=120s",
		"--advertise-cluster-ip=true", "--advertise-external-ip=true", "--advertise-loadbalancer-ip=true",
		"--run-loadbalancer=true", "--loadbalancer-ip-range=" + cni.LoadBalancerPoolCIDR,
	} {
		if !slices.Contains(args, want) {
			t.Errorf("agent args lack %s: %v", want, args)
		}
	}
	if got := (Profile{}).Facts().ServiceAddresses; !slices.Equal(got, []string{cni.ClusterIP, cni.ExternalIP, cni.LoadBalancerIP}) {
		t.Errorf("facts: service addresses %v, want all three the chart advertises", got)
	}
	args, _ = agentArgs(t, render(t, testRun(true, false)))
	for _, a := range args {
		if strings.HasPrefix(a, "--run-loadbalancer") || strings.HasPrefix(a, "--loadbalancer-ip-range") {
			t.Errorf("BGP off still runs the LoadBalancer allocator: %s", a)
		}
	}
}
