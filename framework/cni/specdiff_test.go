package cni

import (
	"reflect"
	"testing"
)

func TestSpecDiffIgnoresServerDefaultsOnly(t *testing.T) {
	want := map[string]any{"peers": []any{map[string]any{
		"peerASN": int64(65000), "peerConfigRef": map[string]any{"name": "cilium-peer"},
	}}}
	// As the API server returns it: JSON numbers, defaults filled in.
	got := map[string]any{"peers": []any{map[string]any{
		"peerASN": float64(65000), "peerConfigRef": map[string]any{"name": "cilium-peer", "group": "cilium.io", "kind": "CiliumBGPPeerConfig"},
	}}}
	if d := SpecDiff("spec", want, got); len(d) != 0 {
		t.Fatalf("defaults reported as differences: %v", d)
	}
}

func TestSpecDiffNamesEachDeparture(t *testing.T) {
	want := map[string]any{
		"localASN": int64(65001),
		"peers":    []any{map[string]any{"name": "onprem-router", "peerAddress": "10.80.0.254"}},
		"timers":   map[string]any{"holdTimeSeconds": int64(30)},
	}
	got := map[string]any{
		"localASN": int64(65002),
		"peers":    []any{map[string]any{"name": "onprem-router", "peerAddress": "10.80.0.1"}, map[string]any{"name": "extra"}},
	}
	d := SpecDiff("spec", want, got)
	wantD := []string{
		"spec.localASN: cluster has 65002, want 65001",
		"spec.peers: cluster has [map[name:onprem-router peerAddress:10.80.0.1] map[name:extra]], want [map[name:onprem-router peerAddress:10.80.0.254]]",
		"spec.timers: missing in the cluster, want map[holdTimeSeconds:30]",
	}
	if !reflect.DeepEqual(d, wantD) {
		t.Fatalf("SpecDiff =\n%q\nwant\n%q", d, wantD)
	}
	got["peers"] = []any{map[string]any{"name": "onprem-router", "peerAddress": "10.80.0.1"}}
	if d := SpecDiff("spec", want, got); len(d) != 3 || d[1] != "spec.peers[0].peerAddress: cluster has 10.80.0.1, want 10.80.0.254" {
		t.Fatalf("element departure not named by index: %q", d)
	}
}
