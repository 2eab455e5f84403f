package main

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/spf13/cobra"

	"github.com/hybridcni/hybridcni/framework/buildinfo"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden from the current output")

// golden compares got with testdata/name.golden (rewritten with -update).
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", "help", name+".golden")
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./cmd/hybridcni -run %s -update to write it)", err, t.Name())
	}
	if string(want) != got {
		t.Errorf("%s differs from %s (go test -update rewrites it); got:\n%s", name, path, got)
	}
}

// commandPaths lists every command of the tree as its words after "hybridcni".
func commandPaths(c *cobra.Command, prefix []string, out *[][]string) {
	for _, sub := range c.Commands() {
		if sub.Hidden || sub.Name() == "help" || sub.Name() == "completion" {
			continue
		}
		p := append(append([]string{}, prefix...), sub.Name())
		*out = append(*out, p)
		commandPaths(sub, p, out)
	}
}

// TestHelpGolden: --help of every command, as a newcomer reads it.
func TestHelpGolden(t *testing.T) {
	t.Setenv("HYBRIDCNI_STATE_DIR", "")
	paths := [][]string{{}}
	commandPaths(newRootCmd(), nil, &paths)
	for _, p := range paths {
		name := strings.Join(append([]string{"hybridcni"}, p...), "_")
		t.Run(name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			if code := execute(append(append([]string{}, p...), "--help"), &out, &errOut); code != exitOK {
				t.Fatalf("exit %d: %s", code, errOut.String())
			}
			for _, l := range strings.Split(out.String(), "\n") {
				// cobra reads a backquoted word in a flag's usage as its placeholder.
				if tl := strings.TrimSpace(l); strings.HasPrefix(tl, "-") && strings.Contains(tl, "`") {
					t.Errorf("flag usage holds a backtick: %s", tl)
				}
			}
			golden(t, name, out.String())
		})
	}
}

// TestHelpOnlyOwnFlags: commands that act on an installed release or list
// images show none of the topology and network flags they do not read.
func TestHelpOnlyOwnFlags(t *testing.T) {
	for _, p := range [][]string{{"cni", "status"}, {"cni", "rollback"}, {"cni", "uninstall"}, {"images", "list"}, {"images", "save"}} {
		var out, errOut bytes.Buffer
		execute(append(p, "--help"), &out, &errOut)
		for _, unused := range []string{"--pod-cidr", "--node-cidr", "--router-asn", "--hybrid-nodes", "--masquerade", "--block-size"} {
			if strings.Contains(out.String(), unused) {
				t.Errorf("%v --help lists %s, which it does not use", p, unused)
			}
		}
	}
	var out, errOut bytes.Buffer
	execute([]string{"run", "--help"}, &out, &errOut)
	if !strings.Contains(out.String(), "kube-router") {
		t.Errorf("--cni help does not list every registered CNI:\n%s", out.String())
	}
}

// TestVersion: version and --version print the harness's own version.
func TestVersion(t *testing.T) {
	old := buildinfo.Version
	buildinfo.Version = "v0.0.0-test"
	defer func() { buildinfo.Version = old }()
	norm := func(s string) string {
		return strings.ReplaceAll(s, runtime.Version()+" "+runtime.GOOS+"/"+runtime.GOARCH, "GO PLATFORM")
	}
	var out, errOut bytes.Buffer
	if code := execute([]string{"version"}, &out, &errOut); code != exitOK {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	golden(t, "version", norm(out.String()))
	var out2 bytes.Buffer
	if code := execute([]string{"--version"}, &out2, &errOut); code != exitOK {
		t.Fatalf("--version exit %d: %s", code, errOut.String())
	}
	if out2.String() != out.String() {
		t.Errorf("--version %q differs from version %q", out2.String(), out.String())
	}
	out.Reset()
	execute([]string{"version", "-o", "json"}, &out, &errOut)
	if !strings.Contains(out.String(), `"version": "v0.0.0-test"`) {
		t.Errorf("version -o json: %s", out.String())
	}
}

// TestGetClusters lists the ledgers of the state directory.
func TestGetClusters(t *testing.T) {
	state := t.TempDir()
	dir := filepath.Join(state, "hcni-test-1")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	ledger := `{"run":"hcni-test-1","entries":[{"kind":"network","name":"hcni-test-1","created":"2026-01-02T03:04:05Z"}]}`
	if err := os.WriteFile(filepath.Join(dir, "ledger.json"), []byte(ledger), 0o644); err != nil {
		t.Fatal(err)
	}
	var out, errOut bytes.Buffer
	if code := execute([]string{"get", "clusters", "--state-dir", state}, &out, &errOut); code != exitOK {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	if !strings.Contains(out.String(), "hcni-test-1") || !strings.Contains(out.String(), "2026-01-02T03:04:05Z") {
		t.Errorf("get clusters:\n%s", out.String())
	}
	// A run kept with --keep: its ledger is in RESULTS/state.
	results := t.TempDir()
	kept := filepath.Join(results, "state", "hcni-kept-2")
	if err := os.MkdirAll(kept, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(kept, "ledger.json"), []byte(strings.ReplaceAll(ledger, "test-1", "kept-2")), 0o644); err != nil {
		t.Fatal(err)
	}
	out.Reset()
	if code := execute([]string{"get", "clusters", "--state-dir", state, "--results", results}, &out, &errOut); code != exitOK ||
		!strings.Contains(out.String(), "hcni-kept-2") || !strings.Contains(out.String(), "hcni-test-1") {
		t.Errorf("get clusters --results: exit %d\n%s", code, out.String())
	}
	out.Reset()
	if code := execute([]string{"get", "clusters", "--state-dir", t.TempDir(), "--results", t.TempDir()}, &out, &errOut); code != exitOK || out.Len() != 0 {
		t.Errorf("empty state: exit %d, stdout %q", code, out.String())
	}
}
