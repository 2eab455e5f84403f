package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hybridcni/hybridcni/framework/chart/charttest"
	"github.com/hybridcni/hybridcni/framework/cni"
	"github.com/hybridcni/hybridcni/framework/cni/cnitest"
	"github.com/hybridcni/hybridcni/framework/testenv"
	"github.com/hybridcni/hybridcni/internal/table"
)

func runCLI(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := execute(args, &out, &errOut)
	return code, out.String(), errOut.String()
}

func wantOutput(t *testing.T, what, got string, parts ...string) {
	t.Helper()
	for _, p := range parts {
		if !strings.Contains(got, p) {
			t.Errorf("%s does not contain %q:\n%s", what, p, got)
		}
	}
}

// unreachableKubeconfig points at a loopback port nothing listens on.
func unreachableKubeconfig(t *testing.T) string {
	p := filepath.Join(t.TempDir(), "kubeconfig")
	kc := `apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "https://127.0.0.1:1", insecure-skip-tls-verify: true}}]
users: [{name: u, user: {token: x}}]
contexts: [{name: c, context: {cluster: c, user: u}}]
current-context: c
`
	if err := os.WriteFile(p, []byte(kc), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestCNICommandRefusesBadInput(t *testing.T) {
	dir := charttest.Dir(t)
	kc := unreachableKubeconfig(t)
	cases := []struct {
		name  string
		args  []string
		code  int
		parts []string
	}{
		{"upgrade without --to", []string{"cni", "upgrade", "--kubeconfig", kc}, exitInvalid, []string{"--upgrade-to VERSION"}},
		{"missing kubeconfig", []string{"cni", "status", "--kubeconfig", filepath.Join(t.TempDir(), "nope")}, exitInvalid, []string{"kubeconfig", "--kubeconfig"}},
		{"bad pod CIDR", []string{"cni", "install", "--pod-cidr", "10.85.0.0/33", "--kubeconfig", kc}, exitInvalid, []string{"network.podCIDR", "--pod-cidr"}},
		{"unknown CNI", []string{"cni", "install", "--cni", "flannel", "--kubeconfig", kc}, exitInvalid, []string{"cni.name"}},
		{"missing version", []string{"cni", "install", "--chart-repo", dir, "--version", "1.16.99", "--kubeconfig", kc}, exitInvalid,
			[]string{"cni.version", "1.16.99", "nearest available", "1.16.19"}},
		{"missing upgrade target", []string{"cni", "upgrade", "--chart-repo", dir, "--upgrade-to", "1.17.99", "--kubeconfig", kc}, exitInvalid,
			[]string{"cni.upgradeTo", "1.17.99", "1.17.18"}},
		{"negative revision", []string{"cni", "rollback", "--revision", "-1", "--kubeconfig", kc}, exitInvalid, []string{"--revision -1"}},
		{"unreachable API server", []string{"cni", "status", "--kubeconfig", kc}, exitFailure,
			[]string{"API server https://127.0.0.1:1 is unreachable", "check --kubeconfig"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			code, _, stderr := runCLI(t, c.args...)
			if code != c.code {
				t.Errorf("exit %d, want %d; stderr:\n%s", code, c.code, stderr)
			}
			wantOutput(t, "stderr", stderr, c.parts...)
		})
	}
}

// The same steps as the drivers' tests, through the CLI, against the
// API tier's kubeconfig.
func TestCNICommandLifecycle(t *testing.T) {
	dir := charttest.Dir(t)
	cnitest.RequireAPITier(t)
	env := testenv.StartT(t, testenv.WithHybridNodes(2), testenv.WithCloudNodes(1))
	kc := env.Kubeconfig()
	// Each command takes only its own flags: the cluster's, and the chart
	// and run flags for install and upgrade.
	common := []string{"--kubeconfig", kc, "--cni", "cilium", "--wait-timeout", "60s"}
	chartFlags := []string{"--chart-repo", dir, "--hybrid-nodes", "2", "--cloud-nodes", "1"}
	cli := func(args ...string) (int, string, string) {
		args = append(args, common...)
		if args[1] == "install" || args[1] == "upgrade" {
			args = append(args, chartFlags...)
		}
		return runCLI(t, args...)
	}

	code, out, stderr := cli("cni", "install", "--version", "1.16.18")
	if code != exitOK {
		t.Fatalf("install: exit %d\n%s\n%s", code, out, stderr)
	}
	wantOutput(t, "install output", out, "installed cilium: release kube-system/cilium revision 1 (cilium 1.16.18, deployed)",
		"cloud-node-1", "DaemonSet kube-system/cilium")
	wantOutput(t, "install stderr", stderr, "cilium ready on every hybrid node")

	code, _, stderr = cli("cni", "install", "--version", "1.16.18")
	if code != exitFailure {
		t.Errorf("second install: exit %d, want 1", code)
	}
	wantOutput(t, "second install stderr", stderr, "release already exists", "upgrade it or uninstall it first")

	code, out, stderr = cli("cni", "upgrade", "--upgrade-to", "1.16.19")
	if code != exitOK {
		t.Fatalf("upgrade: exit %d\n%s\n%s", code, out, stderr)
	}
	wantOutput(t, "upgrade output", out, "upgraded 1.16.18 -> 1.16.19 (revision 2); pre-flight cilium-preflight: DaemonSet READY 2 (agent 2), Deployment 1/1, removed=true")

	c, err := cni.NewCluster(env.RESTConfig())
	if err != nil {
		t.Fatal(err)
	}
	cnitest.RegisterCRDs(t, c, cnitest.CiliumOperatorCRDs()...)

	code, out, stderr = cli("cni", "status")
	if code != exitOK {
		t.Fatalf("status: exit %d\n%s\n%s", code, out, stderr)
	}
	t.Logf("status:\n%s", out)
	wantOutput(t, "status output", out, "kube-system/cilium  cilium", "1.16.18", "superseded", "1.16.19", "deployed", "hybrid-node-1")
	wantOutput(t, "status stderr", stderr, "cilium ready on every hybrid node", "BGP resources: none")
	if why := table.Check(out); why != "" {
		t.Errorf("status does not print lists in the one style: %s\n%s", why, out)
	}

	code, out, stderr = cli("cni", "rollback", "--revision", "1")
	if code != exitOK {
		t.Fatalf("rollback: exit %d\n%s\n%s", code, out, stderr)
	}
	wantOutput(t, "rollback output", out, "rolled back: release kube-system/cilium revision 3 (cilium 1.16.18, deployed)")

	code, out, stderr = cli("cni", "uninstall")
	if code != exitOK {
		t.Fatalf("uninstall: exit %d\n%s\n%s", code, out, stderr)
	}
	wantOutput(t, "uninstall output", out, "uninstalled release kube-system/cilium", "deleted 6 CRDs")
	if left := cnitest.CRDNames(t, c, "cilium"); len(left) != 0 {
		t.Errorf("CRDs left: %v", left)
	}

	code, _, stderr = cli("cni", "status")
	if code != exitFailure {
		t.Errorf("status without a release: exit %d, want 1", code)
	}
	wantOutput(t, "status stderr", stderr, `no release "cilium" in namespace kube-system`)
}
