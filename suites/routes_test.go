package suites

import "testing"

// Outputs as `ip -o route get` prints them on a kind node.
func TestRoutedViaReadsTheGateway(t *testing.T) {
	cases := []struct {
		out, gw string
		want    bool
	}{
		{"10.85.1.130 via 10.93.6.4 dev eth0 src 10.93.6.2 uid 0 \\    cache ", "10.93.6.4", true},
		// Not yet learned: the default route's gateway, not the pod's node.
		{"10.85.1.130 via 10.93.6.1 dev eth0 src 10.93.6.2 uid 0 \\    cache ", "10.93.6.4", false},
		// A gateway that merely starts with the node's address.
		{"10.85.1.130 via 10.93.6.40 dev eth0 src 10.93.6.2 uid 0 \\    cache ", "10.93.6.4", false},
		{"10.85.2.3 dev kube-bridge src 10.85.2.1 uid 0 \\    cache ", "10.93.6.4", false},
		{"", "10.93.6.4", false},
	}
	for _, c := range cases {
		if got := routedVia(c.out, c.gw); got != c.want {
			t.Errorf("routedVia(%q, %s) = %v, want %v", c.out, c.gw, got, c.want)
		}
	}
}
