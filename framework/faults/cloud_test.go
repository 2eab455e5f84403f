package faults

import (
	"context"
	"slices"
	"strings"
	"testing"
)

// The cloud-side drop is the rule the lab test (framework/cloudcni) shows
// failing pod-to-pod/cloud-to-hybrid, put on every cloud node, named by
// them, and gone after heal.
func TestCloudToHybridPodsDroppedAndHealed(t *testing.T) {
	s := &shellTarget{rules: map[string]int{}}
	f, ok := Lookup("cloud-to-hybrid-pods-dropped")
	if !ok {
		t.Fatal("cloud-to-hybrid-pods-dropped is not in the catalogue")
	}
	heal, names, err := f.Inject(context.Background(), s)
	if err != nil {
		t.Fatal(err)
	}
	want := "cloud-1: iptables -w -t filter -I FORWARD -m comment --comment hybridcni-fault -s 100.64.0.0/10 -d 10.85.0.0/16 -j DROP"
	if strings.Join(s.cmds, "\n") != want {
		t.Errorf("commands:\n%s\nwant:\n%s", strings.Join(s.cmds, "\n"), want)
	}
	if !slices.Contains(names, "cloud-1") {
		t.Errorf("names %v, want the cloud node", names)
	}
	if err := heal(context.Background()); err != nil {
		t.Fatal(err)
	}
	for k, n := range s.rules {
		if n != 0 {
			t.Errorf("after heal, %d copies of %s", n, k)
		}
	}
	if !slices.Contains(f.BreaksChecks(), "pod-to-pod/cloud-to-hybrid") {
		t.Errorf("breaks %v", f.BreaksChecks())
	}
}

// The hybrid side's traffic to cloud pods is dropped on every cloud node for
// both source addresses it may carry (pod, masqueraded node), named by the
// hybrid nodes the probes start from, and healed.
func TestHybridToCloudPodsDroppedAndHealed(t *testing.T) {
	s := &shellTarget{rules: map[string]int{}}
	f, _ := Lookup("hybrid-to-cloud-pods-dropped")
	heal, names, err := f.Inject(context.Background(), s)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"cloud-1: iptables -w -t filter -I FORWARD -m comment --comment hybridcni-fault -s 10.85.0.0/16 -d 100.64.0.0/10 -j DROP",
		"cloud-1: iptables -w -t filter -I FORWARD -m comment --comment hybridcni-fault -s 10.80.0.2 -d 100.64.0.0/10 -j DROP",
		"cloud-1: iptables -w -t filter -I FORWARD -m comment --comment hybridcni-fault -s 10.80.0.3 -d 100.64.0.0/10 -j DROP",
	}
	if strings.Join(s.cmds, "\n") != strings.Join(want, "\n") {
		t.Errorf("commands:\n%s", strings.Join(s.cmds, "\n"))
	}
	if !slices.Equal(names, []string{"hybrid-a", "hybrid-b"}) {
		t.Errorf("names %v, want the hybrid nodes", names)
	}
	if err := heal(context.Background()); err != nil {
		t.Fatal(err)
	}
	for k, n := range s.rules {
		if n != 0 {
			t.Errorf("after heal, %d copies of %s", n, k)
		}
	}
}
