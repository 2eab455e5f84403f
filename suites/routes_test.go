package suites

import (
	"errors"
	"testing"
)

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

// An unroutable pod address gives the API server no answer or no route;
// a refusal or an HTTP status means something answered, and is no proof.
func TestUnreachable(t *testing.T) {
	for msg, want := range map[string]bool{
		`Internal error occurred: failed calling webhook "x": Post "https://a.b.svc:443/validate?timeout=5s": context deadline exceeded`: true,
		`error trying to reach service: dial tcp 10.244.1.5:8080: i/o timeout`:                                                           true,
		`dial tcp 10.244.1.5:8080: connect: no route to host`:                                                                            true,
		`error trying to reach service: dial tcp 10.244.1.5:8080: connect: connection refused`:                                           false,
		`the server could not find the requested resource`:                                                                               false,
		`pods "echo" is forbidden: User cannot get resource`:                                                                             false,
	} {
		if got := unreachable(errors.New(msg)); got != want {
			t.Errorf("unreachable(%q) = %v, want %v", msg, got, want)
		}
	}
	if unreachable(nil) {
		t.Error("no error is not unreachable")
	}
}
