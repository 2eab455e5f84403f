package probe_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/hybridcni/hybridcni/framework/probe"
)

func runCheck(t *testing.T, exps []probe.Expectation, opts ...probe.Option) *probe.Report {
	t.Helper()
	c := probe.NewCheck(append([]probe.Option{probe.WithLogf(t.Logf), probe.WithTimeout(time.Second)}, opts...)...)
	must(t, c.Expect(exps...))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	rep := c.Run(ctx)
	t.Logf("\n%s", rep.Table())
	return rep
}

// wantFailure asserts the run failed and that its error has every fragment.
func wantFailure(t *testing.T, rep *probe.Report, fragments ...string) {
	t.Helper()
	err := rep.Err()
	if err == nil {
		t.Fatalf("the check passed on a broken network; want an error with %q", fragments)
	}
	for _, f := range fragments {
		if !strings.Contains(err.Error(), f) {
			t.Errorf("error lacks %q:\n%v", f, err)
		}
	}
}

// TestLabConnectivity proves every scenario passes on a good network, with
// masquerading on: pod-to-pod on one node and across the VXLAN overlay,
// pod-to-node, node-to-pod, pod-to-external, and the masquerade check.
func TestLabConnectivity(t *testing.T) {
	c := newCluster(t, clusterOpts{masquerade: true})
	n1, n2 := c.nodes[0], c.nodes[1]
	a, b := n1.pods[0], n1.pods[1]
	x := n2.pods[0]
	exps := []probe.Expectation{
		// No NAT inside the cluster: the echo sees the client pod's own IP.
		probe.ExpectSuccess("pod-to-pod/same-node", a.source(), b.http(), probe.WithSource(a.ip, "the pod IP: no NAT inside the cluster")),
		probe.ExpectSuccess("pod-to-pod/same-node", a.source(), probe.UDPTarget(b.name, b.ip, udpPort), probe.WithSource(a.ip, "the pod IP")),
		probe.ExpectSuccess("pod-to-pod/cross-node", a.source(), x.http(), probe.WithSource(a.ip, "the pod IP: no NAT on the overlay")),
		probe.ExpectSuccess("pod-to-pod/cross-node", b.source(), probe.UDPTarget(x.name, x.ip, udpPort), probe.WithSource(b.ip, "the pod IP")),
		probe.ExpectSuccess("pod-to-pod/cross-node", x.source(), probe.TCPTarget(a.name, a.ip, tcpPort)),
		probe.ExpectSuccess("pod-to-pod/cross-node", x.source(), probe.ICMPTarget(b.name, b.ip)),
		probe.ExpectSuccess("pod-to-node/same-node", a.source(), probe.HTTPTarget(n1.name, n1.ip, httpPort, "/healthz")),
		probe.ExpectSuccess("pod-to-node/cross-node", a.source(), probe.ICMPTarget(n2.name, n2.ip)),
		probe.ExpectSuccess("node-to-pod/same-node", n1.source(), a.http()),
		probe.ExpectSuccess("node-to-pod/cross-node", n1.source(), probe.TCPTarget(x.name, x.ip, httpPort)),
		probe.ExpectSuccess("pod-to-external", x.source(), probe.ICMPTarget("onprem", onpremIP).Outside()),
		probe.ExpectSuccess("pod-to-external", x.source(), probe.UDPTarget("onprem-echo", onpremIP, udpPort).Outside(),
			probe.WithSource(n2.ip, "the node IP: masquerading is on")),
		probe.Masquerade(a.source(), n1.ip, c.onpremHTTP(), true),
		probe.Masquerade(x.source(), n2.ip, c.onpremHTTP(), true),
		// A port nobody listens on must refuse: ExpectFailure holds.
		probe.ExpectFailure("pod-to-external/closed-port", a.source(), probe.TCPTarget("onprem-echo", onpremIP, closedPort).Outside()),
	}
	rep := runCheck(t, exps)
	if err := rep.Err(); err != nil {
		t.Fatal(err)
	}
	if ok, _, _ := rep.Counts(); ok != len(exps) {
		t.Fatalf("%d OK, want %d", ok, len(exps))
	}
	for _, v := range rep.Verdicts {
		if v.Attempts != 1 {
			t.Errorf("%s took %d attempts on a good network", v.Expectation.Name(), v.Attempts)
		}
	}
}

// TestLabMasqueradeOff: without the masquerade rule and with the router
// routing each pod block to its node, the on-prem echo sees pod IPs.
func TestLabMasqueradeOff(t *testing.T) {
	c := newCluster(t, clusterOpts{masquerade: false})
	var exps []probe.Expectation
	for _, p := range c.pods() {
		exps = append(exps, probe.Masquerade(p.source(), p.node.ip, c.onpremHTTP(), false))
	}
	rep := runCheck(t, exps)
	if err := rep.Err(); err != nil {
		t.Fatal(err)
	}
}
