package cni_test

import (
	"slices"
	"testing"

	"github.com/hybridcni/hybridcni/framework/cni"
	_ "github.com/hybridcni/hybridcni/framework/cni/kuberouter" // a known CNI since kube-router runs through the suites
	"github.com/hybridcni/hybridcni/framework/config"
)

func TestLookupKnowsBothCNIs(t *testing.T) {
	for _, name := range config.KnownCNIs {
		p, err := cni.Lookup(name)
		if err != nil || p.Name() != name {
			t.Errorf("Lookup(%s) = %v, %v", name, p, err)
		}
	}
	_, err := cni.Lookup("flannel")
	if !slices.Contains(config.Fields(err), "cni.name") {
		t.Errorf("Lookup(flannel) error %v does not name cni.name", err)
	}
}

func TestRequiresHybridNodes(t *testing.T) {
	affinity := func(key, op string, values ...any) map[string]any {
		return map[string]any{"affinity": map[string]any{"nodeAffinity": map[string]any{
			"requiredDuringSchedulingIgnoredDuringExecution": map[string]any{"nodeSelectorTerms": []any{
				map[string]any{"matchExpressions": []any{map[string]any{"key": key, "operator": op, "values": values}}},
			}}}}}
	}
	cases := []struct {
		name string
		spec map[string]any
		want bool
	}{
		{"hybrid affinity", affinity(cni.HybridLabel, "In", cni.HybridValue), true},
		{"hybrid node selector", map[string]any{"nodeSelector": map[string]any{cni.HybridLabel: cni.HybridValue}}, true},
		{"no constraint", map[string]any{}, false},
		{"other label", affinity("kubernetes.io/os", "In", "linux"), false},
		{"NotIn hybrid", affinity(cni.HybridLabel, "NotIn", cni.HybridValue), false},
		{"hybrid or cloud", affinity(cni.HybridLabel, "In", cni.HybridValue, "ec2"), false},
		{"selector on another value", map[string]any{"nodeSelector": map[string]any{cni.HybridLabel: "ec2"}}, false},
	}
	for _, c := range cases {
		if got := cni.RequiresHybridNodes(c.spec); got != c.want {
			t.Errorf("%s: RequiresHybridNodes = %t, want %t", c.name, got, c.want)
		}
	}
	// A second term that does not demand the label lets pods escape.
	two := affinity(cni.HybridLabel, "In", cni.HybridValue)
	terms := two["affinity"].(map[string]any)["nodeAffinity"].(map[string]any)["requiredDuringSchedulingIgnoredDuringExecution"].(map[string]any)
	terms["nodeSelectorTerms"] = append(terms["nodeSelectorTerms"].([]any), map[string]any{"matchExpressions": []any{}})
	if cni.RequiresHybridNodes(two) {
		t.Error("a term without the hybrid label still counted as hybrid-only")
	}
}

func TestNamespacesIncludeComponentNamespacesOnce(t *testing.T) {
	got := cni.Namespaces(nsProfile{})
	want := []string{"kube-system", "calico-system", "calico-apiserver"}
	if !slices.Equal(got, want) {
		t.Fatalf("Namespaces = %v, want %v", got, want)
	}
}

type nsProfile struct{ cni.Profile }

func (nsProfile) Namespace() string { return "kube-system" }
func (nsProfile) ComponentNamespaces() []string {
	return []string{"calico-system", "kube-system", "calico-apiserver"}
}
