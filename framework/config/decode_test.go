package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestFileErrorsNameFileAndLine: errors about a file's values name the file
// and line, suggest the nearest field, refuse a second document and say
// which command a file of the other kind belongs to.
func TestFileErrorsNameFileAndLine(t *testing.T) {
	cases := []struct {
		name, file string
		matrix     bool
		want       []string
	}{
		{"misspelt field", "apiVersion: hybridcni.dev/v1alpha1\nkind: Run\ncni:\n  name: cilium\n  verison: 1.16.19\n",
			false, []string{"run.yaml:5:", "cni.verison", "did you mean cni.version?"}},
		{"misspelt top field", "kind: Run\nnetwrk:\n  podCIDR: 10.0.0.0/16\n", false, []string{"netwrk", "did you mean network?"}},
		{"second document", "kind: Run\n---\nkind: Run\n", false, []string{"run.yaml:3:", "second YAML document"}},
		{"matrix to run", "apiVersion: hybridcni.dev/v1alpha1\nkind: Matrix\nentries: []\n", false, []string{"run.yaml:2:", "hybridcni matrix -f"}},
		{"run to matrix", "kind: Run\ncni:\n  name: cilium\n", true, []string{"run.yaml:1:", "hybridcni run -f"}},
		{"bad value line", "kind: Run\nnetwork:\n  nodeCIDR: 10.80.0.0/24\n  podCIDR: 10.80.0.0/16\n", false, []string{"run.yaml:4:", "network.podCIDR"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "run.yaml")
			if err := os.WriteFile(p, []byte(c.file), 0o644); err != nil {
				t.Fatal(err)
			}
			var err error
			if c.matrix {
				_, err = LoadMatrix(p)
			} else {
				var r Run
				r, err = Load(p)
				if err == nil {
					err = Locate(r.Validate(), p)
				}
			}
			var cfgErr *Error
			if !errors.As(err, &cfgErr) {
				t.Fatalf("want *Error, got %v", err)
			}
			msg := strings.ReplaceAll(err.Error(), p, "run.yaml")
			for _, w := range c.want {
				if !strings.Contains(msg, w) {
					t.Errorf("%q lacks %q", msg, w)
				}
			}
			if strings.Count(msg, "(fix:") != len(cfgErr.Problems) {
				t.Errorf("want one fix per problem: %q", msg)
			}
		})
	}
}

func TestUnknownCNIIsOneProblem(t *testing.T) {
	r, err := Parse([]byte("cni: {name: weave}\n"))
	if err != nil {
		t.Fatal(err)
	}
	err = r.Validate()
	if f := Fields(err); len(f) != 1 || f[0] != "cni.name" {
		t.Fatalf("want only cni.name, got %v (%v)", f, err)
	}
}

func TestServiceCIDROverlapFix(t *testing.T) {
	r, err := Parse([]byte("network: {nodeCIDR: 10.80.0.0/24, serviceCIDR: 10.80.0.0/16}\n"))
	if err != nil {
		t.Fatal(err)
	}
	err = r.Validate()
	if err == nil || !strings.Contains(err.Error(), "service CIDR") || strings.Contains(err.Error(), "pod CIDR must not") {
		t.Fatalf("want the service-CIDR fix, got %v", err)
	}
}
