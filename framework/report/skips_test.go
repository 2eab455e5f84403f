package report

import (
	"strings"
	"testing"
)

// TestMarkdownKeepsSkipReasons: a skipped cell says why, once per reason.
func TestMarkdownKeepsSkipReasons(t *testing.T) {
	why := "BGP is off in this run (bgp.enabled false)"
	m := Build([]Result{
		{Spec: "advertises pod CIDRs", CNI: "cilium", Version: "1.16.19", Features: []string{"bgp"}, State: Skipped, Message: why},
		{Spec: "withdraws on delete", CNI: "cilium", Version: "1.16.19", Features: []string{"bgp"}, State: Skipped, Message: why},
		{Spec: "nodes ready", CNI: "cilium", Version: "1.16.19", Features: []string{"readiness"}, State: Passed},
	})
	md := m.Markdown()
	if n := strings.Count(md, why); n != 1 {
		t.Fatalf("skip reason appears %d times, want once:\n%s", n, md)
	}
	if !strings.Contains(md, "Skipped, and why") || !strings.Contains(md, "SKIP") || !strings.Contains(md, "PASS") {
		t.Errorf("markdown:\n%s", md)
	}
}

// TestHTMLSaysWhenAndByWhat: the page names when, by which harness and from
// which files it was made, and tells PASS from SKIP in words.
func TestHTMLSaysWhenAndByWhat(t *testing.T) {
	Sources = []string{"results/junit.xml"}
	defer func() { Sources = nil }()
	m := Build([]Result{
		{Spec: "nodes ready", CNI: "cilium", Version: "1.16.19", Features: []string{"readiness"}, State: Passed},
		{Spec: "advertises", CNI: "cilium", Version: "1.16.19", Features: []string{"bgp"}, State: Skipped, Message: "BGP off"},
	})
	page, err := m.HTML("t")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"by hybridcni", "results/junit.xml", "PASS", "SKIP", "cilium 1.16.19", "BGP off"} {
		if !strings.Contains(page, want) {
			t.Errorf("HTML lacks %q", want)
		}
	}
}
