package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hybridcni/hybridcni/framework/chart/charttest"
	"github.com/hybridcni/hybridcni/framework/cni/cilium"
	"github.com/hybridcni/hybridcni/framework/cni/kuberouter"
	"github.com/hybridcni/hybridcni/framework/nodeimage/nodeimagetest"
	"github.com/hybridcni/hybridcni/framework/report"
	"github.com/hybridcni/hybridcni/topologies"
)

// offlineCNI is one CNI of the offline kind suite: the images it needs (all
// built here), its run flags, the specs that must pass and its matrix column.
type offlineCNI struct {
	images []string
	args   func(t *testing.T) []string
	modes  []string // default: BGP on, masquerading off
	want   []string
	column string
}

// Specs every offline run must pass, whatever its modes.
var offlineAlways = []string{
	"readiness: hybrid nodes are NotReady without a CNI", "readiness: hybrid nodes turn Ready once the CNI runs",
	"placement: an agent on every hybrid node and none on cloud nodes",
	"pod-to-pod/same-node", "pod-to-service/cluster-ip", "pod-to-service/dns", "node-to-pod", "pod-to-node",
	"pod-to-external: the on-prem host", "control-plane-to-pod: a webhook served from a hybrid node",
	"delete: helm uninstall", "delete: report what stays on each node", "delete: cleanup removes the CRDs and files",
}

// Specs every offline run with BGP on and masquerading off must pass.
var offlineCommon = append([]string{
	"masquerade: the on-prem host sees the pod address (masquerading off)",
	"bgp: a session from every hybrid node to the router", "bgp: each node's pod block with the node as next hop",
}, offlineAlways...)

var kubeRouterOffline = offlineCNI{
	images: []string{kuberouter.Image()},
	args: func(t *testing.T) []string {
		chart, err := filepath.Abs(filepath.Join("..", "..", kuberouter.ChartDir))
		if err != nil {
			t.Fatal(err)
		}
		return []string{"--cni", "kube-router", "--chart-repo", chart}
	},
	// A cloud worker too: placement must find no agent there.
	modes:  []string{"--bgp", "--masquerade=false", "--cloud-nodes", "1"},
	want:   append([]string{"pod-to-pod/cross-node (routed, no overlay)"}, offlineCommon...),
	column: "| Feature | kube-router 2.1.0 |",
}

var kubeRouterUnroutable = offlineCNI{
	images: kubeRouterOffline.images,
	args:   kubeRouterOffline.args,
	modes:  []string{"--bgp=false", "--masquerade=false", "--allow-unroutable-pods"},
	want: []string{"readiness: hybrid nodes turn Ready once the CNI runs", "pod-to-pod/cross-node (routed, no overlay)",
		"pod-to-service/cluster-ip", "pod-to-external: the on-prem host", "control-plane-to-pod: a webhook served from a hybrid node",
		"delete: cleanup removes the CRDs and files"},
	column: kubeRouterOffline.column,
}

// Real Cilium 1.16.19 with BGP and masquerading off, upgraded to 1.17.0
// (pre-flight, disruption meter, rollback), both versions' images and
// charts built here from the Cilium modules the Go module proxy serves.
var ciliumOffline = offlineCNI{
	images: append(cilium.OfflineImages(), cilium.OfflineImages(cilium.OfflineUpgradeTo)...),
	args: func(t *testing.T) []string {
		charts := filepath.Join(cacheRoot(t), cilium.OfflineChartDir)
		if _, err := os.Stat(filepath.Join(charts, "index.yaml")); err != nil {
			t.Skipf("no Cilium charts at %s: run `make node-image`", charts)
		}
		return []string{"--cni", "cilium", "--version", cilium.OfflineVersion, "--upgrade-to", cilium.OfflineUpgradeTo,
			"--chart-repo", charts, "--values", offlineValues(t)}
	},
	want: append([]string{"pod-to-pod/cross-node over VXLAN", "bgp: resources applied as the guide gives them",
		"bgp: service addresses advertised (ClusterIP, ExternalIP, LoadBalancerIP)", "bgp: a deleted service is withdrawn",
		"bgp: routes retained across an agent restart (graceful restart)",
		"along the planned hops with the disruption meter", "rollback: to the first revision, then ready again"}, offlineCommon...),
	column: "| Feature | cilium " + cilium.OfflineVersion + " → " + cilium.OfflineUpgradeTo + " |",
}

func offlineValues(t *testing.T) string {
	values, err := filepath.Abs(filepath.Join("..", "..", cilium.OfflineValuesFile))
	if err != nil {
		t.Fatal(err)
	}
	return values
}

// cacheRoot is where hack/*-image.sh keep their builds.
func cacheRoot(t *testing.T) string {
	if c := os.Getenv("HYBRIDCNI_CACHE"); c != "" {
		return c
	}
	home, err := os.UserHomeDir()
	if err != nil {
		t.Skip("no HOME or HYBRIDCNI_CACHE: no offline images")
	}
	return filepath.Join(home, ".cache", "hybridcni")
}

// Cilium's defaults: masquerading on, no BGP; the webhook on a hybrid node
// is then expected to be unreachable from the control plane. The published
// 1.16.19 chart (../shared/charts).
var ciliumOfflineMasquerade = offlineCNI{
	images: cilium.OfflineImages(),
	args: func(t *testing.T) []string {
		return []string{"--cni", "cilium", "--version", cilium.OfflineVersion, "--chart-repo", charttest.Dir(t), "--values", offlineValues(t)}
	},
	modes: []string{"--masquerade=true"},
	want: append([]string{"pod-to-pod/cross-node over VXLAN",
		"masquerade: the on-prem host sees the node address (masquerading on)"}, offlineAlways...),
	column: "| Feature | cilium " + cilium.OfflineVersion + " |",
}

// offlineRun are the flags of the offline kind suite for c: the node image
// built here, and c's modes (default: BGP to the router container,
// masquerading off). Each test gets
// its own run name and a free node CIDR, so runs can share a host; prefix is
// what its clusters, containers and networks are named after.
func offlineRun(t *testing.T, c offlineCNI, results string) (args []string, prefix string) {
	env := nodeimagetest.Require(t)
	for _, ref := range c.images {
		if ok, err := env.Docker.ImageExists(context.Background(), ref); err != nil || !ok {
			fmt.Fprintf(os.Stderr, "### SKIPPED %s: image %s is absent: run `make node-image`\n", t.Name(), ref)
			t.Skipf("image %s is absent: run `make node-image`", ref)
		}
	}
	name := fmt.Sprintf("offline-%d", time.Now().UnixNano()%1_000_000)
	node := nodeimagetest.FreeSubnet(t, env.Docker, 93)
	args = append([]string{"run"}, c.args(t)...)
	args = append(args, "--node-image", env.Image,
		"--kubernetes-version", strings.TrimPrefix(strings.Split(env.Image, ":")[1], "v"),
		"--run-name", name, "--node-cidr", node.String(), "--results", results, "--wait-timeout", "4m")
	if c.modes == nil {
		c.modes = []string{"--bgp", "--masquerade=false"}
	}
	args = append(args, c.modes...)
	return args, topologies.NamePrefix + name
}

// leftovers lists the containers, networks and kind nodes named after prefix.
func leftovers(t *testing.T, prefix string) []string {
	var left []string
	for _, args := range [][]string{
		{"ps", "-a", "--filter", "name=" + prefix, "--format", "{{.Names}}"},
		{"network", "ls", "--filter", "name=" + prefix, "--format", "{{.Name}}"},
	} {
		out, err := exec.Command("docker", args...).CombinedOutput()
		if err != nil {
			t.Fatalf("docker %v: %v: %s", args, err, out)
		}
		for _, n := range strings.Fields(string(out)) {
			if strings.HasPrefix(n, prefix) {
				left = append(left, n)
			}
		}
	}
	return left
}

// The whole suite on real kind nodes with a real CNI, offline: readiness,
// placement, IPAM, connectivity, masquerading, BGP, delete and leftovers.
func TestOfflineKindSuite(t *testing.T) { offlineSuite(t, kubeRouterOffline) }

// Masquerading off with nothing advertised (allowUnroutablePods): the on-prem
// host must not be reachable from pods, and the specs that need routable pod
// addresses skip with the reason.
func TestOfflineKindSuiteUnroutablePods(t *testing.T) { offlineSuite(t, kubeRouterUnroutable) }

// The same with real Cilium, agent and operator built here: BGP with
// masquerading off and an upgrade to 1.17.0, then Cilium's defaults.
func TestOfflineCiliumSuite(t *testing.T) { offlineSuite(t, ciliumOffline) }

func TestOfflineCiliumSuiteMasquerading(t *testing.T) { offlineSuite(t, ciliumOfflineMasquerade) }

func offlineSuite(t *testing.T, c offlineCNI) {
	results := t.TempDir()
	args, prefix := offlineRun(t, c, results)
	out, code := cli(t, 30*time.Minute, args...)
	rs, err := report.ReadAll(filepath.Join(results, "junit.xml"))
	if err != nil {
		t.Fatalf("no JUnit (exit %d): %v\n%s", code, err, tail(out, 60))
	}
	passed := map[string]bool{}
	var failed []string
	for _, r := range rs {
		switch r.State {
		case report.Passed:
			passed[r.Spec] = true
		case report.Failed:
			failed = append(failed, r.Spec+": "+r.Message)
		}
	}
	if code != 0 || len(failed) > 0 {
		t.Fatalf("exit %d, failed specs:\n%s\n%s", code, strings.Join(failed, "\n"), tail(out, 60))
	}
	for _, want := range c.want {
		found := false
		for spec := range passed {
			if strings.HasSuffix(spec, want) {
				found = true
			}
		}
		if !found {
			t.Errorf("spec %q did not pass", want)
		}
	}
	m := report.Build(rs)
	if !strings.Contains(m.Markdown(), c.column) {
		t.Errorf("the matrix has no %q column:\n%s", c.column, m.Markdown())
	}
	if left := leftovers(t, prefix); len(left) > 0 {
		t.Errorf("left behind: %v", left)
	}
}

// SIGTERM in the middle of a run tears down what it made.
func TestOfflineKindSuiteInterruptLeavesNothing(t *testing.T) {
	results := t.TempDir()
	args, prefix := offlineRun(t, kubeRouterOffline, results)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], args...)
	cmd.Env = append(os.Environ(), asCLI+"=1", "NO_COLOR=1")
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	// Interrupt once the kind cluster exists (its control plane is up).
	deadline := time.Now().Add(10 * time.Minute)
	for {
		names, _ := exec.Command("docker", "ps", "--filter", "label=io.x-k8s.kind.cluster", "--filter", "name="+prefix, "--format", "{{.Names}}").Output()
		if strings.Contains(string(names), "control-plane") {
			break
		}
		select {
		case err := <-exited:
			t.Fatalf("the run ended (%v) before its cluster existed:\n%s", err, tail(out.String(), 40))
		default:
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			t.Fatalf("no cluster within 10 minutes:\n%s", tail(out.String(), 40))
		}
		time.Sleep(2 * time.Second)
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	err := <-exited
	if err == nil {
		t.Errorf("an interrupted run exited 0")
	}
	if left := leftovers(t, prefix); len(left) > 0 {
		t.Fatalf("left behind after SIGTERM: %v\n%s", left, tail(out.String(), 40))
	}
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
