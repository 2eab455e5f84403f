package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/hybridcni/hybridcni/framework/buildinfo"
	"github.com/hybridcni/hybridcni/framework/cni/cilium"
	"github.com/hybridcni/hybridcni/framework/cni/kuberouter"
	"github.com/hybridcni/hybridcni/framework/image"
	"github.com/hybridcni/hybridcni/framework/nodeimage/nodeimagetest"
	"github.com/hybridcni/hybridcni/framework/report"
	"github.com/hybridcni/hybridcni/suites"
	"github.com/hybridcni/hybridcni/topologies"
)

// existingCluster is a topology `hybridcni up` made with a CNI that
// `hybridcni cni install` installed: what a user's staging cluster is to
// `run --provider existing`.
type existingCluster struct {
	info    topologies.EnvInfo
	runFile string
	kube    kubernetes.Interface
}

// upExisting brings a topology up (BGP, the router, an on-prem host, one
// cloud worker), loads images into its nodes and installs the CNI of
// runYAML (the node CIDR and Kubernetes version are added) with `cni
// install`. The topology goes with the test.
func upExisting(t *testing.T, images []string, runYAML string, install ...string) *existingCluster {
	env := nodeimagetest.Require(t)
	_, echo := image.HarnessRefs(buildinfo.Version)
	for _, ref := range images {
		if ok, err := env.Docker.ImageExists(context.Background(), ref); err != nil || !ok {
			fmt.Fprintf(os.Stderr, "### SKIPPED %s: image %s is absent\n", t.Name(), ref)
			t.Skipf("image %s is absent: run `make node-image`", ref)
		}
	}
	dir := t.TempDir()
	node := nodeimagetest.FreeSubnet(t, env.Docker, 94)
	k8s := strings.TrimPrefix(strings.Split(env.Image, ":")[1], "v")
	runFile := filepath.Join(dir, "run.yaml")
	body := runYAML + fmt.Sprintf("kubernetes:\n  version: %q\nnetwork:\n  nodeCIDR: %s\n  masquerade: false\n", k8s, node)
	if err := os.WriteFile(runFile, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	name := fmt.Sprintf("%sex-%d", topologies.NamePrefix, time.Now().UnixNano()%1_000_000)
	state := filepath.Join(dir, "state")
	out, code := cli(t, 20*time.Minute, "up", "-f", runFile, "--name", name, "--state-dir", state, "--node-image", env.Image, "-o", "json")
	t.Cleanup(func() {
		if out, code := cli(t, 10*time.Minute, "down", name, "--state-dir", state); code != 0 {
			t.Errorf("down %s: exit %d\n%s", name, code, tail(out, 20))
		}
	})
	if code != 0 {
		t.Fatalf("up: exit %d\n%s", code, tail(out, 40))
	}
	c := &existingCluster{runFile: runFile}
	if err := json.Unmarshal([]byte(out[strings.Index(out, "{"):]), &c.info); err != nil {
		t.Fatalf("up -o json: %v\n%s", err, tail(out, 40))
	}
	// The nodes run the echo workload (and node shells) and the CNI from
	// images built here; the echo image from this hybridcni, as run builds it.
	if _, err := image.BuildHarness(context.Background(), env.Docker, "", buildinfo.Version, t.Logf); err != nil {
		t.Fatalf("build the harness images: %v", err)
	}
	archive := filepath.Join(dir, "images.tar")
	f, err := os.Create(archive)
	if err != nil {
		t.Fatal(err)
	}
	err = env.Docker.SaveImages(context.Background(), append([]string{echo}, images...), f)
	f.Close()
	if err == nil {
		err = topologies.LoadImageArchive(c.info.Name, archive, t.Logf)
	}
	if err != nil {
		t.Fatalf("load images into %s: %v", c.info.Name, err)
	}
	rc, err := clientcmd.BuildConfigFromFlags("", c.info.Kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	if c.kube, err = kubernetes.NewForConfig(rc); err != nil {
		t.Fatal(err)
	}
	args := append([]string{"cni", "install", "-f", runFile, "--kubeconfig", c.info.Kubeconfig, "--wait-timeout", "5m"}, install...)
	if out, code := cli(t, 15*time.Minute, args...); code != 0 {
		t.Fatalf("cni install: exit %d\n%s", code, tail(out, 40))
	}
	return c
}

// run runs `hybridcni run --provider existing` on the cluster and reads its JUnit.
func (c *existingCluster) run(t *testing.T, args ...string) (rs []report.Result, out string, code int) {
	results := keptResults(t)
	args = append([]string{"run", "--provider", "existing", "--kubeconfig", c.info.Kubeconfig, "--results", results, "--wait-timeout", "4m"}, args...)
	out, code = cli(t, 30*time.Minute, args...)
	rs, err := report.ReadAll(filepath.Join(results, "junit.xml"))
	if err != nil {
		t.Fatalf("no JUnit (exit %d): %v\n%s", code, err, tail(out, 60))
	}
	if !strings.Contains(out, "cluster: https://") || !strings.Contains(out, "(context ") {
		t.Errorf("the run does not say which cluster it works on:\n%s", tail(out, 60))
	}
	return rs, out, code
}

// noHarnessNamespace: nothing of the run is left in the cluster.
func (c *existingCluster) noHarnessNamespace(t *testing.T) {
	t.Helper()
	_, err := c.kube.CoreV1().Namespaces().Get(context.Background(), suites.HarnessNamespace, metav1.GetOptions{})
	if !apierrors.IsNotFound(err) {
		pods, _ := c.kube.CoreV1().Pods(suites.HarnessNamespace).List(context.Background(), metav1.ListOptions{})
		var names []string
		if pods != nil {
			for _, p := range pods.Items {
				names = append(names, p.Name)
			}
		}
		t.Errorf("namespace %s left behind (%v), pods %v", suites.HarnessNamespace, err, names)
	}
}

// existingMisses judges a run on an existing cluster as catalogueMisses
// judges a kind run, with its phases: existing (and upgrade-N) instead of
// before-cni, install and delete. mayskip allows the checks --lifecycle
// none must not run (they change the cluster outside the harness's namespace).
func existingMisses(rs []report.Result, mayskip map[string]string, phases ...string) []string {
	var out []string
	for _, m := range catalogueMisses(rs, mayskip) {
		if m == "no check passed in phase before-cni" || m == "no check passed in phase install" || m == "no check passed in phase delete" {
			continue
		}
		out = append(out, m)
	}
	seen := map[string]bool{}
	for _, r := range rs {
		if r.State == report.Passed && strings.Contains(strings.Join(r.Labels, ","), "check:") {
			seen[r.Phase] = true
		}
		if r.Phase == "before-cni" || r.Phase == "install" || r.Phase == "delete" {
			out = append(out, fmt.Sprintf("%q is in phase %s, which an existing cluster does not have", r.Spec, r.Phase))
		}
	}
	for _, p := range phases {
		if !seen[p] {
			out = append(out, "no check passed in phase "+p)
		}
	}
	return out
}

// lifecycleNoneSkips are the checks --lifecycle none skips by design.
var lifecycleNoneSkips = map[string]string{
	"bgp/graceful-restart":         "--lifecycle none changes nothing outside namespace",
	"control-plane-to-pod/webhook": "--lifecycle none changes nothing outside namespace",
}

// kube-router with BGP to the router container and a cloud worker, checked
// in place: with the router's API, the on-prem host and node shells every
// check passes as in a kind run (but the two that change the cluster);
// without --router-api the router's checks skip naming it; interrupted, the
// run leaves no namespace or pod behind.
func TestExistingKubeRouter(t *testing.T) {
	kindFull(t, 20)
	chart, err := filepath.Abs(filepath.Join("..", "..", kuberouter.ChartDir))
	if err != nil {
		t.Fatal(err)
	}
	c := upExisting(t, []string{kuberouter.Image()}, fmt.Sprintf(
		"kind: Run\ncni:\n  name: kube-router\n  chartSource: %s\nbgp:\n  enabled: true\nnodes:\n  hybrid: 2\n  cloud: 1\n", chart))

	t.Run("every capability", func(t *testing.T) {
		rs, out, code := c.run(t, "-f", c.runFile, "--router-api", c.info.RouterAPI,
			"--on-prem-host", c.info.OnPremHost.String(), "--node-shell", "--pods-routable="+fmt.Sprint(c.info.RoutesPodCIDRs))
		var failed []string
		for _, r := range rs {
			if r.State == report.Failed {
				failed = append(failed, r.Spec+": "+r.Message)
			}
			if r.Phase == suites.ExistingPhase && r.Version != strings.TrimPrefix(kuberouter.Version, "v") && r.Version != kuberouter.Version {
				t.Errorf("%q: version %q, want the release's %s", r.Spec, r.Version, kuberouter.Version)
			}
		}
		if code != 0 || len(failed) > 0 {
			t.Fatalf("exit %d, failed specs:\n%s\n%s", code, strings.Join(failed, "\n"), tail(out, 60))
		}
		for _, problem := range existingMisses(rs, lifecycleNoneSkips, suites.ExistingPhase) {
			t.Error(problem)
		}
		if m := report.Build(rs).Markdown(); !strings.Contains(m, "kube-router") {
			t.Errorf("the matrix has no kube-router column:\n%s", m)
		}
		c.noHarnessNamespace(t)
	})

	t.Run("no router API", func(t *testing.T) {
		// No run file: pod CIDR, block size, masquerading and BGP from the cluster.
		rs, out, _ := c.run(t, "--label-filter", "feature:bgp || check:readiness.nodes-ready")
		routerChecks := 0
		for _, r := range rs {
			name := ""
			for _, l := range r.Labels {
				if v, ok := strings.CutPrefix(l, "check:"); ok {
					name = v
				}
			}
			switch name {
			case "bgp.sessions", "bgp.pod-blocks", "bgp.services", "bgp.withdrawal", "bgp.graceful-restart":
				routerChecks++
				if r.State != report.Skipped || !strings.Contains(r.Message, "--router-api") {
					t.Errorf("%q is %s (%s), want skipped naming --router-api", r.Spec, r.State, r.Message)
				}
			case "readiness.nodes-ready":
				if r.State != report.Passed {
					t.Errorf("%q is %s: %s", r.Spec, r.State, r.Message)
				}
			}
		}
		if routerChecks == 0 {
			t.Errorf("no router check in the run (BGP not discovered from the release?)\n%s", tail(out, 60))
		}
		c.noHarnessNamespace(t)
	})

	t.Run("interrupted", func(t *testing.T) {
		results := t.TempDir()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, os.Args[0], "run", "--provider", "existing", "--kubeconfig", c.info.Kubeconfig,
			"--results", results, "--node-shell")
		cmd.Env = append(os.Environ(), asCLI+"=1", "NO_COLOR=1")
		var out strings.Builder
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		exited := make(chan error, 1)
		go func() { exited <- cmd.Wait() }()
		// Interrupt once the echo workload has pods.
		deadline := time.Now().Add(5 * time.Minute)
		for {
			pods, err := c.kube.CoreV1().Pods(suites.HarnessNamespace).List(ctx, metav1.ListOptions{})
			if err == nil && len(pods.Items) > 0 {
				break
			}
			select {
			case err := <-exited:
				t.Fatalf("the run ended (%v) before it made a pod:\n%s", err, tail(out.String(), 40))
			default:
			}
			if time.Now().After(deadline) {
				cmd.Process.Kill()
				t.Fatalf("no pod in %s within 5 minutes:\n%s", suites.HarnessNamespace, tail(out.String(), 40))
			}
			time.Sleep(time.Second)
		}
		if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
			t.Fatal(err)
		}
		if err := <-exited; err == nil {
			t.Errorf("an interrupted run exited 0")
		}
		c.noHarnessNamespace(t)
	})
}

// Cilium 1.16.19 installed with `cni install`, then `run --provider
// existing --lifecycle upgrade` to 1.17.0 with the meter and a rollback:
// both versions checked, as the kind run checks them.
func TestExistingCiliumUpgrade(t *testing.T) {
	kindFull(t, 25)
	images := append(cilium.OfflineImages(), cilium.OfflineImages(cilium.OfflineUpgradeTo)...)
	charts := filepath.Join(cacheRoot(t), cilium.OfflineChartDir)
	if _, err := os.Stat(filepath.Join(charts, "index.yaml")); err != nil {
		t.Skipf("no Cilium charts at %s: run `make node-image`", charts)
	}
	values := offlineValues(t)
	c := upExisting(t, images, fmt.Sprintf("kind: Run\ncni:\n  name: cilium\n  version: %s\n  chartSource: %s\n  valuesFiles: [%s]\nbgp:\n  enabled: true\n",
		cilium.OfflineVersion, charts, values))
	rs, out, code := c.run(t, "-f", c.runFile, "--lifecycle", "upgrade", "--upgrade-to", cilium.OfflineUpgradeTo, "--rollback", "--yes",
		"--router-api", c.info.RouterAPI, "--on-prem-host", c.info.OnPremHost.String(), "--node-shell",
		"--pods-routable="+fmt.Sprint(c.info.RoutesPodCIDRs))
	var failed []string
	for _, r := range rs {
		if r.State == report.Failed {
			failed = append(failed, r.Spec+": "+r.Message)
		}
	}
	if code != 0 || len(failed) > 0 {
		t.Fatalf("exit %d, failed specs:\n%s\n%s", code, strings.Join(failed, "\n"), tail(out, 60))
	}
	for _, problem := range existingMisses(rs, nil, suites.ExistingPhase, "upgrade-1", "rollback") {
		t.Error(problem)
	}
	m := report.Build(rs).Markdown()
	for _, v := range []string{cilium.OfflineVersion, cilium.OfflineUpgradeTo} {
		if !strings.Contains(m, "at "+v) {
			t.Errorf("the matrix has no column for %s:\n%s", v, m)
		}
	}
	c.noHarnessNamespace(t)
}
