package report

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/onsi/gomega"
)

// Messages come from a real Gomega, so a change of its format shows here.
func gomegaFailure(assert func(g gomega.Gomega)) string {
	var msg string
	assert(gomega.NewGomega(func(m string, _ ...int) { msg = m }))
	return msg
}

func TestFailureSummaryNamesTheErrorNotGomegasPreamble(t *testing.T) {
	withdrawn := fmt.Errorf("prefix-withdrawn node hybrid-1: %w", errors.New("still has 10.96.0.5/32\nrouter RIB follows"))
	cases := []struct {
		name string
		msg  string
		want string
	}{
		{"succeed", gomegaFailure(func(g gomega.Gomega) { g.Expect(withdrawn).To(gomega.Succeed()) }),
			"prefix-withdrawn node hybrid-1: still has 10.96.0.5/32"},
		{"succeed with description", gomegaFailure(func(g gomega.Gomega) {
			g.Expect(errors.New("no CiliumNode")).To(gomega.Succeed(), "read each node's pod %s", "blocks")
		}), "read each node's pod blocks: no CiliumNode"},
		{"not occurred", gomegaFailure(func(g gomega.Gomega) { g.Expect(errors.New("dial tcp: refused")).NotTo(gomega.HaveOccurred()) }),
			"dial tcp: refused"},
		{"plain", gomegaFailure(func(g gomega.Gomega) { g.Expect(2).To(gomega.Equal(3)) }),
			"Expected"},
		{"Fail", "node hybrid-1 is NotReady\nconditions: ...", "node hybrid-1 is NotReady"},
	}
	for _, c := range cases {
		if c.msg == "" {
			t.Fatalf("%s: gomega reported no failure", c.name)
		}
		if got := failureSummary(c.msg); got != c.want {
			t.Errorf("%s: summary of\n%s\n= %q, want %q", c.name, c.msg, got, c.want)
		}
	}
	long := failureSummary(strings.Repeat("x", 1000))
	if len(long) != 403 || !strings.HasSuffix(long, "...") {
		t.Errorf("long message not clipped to 400 characters: %d", len(long))
	}
}
