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
// generates certificates. Every document starts with Helm's "# Source:"
// comment, in both modes. -o json and --values-only work on the same run.
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
			checkSources(t, a, args[1])
			checkSources(t, render(), args[1])
			if js := render("--stable", "-o", "json"); !strings.HasPrefix(js, "[") || !strings.Contains(js, `"kind"`) {
				t.Errorf("-o json is not a JSON array of objects: %.200s", js)
			}
			if v := render("--values-only"); strings.Contains(v, "kind: ") || len(v) == 0 {
				t.Errorf("--values-only printed objects or nothing: %.200s", v)
			}
		})
	}
}

// checkSources: every document of a render starts with "# Source: <chart
// file>" (a file of the CNI's chart, or of its CRD chart), except the BGP
// resources the harness adds, whose source says so; and the files are the
// chart's (more than one, under templates/ or crds/).
func checkSources(t *testing.T, out, cniName string) {
	t.Helper()
	docs := strings.Split("\n"+out, "\n---\n") // separators start a line
	if docs[0] != "" {
		t.Fatalf("render does not start with a document separator: %.80q", docs[0])
	}
	files := map[string]bool{}
	for i, d := range docs[1:] {
		line, _, _ := strings.Cut(d, "\n")
		src, ok := strings.CutPrefix(line, "# Source: ")
		if !ok {
			t.Errorf("document %d starts with %q, not a # Source: comment", i+1, line)
			continue
		}
		if strings.HasPrefix(src, "hybridcni: ") {
			if !strings.Contains(src, cniName+" BGP resources") {
				t.Errorf("document %d: harness source %q names no CNI's BGP resources", i+1, src)
			}
			continue
		}
		chartName, file, ok := strings.Cut(src, "/")
		if !ok || chartName == "" || !(strings.HasPrefix(file, "templates/") || strings.HasPrefix(file, "crds/")) || !strings.HasSuffix(file, ".yaml") {
			t.Errorf("document %d: source %q is not <chart>/templates/<file>.yaml or <chart>/crds/<file>.yaml", i+1, src)
		}
		files[src] = true
	}
	if len(files) < 2 {
		t.Errorf("sources name %d chart files, want the chart's templates: %v", len(files), files)
	}
}
