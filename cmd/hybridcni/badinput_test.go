package main

import (
	"bytes"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/hybridcni/hybridcni/internal/texttest"
)

// TestBadInput runs the CLI on inputs it must refuse before provisioning
// anything: each exits 2, names the flag or field (and the file and line
// where there is one), gives one fix, and leaves the working and state
// folders empty (no results, no ledger). None reaches Docker or a cluster.
func TestBadInput(t *testing.T) {
	files := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(files, name)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	misspelt := write("misspelt.yaml", "apiVersion: hybridcni.dev/v1alpha1\nkind: Run\ncni:\n  name: cilium\n  verison: 1.16.19\n")
	twoDocs := write("twodocs.yaml", "kind: Run\n---\nkind: Run\n")
	matrixFile := write("matrix.yaml", "apiVersion: hybridcni.dev/v1alpha1\nkind: Matrix\nentries:\n- cni: {name: cilium}\n")
	runFile := write("run.yaml", "kind: Run\ncni:\n  name: cilium\n")
	overlap := write("overlap.yaml", "kind: Run\nnetwork:\n  nodeCIDR: 10.80.0.0/24\n  podCIDR: 10.80.0.0/16\n")
	corrupt := write("corrupt-1.0.0.tgz", "not a gzipped chart\n")
	corruptRepo := filepath.Join(files, "repo")
	if err := os.MkdirAll(corruptRepo, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(corruptRepo, "index.yaml"), []byte(`apiVersion: v1
entries:
  cilium:
  - name: cilium
    version: 1.16.19
    apiVersion: v2
    digest: 91672864f438a2a45fbfac65b0f8b42a8dd76e9e712cabe602311c34f290f7a3
    urls: [cilium-1.16.19.tgz]
`), 0o644); err != nil {
		t.Fatal(err)
	}
	write("repo/cilium-1.16.19.tgz", "not the archive the index names\n")
	badType := write("badtype.yaml", "kind: Run\nnodes:\n  hybrid: two\n")
	kubeconfig := write("kubeconfig", `apiVersion: v1
kind: Config
clusters:
- name: a
  cluster: {server: "https://127.0.0.1:1"}
users:
- name: a
  user: {token: x}
contexts:
- name: staging
  context: {cluster: a, user: a}
- name: prod
  context: {cluster: a, user: a}
current-context: staging
`)

	cases := []struct {
		args []string
		want []string // each must appear in stderr (flag or field, file:line)
	}{
		// commands and flags
		{[]string{"bogus"}, []string{`unknown command "bogus"`}},
		{[]string{"cni", "bogus"}, []string{`unknown command "bogus" for "hybridcni cni"`}},
		{[]string{"images", "bogus"}, []string{`unknown command "bogus" for "hybridcni images"`}},
		{[]string{"get", "clusterz"}, []string{`unknown command "clusterz"`, "get clusters"}},
		{[]string{"run", "--bogus"}, []string{"--bogus"}},
		{[]string{"run", "extra-arg"}, []string{"extra-arg"}},
		{[]string{"version", "extra"}, []string{"extra"}},
		{[]string{"down"}, []string{"hybridcni down"}},
		{[]string{"down", "a/b"}, []string{"NAME"}},
		{[]string{"run", "--cni"}, []string{"--cni"}},
		{[]string{"cni", "status", "--version", "1.16.19"}, []string{"--version"}},
		{[]string{"cni", "status", "--pod-cidr", "10.0.0.0/16"}, []string{"--pod-cidr"}},
		{[]string{"cni", "rollback", "--bgp"}, []string{"--bgp"}},
		{[]string{"images", "list", "--node-cidr", "10.0.0.0/24"}, []string{"--node-cidr"}},
		// raw library errors, wrapped
		{[]string{"run", "--block-size", "abc"}, []string{`--block-size "abc"`, "whole number"}},
		{[]string{"run", "--wait-timeout", "5"}, []string{`--wait-timeout "5"`, "duration"}},
		{[]string{"run", "--timeout", "soon"}, []string{`--timeout "soon"`, "duration"}},
		{[]string{"run", "--bgp=maybe"}, []string{`--bgp "maybe"`, "true or false"}},
		{[]string{"run", "--disruption-max-loss", "x"}, []string{`--disruption-max-loss "x"`, "number"}},
		{[]string{"run", "--router-asn", "99999999999999999999"}, []string{"--router-asn", "out of range"}},
		{[]string{"router", "--asn", "-1"}, []string{`--asn "-1"`}},
		{[]string{"router", "--hold-time", "9"}, []string{`--hold-time "9"`, "duration"}},
		{[]string{"echo", "--http-port", "eighty"}, []string{`--http-port "eighty"`}},
		{[]string{"gc", "--older-than", "2"}, []string{`--older-than "2"`, "duration"}},
		{[]string{"gc", "--older-than", "-1h"}, []string{"--older-than"}},
		// configuration through flags
		{[]string{"run", "--cni", "weave"}, []string{"cni.name", "--cni"}},
		{[]string{"plan", "--cni", "weave"}, []string{"cni.name"}},
		{[]string{"render", "--cni", "weave"}, []string{"cni.name"}},
		{[]string{"run", "--cni", "cilium", "--version", "banana"}, []string{"cni.version", "--version"}},
		{[]string{"run", "--cni", "cilium", "--version", "1.16.19", "--upgrade-to", "1.0.0"}, []string{"cni.upgradeTo"}},
		{[]string{"run", "--pod-cidr", "10.80.0.0/16", "--node-cidr", "10.80.0.0/24"}, []string{"network.podCIDR"}},
		{[]string{"run", "--service-cidr", "10.80.0.0/16", "--node-cidr", "10.80.0.0/24"}, []string{"network.", "service CIDR"}},
		{[]string{"run", "--pod-cidr", "not-a-cidr"}, []string{"network.podCIDR"}},
		{[]string{"run", "--router-asn", "23456"}, []string{"bgp.routerASN"}},
		{[]string{"run", "--run-name", "Bad Name!"}, []string{"name", "--run-name"}},
		// configuration files: file and line
		{[]string{"run", "-f", filepath.Join(files, "missing.yaml")}, []string{"missing.yaml"}},
		{[]string{"run", "-f", misspelt}, []string{"misspelt.yaml:5:", "cni.verison", "did you mean cni.version?"}},
		{[]string{"plan", "-f", misspelt}, []string{"misspelt.yaml:5:", "cni.verison"}},
		{[]string{"run", "-f", twoDocs}, []string{"twodocs.yaml:3:", "second YAML document"}},
		{[]string{"run", "-f", matrixFile}, []string{"matrix.yaml:2:", "hybridcni matrix -f"}},
		{[]string{"plan", "-f", matrixFile}, []string{"matrix.yaml:2:", "hybridcni matrix -f"}},
		{[]string{"matrix", "-f", runFile}, []string{"run.yaml:1:", "hybridcni run -f"}},
		{[]string{"matrix", "-f", filepath.Join(files, "missing.yaml")}, []string{"missing.yaml"}},
		{[]string{"run", "-f", overlap}, []string{"overlap.yaml:4:", "network.podCIDR"}},
		{[]string{"run", "-f", badType}, []string{"nodes.hybrid"}},
		// charts: a missing source and a corrupt one are both the input's fault
		{[]string{"render", "--chart-repo", filepath.Join(files, "nonexistent"), "--cni", "cilium", "--version", "1.16.19"}, []string{"cni.chartSource"}},
		{[]string{"render", "--chart-repo", corrupt, "--cni", "cilium", "--version", "1.0.0"}, []string{"cni.chartSource", "gzipped"}},
		{[]string{"render", "--chart-repo", corruptRepo, "--cni", "cilium", "--version", "1.16.19"}, []string{"digest"}},
		// output formats and files
		{[]string{"version", "-o", "yaml"}, []string{"--output"}},
		{[]string{"get", "clusters", "-o", "yaml"}, []string{"--output"}},
		{[]string{"images", "list", "-o", "yaml"}, []string{"--output"}},
		{[]string{"up", "-o", "yaml"}, []string{"--output"}},
		{[]string{"images", "save"}, []string{"--archive"}},
		{[]string{"images", "load"}, []string{"--archive"}},
		{[]string{"images", "load", "--archive", filepath.Join(files, "missing.tar")}, []string{"--archive", "missing.tar"}},
		{[]string{"report"}, []string{"report needs"}},
		// the cni commands, before any API call
		{[]string{"cni", "upgrade", "--cni", "cilium"}, []string{"--upgrade-to"}},
		{[]string{"cni", "rollback", "--cni", "cilium", "--revision", "-1"}, []string{"--revision"}},
		{[]string{"cni", "status", "--cni", "weave"}, []string{"cni.name"}},
		{[]string{"cni", "status", "--cni", "cilium", "--wait-timeout", "0s"}, []string{"--wait-timeout"}},
		{[]string{"cni", "status", "--cni", "cilium", "--kubeconfig", filepath.Join(files, "nokube")}, []string{"--kubeconfig", "nokube"}},
		{[]string{"cni", "status", "--cni", "cilium", "--kubeconfig", kubeconfig, "--context", "nope"}, []string{"--context", "prod, staging"}},
		{[]string{"webhook"}, []string{"--tls-cert"}},
		// run --provider existing: flag combinations, the cluster named, and
		// the refusal to change a CNI unconfirmed, before any API call
		{[]string{"run", "--router-api", "10.0.0.1:50051"}, []string{"--router-api applies to --provider existing"}},
		{[]string{"run", "--provider", "existing", "--lifecycle", "sideways"}, []string{`--lifecycle "sideways"`}},
		{[]string{"run", "--provider", "existing", "--upgrade-to", "1.17.0"}, []string{"--upgrade-to", "--lifecycle upgrade"}},
		{[]string{"run", "--provider", "existing", "--lifecycle", "upgrade"}, []string{"--upgrade-to VERSION"}},
		{[]string{"run", "--provider", "existing", "--rollback"}, []string{"--rollback", "--lifecycle upgrade"}},
		{[]string{"run", "--provider", "existing", "--node-shell-image", "busybox"}, []string{"--node-shell"}},
		{[]string{"run", "--provider", "existing", "--faults"}, []string{"--faults", "--provider kind"}},
		{[]string{"run", "--provider", "existing", "--topology", "minimal"}, []string{"--topology"}},
		{[]string{"run", "--provider", "existing", "--hybrid-nodes", "3"}, []string{"--hybrid-nodes", "hybrid label"}},
		{[]string{"run", "--provider", "existing", "--on-prem-host", "onprem.example"}, []string{"--on-prem-host"}},
		{[]string{"run", "--provider", "existing", "--kubeconfig", filepath.Join(files, "nokube")}, []string{"--kubeconfig", "nokube"}},
		{[]string{"run", "--provider", "existing"}, []string{"--kubeconfig"}},
		{[]string{"run", "--provider", "existing", "--kubeconfig", kubeconfig, "--context", "nope"}, []string{"--context", "prod, staging"}},
		{[]string{"run", "--provider", "existing", "--kubeconfig", kubeconfig, "--lifecycle", "upgrade", "--upgrade-to", "1.17.0"},
			[]string{"refusing", "https://127.0.0.1:1", "context staging", "--expect-context staging", "--yes"}},
		{[]string{"run", "--provider", "existing", "--kubeconfig", kubeconfig, "--lifecycle", "full"}, []string{"refusing", "--expect-context staging"}},
		{[]string{"run", "--provider", "existing", "--kubeconfig", kubeconfig, "--expect-context", "prod"}, []string{"--expect-context prod", "staging"}},
	}
	if len(cases) < 40 {
		t.Fatalf("the table holds %d bad inputs, want at least 40", len(cases))
	}
	work := t.TempDir()
	state := t.TempDir()
	t.Chdir(work)
	t.Setenv("HYBRIDCNI_STATE_DIR", state)
	t.Setenv("KUBECONFIG", filepath.Join(files, "no-default-kubeconfig"))
	for _, c := range cases {
		t.Run(strings.Join(c.args, " "), func(t *testing.T) {
			var out, errOut bytes.Buffer
			code := execute(c.args, &out, &errOut)
			msg := errOut.String()
			if code != exitInvalid {
				t.Fatalf("exit %d, want %d\nstdout: %s\nstderr: %s", code, exitInvalid, out.String(), msg)
			}
			for _, w := range c.want {
				if !strings.Contains(msg, w) {
					t.Errorf("stderr lacks %q:\n%s", w, msg)
				}
			}
			if w := texttest.DoubledWord(msg); w != "" {
				t.Errorf("the message says %q twice in a row (an error wrapped twice with the same word):\n%s", w, msg)
			}
			if n := strings.Count(msg, "fix:"); n != 1 {
				t.Errorf("want exactly one fix, found %d:\n%s", n, msg)
			}
			for _, dir := range []string{work, state} {
				if ents, _ := os.ReadDir(dir); len(ents) > 0 {
					t.Errorf("created %s in %s", ents[0].Name(), dir)
				}
			}
		})
	}
}

// TestNoColourWhenRedirected: colour codes a library put in an error are
// stripped for a stream that is not a terminal, and with --no-color.
func TestNoColourWhenRedirected(t *testing.T) {
	var buf bytes.Buffer
	if colour(&buf) {
		t.Error("a buffer counts as a terminal")
	}
	if got := ansiEscape.ReplaceAllString("\x1b[1;31mlabel filter\x1b[0m: bad", ""); got != "label filter: bad" {
		t.Errorf("stripped to %q", got)
	}
	t.Setenv("NO_COLOR", "")
	var out, errOut bytes.Buffer
	if code := execute([]string{"--no-color", "version"}, &out, &errOut); code != exitOK || os.Getenv("NO_COLOR") == "" {
		t.Errorf("--no-color: exit %d, NO_COLOR=%q", code, os.Getenv("NO_COLOR"))
	}
}

// TestPortInUseExits2: a taken port is the input's fault for echo as for
// router: exit 2 with the fix.
func TestPortInUseExits2(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	port := strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
	var out, errOut bytes.Buffer
	code := execute([]string{"echo", "--listen-address", "127.0.0.1", "--http-port", port, "--udp-port", "-1"}, &out, &errOut)
	if code != exitInvalid || !strings.Contains(errOut.String(), "fix:") {
		t.Errorf("exit %d, want %d with a fix: %s", code, exitInvalid, errOut.String())
	}
}
