package main

import (
	"reflect"
	"testing"
)

func TestNeedsTheHopsBetween(t *testing.T) {
	built := []string{"1.16.19", "1.17.0", "1.18.0", "1.19.6", "1.20.2"}
	for _, c := range []struct {
		entries []entry
		want    []string
	}{
		{[]entry{{CNI: "cilium", Version: "1.18.0"}}, []string{"1.18.0"}},
		{[]entry{{CNI: "cilium", Version: "1.16.19", UpgradeTo: "1.20.2"}}, built},
		{[]entry{{CNI: "cilium", Version: "1.17.0", UpgradeTo: "1.19.6"}, {CNI: "kube-router", Version: "2.1.0"}, {CNI: "cilium", Version: "1.17.0"}},
			[]string{"1.17.0", "1.18.0", "1.19.6"}},
		{nil, []string{}},
	} {
		got, err := needs(c.entries, built)
		if err != nil || !reflect.DeepEqual(got, c.want) {
			t.Errorf("needs(%+v) = %v, %v; want %v", c.entries, got, err, c.want)
		}
	}
	if _, err := needs([]entry{{CNI: "cilium", Version: "latest"}}, built); err == nil {
		t.Error("an unparsable version passed")
	}
}
