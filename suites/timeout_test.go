package suites

import (
	"strings"
	"testing"
	"time"
)

// Repeated hops are bounded as that many hops and rollbacks, not by one
// spec's default: five repeats on 2 cores ran past the 20-minute default
// and the spec was cut off with a timeout instead of a distribution.
func TestRepeatedHopsAreBoundedPerHop(t *testing.T) {
	for _, n := range []int{1, 5} {
		r := upgradeRun(t)
		r.CNI.RepeatHops = n
		l := planRun(r, []string{"1.16.19", "1.17.18"}, nil, nil)
		var got time.Duration
		found := false
		for _, specs := range l.specs {
			for _, s := range specs {
				if strings.Contains(s.title, "its rollback,") {
					got, found = s.timeout, true
				}
			}
		}
		if !found {
			t.Fatalf("repeat %d: no repeated-hops step planned", n)
		}
		if want := time.Duration(2*n) * hopTimeout; got != want {
			t.Errorf("repeat %d: the step is bounded by %s, want %s (a hop and a rollback per repeat)", n, got, want)
		}
	}
}
