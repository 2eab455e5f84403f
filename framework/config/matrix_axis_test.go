package config

import (
	"slices"
	"testing"
)

// The Kubernetes axis: entries without a Kubernetes version of their own
// run on each listed version, named apart after the first; an entry that
// sets its own version runs once, on it.
func TestMatrixKubernetesAxis(t *testing.T) {
	doc := `kind: Matrix
kubernetes: [1.37.2, 1.33.13]
base:
  network: {masquerade: false}
  bgp: {enabled: true}
  cni: {name: cilium}
entries:
- cni: {version: 1.18.0}
- cni: {version: 1.16.19, upgradeTo: 1.20.2}
- cni: {version: 1.20.2}
  name: masq
  network: {masquerade: true}
  bgp: {enabled: false}
- cni: {version: 1.19.6}
  kubernetes: {version: 1.33.13}
`
	runs, err := ParseMatrix([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	type nk struct{ name, k8s string }
	var got []nk
	for _, r := range runs {
		got = append(got, nk{r.Name, r.Kubernetes.Version})
	}
	want := []nk{
		{"cilium-1-18-0-bgp-nomasq", "1.37.2"}, {"cilium-1-18-0-bgp-nomasq-k133", "1.33.13"},
		// 40 characters at most: the derived name gives way to the suffix.
		{"cilium-1-16-19-to-1-20-2-bgp-nomasq", "1.37.2"}, {"cilium-1-16-19-to-1-20-2-bgp-nomasq-k133", "1.33.13"},
		{"masq", "1.37.2"}, {"masq-k133", "1.33.13"},
		{"cilium-1-19-6-bgp-nomasq", "1.33.13"},
	}
	if !slices.Equal(got, want) {
		t.Fatalf("runs\n %v\nwant\n %v", got, want)
	}
	if !runs[5].Network.Masquerade || runs[5].BGP.Enabled {
		t.Errorf("masq-k133 lost its entry's settings: %+v", runs[5])
	}

	// Without the axis nothing changes.
	runs, err = ParseMatrix([]byte("kind: Matrix\nentries:\n- cni: {name: cilium, version: 1.18.0}\n"))
	if err != nil || len(runs) != 1 || runs[0].Name != runs[0].DefaultName() || runs[0].Kubernetes.Version != Default().Kubernetes.Version {
		t.Fatalf("no axis: %+v %v", runs, err)
	}

	// Problems still name the entry the copy came from, and an empty version its place.
	_, err = ParseMatrix([]byte("kind: Matrix\nkubernetes: [1.37.2, 1.33.13]\nentries:\n- cni: {name: cilium}\n- bgp: {routerASN: 23456}\n"))
	if !slices.Contains(Fields(err), "entries[1].bgp.routerASN") {
		t.Errorf("error %v does not name entries[1].bgp.routerASN", err)
	}
	// ...once, not once per Kubernetes version.
	if n := len(err.(*Error).Problems); n != 1 {
		t.Errorf("%d problems for one wrong field on a two-version axis, want 1: %v", n, err)
	}
	_, err = ParseMatrix([]byte("kind: Matrix\nkubernetes: [1.37.2, '']\nentries:\n- cni: {name: cilium}\n"))
	if !slices.Contains(Fields(err), "kubernetes[1]") {
		t.Errorf("error %v does not name kubernetes[1]", err)
	}
}
