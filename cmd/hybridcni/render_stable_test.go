package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/hybridcni/hybridcni/framework/chart/charttest"
)

// TestRenderStable: render --stable is byte-identical across two runs on
// the real charts (generated certificates and keys become placeholders),
// and plain render is not (so --stable has something to do) where the chart
// generates certificates. -o json and --values-only work on the same run.
func TestRenderStable(t *testing.T) {
	dir := charttest.Dir(t)
	for _, args := range [][]string{
		{"--cni", "cilium", "--version", "1.16.19", "--bgp"},
		{"--cni", "calico", "--version", "v3.30.7"},
	} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			base := append([]string{"render", "--chart-repo", dir}, args...)
			render := func(extra ...string) string {
				var out, errOut bytes.Buffer
				if code := execute(append(append([]string{}, base...), extra...), &out, &errOut); code != exitOK {
					t.Fatalf("exit %d: %s", code, errOut.String())
				}
				return out.String()
			}
			a, b := render("--stable"), render("--stable")
			if a != b {
				t.Fatalf("render --stable differs between two runs (%d and %d bytes)", len(a), len(b))
			}
			if strings.Contains(a, "-----BEGIN ") {
				t.Errorf("render --stable still holds a PEM block")
			}
			if js := render("--stable", "-o", "json"); !strings.HasPrefix(js, "[") || !strings.Contains(js, `"kind"`) {
				t.Errorf("-o json is not a JSON array of objects: %.200s", js)
			}
			if v := render("--values-only"); strings.Contains(v, "kind: ") || len(v) == 0 {
				t.Errorf("--values-only printed objects or nothing: %.200s", v)
			}
		})
	}
}
