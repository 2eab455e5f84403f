package main

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/hybridcni/hybridcni/framework/config"
)

// `matrix --list -o json` is what CI's matrix jobs are made from: every
// entry of the file, in order, as the runs the matrix would make. It runs
// from the repository root, where matrix files name their values files.
func TestMatrixListJSON(t *testing.T) {
	t.Chdir("../..")
	for _, file := range []string{"nightly.yaml", "offline.yaml"} {
		path := "fixtures/matrix/" + file
		out, code := cli(t, time.Minute, "matrix", "-f", path, "--list", "-o", "json")
		if code != 0 {
			t.Fatalf("%s: exit %d: %s", file, code, out)
		}
		var got []listedRun
		if err := json.Unmarshal([]byte(out), &got); err != nil {
			t.Fatalf("%s: not a JSON array: %v\n%s", file, err, out)
		}
		runs, err := config.LoadMatrix(path)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != len(runs) {
			t.Fatalf("%s: %d entries listed, the file has %d", file, len(got), len(runs))
		}
		for i, r := range runs {
			want := listedRun{Name: r.Name, CNI: r.CNI.Name, Version: r.CNI.Version, UpgradeTo: r.CNI.UpgradeTo,
				Kubernetes: r.Kubernetes.Version, BGP: r.BGP.Enabled, Masquerade: r.Network.Masquerade}
			if got[i] != want {
				t.Errorf("%s entry %d: %+v, want %+v", file, i, got[i], want)
			}
		}
	}
	out, code := cli(t, time.Minute, "matrix", "-f", "fixtures/matrix/offline.yaml", "--list", "--only", "cilium-1-18-0-bgp-nomasq")
	// Text: the one list style, a header then one row per entry, its name first.
	if rows := strings.Split(strings.TrimSpace(out), "\n"); code != 0 || len(rows) != 2 || !strings.HasPrefix(rows[0], "NAME ") ||
		strings.Fields(rows[1])[0] != "cilium-1-18-0-bgp-nomasq" {
		t.Errorf("--list --only: exit %d, %q", code, out)
	}
	if out, code := cli(t, time.Minute, "matrix", "-f", "fixtures/matrix/offline.yaml", "--list", "-o", "yaml"); code != 2 || !strings.Contains(out, "text or json") {
		t.Errorf("-o yaml: exit %d, %q; want 2 naming the formats", code, out)
	}
}
