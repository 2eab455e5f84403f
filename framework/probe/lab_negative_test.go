package probe_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/hybridcni/hybridcni/framework/lab"
	"github.com/hybridcni/hybridcni/framework/probe"
)

// TestLabNegative breaks the lab network one way at a time and asserts each
// check fails with the message a user needs. One cluster, each case undoes
// its change.
func TestLabNegative(t *testing.T) {
	c := newCluster(t, clusterOpts{masquerade: true})
	n1, n2 := c.nodes[0], c.nodes[1]
	a, x := n1.pods[0], n2.pods[0]

	t.Run("masquerade rule removed while expected", func(t *testing.T) {
		// The router can route pod blocks, so traffic flows un-NATed: the
		// echo sees the pod IP and the check must name both addresses.
		iptables(t, n1.ns, masqueradeRule("-D")...)
		must(t, c.rtr.ReplaceRoute(lab.Route{Dst: n1.block, Gw: n1.ip}))
		t.Cleanup(func() {
			must(t, c.rtr.DeleteRoute(lab.Route{Dst: n1.block}))
			iptables(t, n1.ns, masqueradeRule("-A")...)
		})
		rep := runCheck(t, []probe.Expectation{probe.Masquerade(a.source(), n1.ip, c.onpremHTTP(), true)},
			probe.WithExternalRetry(1, 50*time.Millisecond))
		wantFailure(t, rep, "pod-to-external/masquerade-on: pod-1-0 (10.100.0.10) -> onprem-echo (192.168.50.10)",
			"onprem-echo saw source 10.100.0.10, want 192.168.10.11 (the node IP: masquerading is on)")
		if n := rep.Verdicts[0].Attempts; n != 1 {
			t.Fatalf("a wrong source was retried (%d attempts): only no-answer from outside is retried", n)
		}
	})

	t.Run("masquerade rule removed and no route back", func(t *testing.T) {
		iptables(t, n1.ns, masqueradeRule("-D")...)
		t.Cleanup(func() { iptables(t, n1.ns, masqueradeRule("-A")...) })
		rep := runCheck(t, []probe.Expectation{probe.Masquerade(a.source(), n1.ip, c.onpremHTTP(), true)},
			probe.WithExternalRetry(1, 50*time.Millisecond))
		// An on-prem target outside the cluster gets one reported retry.
		wantFailure(t, rep, "no answer from onprem-echo: no reply within 1s; wanted it to see source 192.168.10.11",
			"(2 attempts: external target)")
	})

	t.Run("stray SNAT while expecting pod IPs", func(t *testing.T) {
		c.setMasquerade(false)
		iptables(t, n2.ns, "-t", "nat", "-A", "POSTROUTING", "-s", x.ip, "-o", "eth0", "-j", "SNAT", "--to-source", n2.ip)
		t.Cleanup(func() {
			iptables(t, n2.ns, "-t", "nat", "-D", "POSTROUTING", "-s", x.ip, "-o", "eth0", "-j", "SNAT", "--to-source", n2.ip)
			c.setMasquerade(true)
		})
		rep := runCheck(t, []probe.Expectation{
			probe.Masquerade(x.source(), n2.ip, c.onpremHTTP(), false),
			probe.Masquerade(n2.pods[1].source(), n2.ip, c.onpremHTTP(), false), // not SNATed: passes
		}, probe.WithExternalRetry(0, 0))
		wantFailure(t, rep, "pod-to-external/masquerade-off: pod-2-0 (10.100.0.138)",
			"onprem-echo saw source 192.168.10.12, want 10.100.0.138 (the pod IP: masquerading is off)")
		if ok, failed, _ := rep.Counts(); ok != 1 || failed != 1 {
			t.Fatalf("%d OK, %d ERROR; want only the SNATed pod to fail", ok, failed)
		}
	})

	t.Run("cross-node traffic dropped", func(t *testing.T) {
		// Drop the VXLAN packets arriving at node2: the overlay is cut
		// while each node's own traffic still flows.
		rule := []string{"INPUT", "-p", "udp", "--dport", "4789", "-j", "DROP"}
		iptables(t, n2.ns, append([]string{"-I"}, rule...)...)
		t.Cleanup(func() { iptables(t, n2.ns, append([]string{"-D"}, rule...)...) })
		exps := []probe.Expectation{
			probe.ExpectSuccess("pod-to-pod/cross-node", a.source(), x.http()),
			probe.ExpectSuccess("pod-to-pod/cross-node", a.source(), probe.TCPTarget(x.name, x.ip, tcpPort)),
			probe.ExpectSuccess("pod-to-pod/cross-node", a.source(), probe.UDPTarget(x.name, x.ip, udpPort)),
			probe.ExpectSuccess("pod-to-pod/cross-node", a.source(), probe.ICMPTarget(x.name, x.ip)),
			probe.ExpectSuccess("pod-to-pod/same-node", a.source(), n1.pods[1].http()),
		}
		rep := runCheck(t, exps)
		wantFailure(t, rep,
			"pod-to-pod/cross-node: pod-1-0 (10.100.0.10) -> pod-2-0 (10.100.0.138) [http://10.100.0.138:8080/clientip]: no answer from pod-2-0: no reply within 1s",
			"[tcp://10.100.0.138:9001]: no answer from pod-2-0: no reply within 1s",
			"[udp://10.100.0.138:9000]: no answer from pod-2-0: no reply within 1s",
			"[icmp://10.100.0.138]: no answer from pod-2-0: no reply within 1s")
		if ok, failed, _ := rep.Counts(); ok != 1 || failed != 4 {
			t.Fatalf("%d OK, %d ERROR; want the 4 cross-node probes to fail and same-node to pass", ok, failed)
		}
	})

	t.Run("target does not answer", func(t *testing.T) {
		ghost := "10.100.0.99" // in node1's block, no pod has it
		exps := []probe.Expectation{
			probe.ExpectSuccess("pod-to-pod/closed-port", a.source(), probe.TCPTarget(x.name, x.ip, closedPort)),
			probe.ExpectSuccess("pod-to-pod/closed-port", a.source(), probe.UDPTarget(x.name, x.ip, closedPort)),
			probe.ExpectSuccess("pod-to-pod/closed-port", a.source(), probe.HTTPTarget(x.name, x.ip, closedPort, "/")),
			probe.ExpectSuccess("pod-to-pod/no-such-pod", x.source(), probe.HTTPTarget("ghost", ghost, httpPort, "/clientip")),
			probe.ExpectSuccess("pod-to-pod/no-such-pod", x.source(), probe.ICMPTarget("ghost", ghost)),
			probe.ExpectSuccess("pod-to-pod/wrong-path", a.source(), probe.HTTPTarget(x.name, x.ip, httpPort, "/nope")),
		}
		rep := runCheck(t, exps)
		wantFailure(t, rep,
			"[tcp://10.100.0.138:8081]: no answer from pod-2-0: connection refused",
			"[udp://10.100.0.138:8081]: no answer from pod-2-0: connection refused",
			"[http://10.100.0.138:8081/]: no answer from pod-2-0: connection refused",
			"-> ghost (10.100.0.99) [http://10.100.0.99:8080/clientip]: no answer from ghost: ",
			"-> ghost (10.100.0.99) [icmp://10.100.0.99]: no answer from ghost: ",
			"[http://10.100.0.138:8080/nope]: no answer from pod-2-0: HTTP status 404")
		if _, failed, _ := rep.Counts(); failed != len(exps) {
			t.Fatalf("%d ERROR, want %d", failed, len(exps))
		}
	})

	t.Run("expect failure but it answers", func(t *testing.T) {
		rep := runCheck(t, []probe.Expectation{probe.ExpectFailure("pod-to-pod/isolated", a.source(), x.http())})
		wantFailure(t, rep, "pod-to-pod/isolated: pod-1-0 (10.100.0.10) -> pod-2-0 (10.100.0.138)",
			"pod-2-0 answered, but the expectation is that it must not (it saw source 10.100.0.10)")
	})

	t.Run("refused port is not an unroutable path", func(t *testing.T) {
		// A closed port answers with a reset: ExpectFailure holds and names
		// it; ExpectNoAnswer, which demands silence, fails and says what answered.
		closed := probe.TCPTarget(x.name, x.ip, closedPort)
		rep := runCheck(t, []probe.Expectation{probe.ExpectFailure("pod-to-pod/closed-port", a.source(), closed)})
		if err := rep.Err(); err != nil {
			t.Fatalf("a refused port failed ExpectFailure: %v", err)
		}
		if got := rep.Verdicts[0].Accepted; got != "connection refused" {
			t.Fatalf("ExpectFailure accepted %q, want it named: connection refused", got)
		}
		if !strings.Contains(rep.Table(), "connection refused") {
			t.Fatalf("the table does not name the accepted failure:\n%s", rep.Table())
		}
		rep = runCheck(t, []probe.Expectation{probe.ExpectNoAnswer("pod-to-pod/unroutable", a.source(), closed)})
		wantFailure(t, rep, "pod-to-pod/unroutable: pod-1-0 (10.100.0.10) -> pod-2-0 (10.100.0.138) [tcp://10.100.0.138:8081]",
			"expected no answer at all from pod-2-0", "but got connection refused: something on the path answered")
	})

	t.Run("dropped path is no answer", func(t *testing.T) {
		// Masquerading off and no route back on the router: the on-prem
		// host's replies to the pod address go nowhere, as for pods whose
		// addresses are unroutable on-prem. Nothing comes back at all.
		iptables(t, n1.ns, masqueradeRule("-D")...)
		t.Cleanup(func() { iptables(t, n1.ns, masqueradeRule("-A")...) })
		tcp := probe.TCPTarget("onprem-echo", onpremIP, httpPort).Outside()
		rep := runCheck(t, []probe.Expectation{
			probe.ExpectNoAnswer("pod-to-external/unroutable", a.source(), c.onpremHTTP()),
			probe.ExpectNoAnswer("pod-to-external/unroutable", a.source(), tcp),
			probe.ExpectFailure("pod-to-external/unroutable-any", a.source(), tcp),
		}, probe.WithExternalRetry(0, 0))
		if err := rep.Err(); err != nil {
			t.Fatalf("a path that drops the replies failed ExpectNoAnswer: %v", err)
		}
		for _, v := range rep.Verdicts {
			if !strings.HasPrefix(v.Accepted, "no reply within") {
				t.Errorf("%s accepted %q, want no reply", v.Expectation.Name(), v.Accepted)
			}
		}
		// The same dropped path with the masquerade rule back answers:
		// ExpectNoAnswer fails, saying the target answered.
		iptables(t, n1.ns, masqueradeRule("-A")...)
		rep = runCheck(t, []probe.Expectation{probe.ExpectNoAnswer("pod-to-external/unroutable", a.source(), tcp)}, probe.WithExternalRetry(0, 0))
		iptables(t, n1.ns, masqueradeRule("-D")...)
		wantFailure(t, rep, "onprem-echo answered, but the expectation is that it must not")
	})

	t.Run("zero expectations", func(t *testing.T) {
		rep := probe.NewCheck().Run(context.Background())
		wantFailure(t, rep, "no expectation ran")
	})

	t.Run("expectation never ran", func(t *testing.T) {
		// One probe at a time; the first waits out its timeout on a target
		// that never answers, the run's deadline ends before the second starts.
		check := probe.NewCheck(probe.WithConcurrency(1), probe.WithTimeout(2*time.Second))
		must(t, check.Expect(
			probe.ExpectSuccess("pod-to-pod/no-such-pod", a.source(), probe.HTTPTarget("ghost", "10.100.0.99", httpPort, "/")),
			probe.ExpectSuccess("pod-to-pod/cross-node", a.source(), x.http()),
		))
		ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
		defer cancel()
		rep := check.Run(ctx)
		t.Logf("\n%s", rep.Table())
		wantFailure(t, rep, "expectation never ran: pod-to-pod/cross-node: pod-1-0 (10.100.0.10) -> pod-2-0 (10.100.0.138) (http://10.100.0.138:8080/clientip)")
		if _, _, notRun := rep.Counts(); notRun != 1 {
			t.Fatalf("%d NOT RUN, want 1", notRun)
		}
		if !strings.Contains(rep.Table(), "NOT RUN") {
			t.Fatal("table does not show NOT RUN")
		}
	})

	t.Run("expectation declared twice", func(t *testing.T) {
		check := probe.NewCheck()
		e := probe.ExpectSuccess("pod-to-pod/cross-node", a.source(), x.http())
		must(t, check.Expect(e))
		err := check.Expect(e)
		if err == nil || !strings.Contains(err.Error(), "expectation declared twice: pod-to-pod/cross-node: pod-1-0 (10.100.0.10) -> pod-2-0 (10.100.0.138)") {
			t.Fatalf("want a declared-twice error, got %v", err)
		}
		rep := check.Run(context.Background())
		if len(rep.Verdicts) != 1 {
			t.Fatalf("the duplicate ran: %d verdicts", len(rep.Verdicts))
		}
		wantFailure(t, rep, "expectation declared twice")
	})
}
