package cilium_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"

	"github.com/hybridcni/hybridcni/framework/chart"
	"github.com/hybridcni/hybridcni/framework/chart/charttest"
	"github.com/hybridcni/hybridcni/framework/cni"
	"github.com/hybridcni/hybridcni/framework/cni/cilium"
	"github.com/hybridcni/hybridcni/framework/cni/cnitest"
	"github.com/hybridcni/hybridcni/framework/config"
)

// wantAll fails t unless err names every part.
var wantAll = cnitest.WantAll

// A pre-flight that never becomes ready stops the upgrade: the release
// stays where it was and the pre-flight release is removed.
func TestPreflightNeverReadyStopsTheUpgrade(t *testing.T) {
	ctx := context.Background()
	_, c, d, run := setup(t, 2, 1, "1.16.18", func(o *cni.Options) {
		// Past the readiness settle window (cni.DefaultSettle), so install passes.
		o.Timeout = cni.DefaultSettle + 10*time.Second
		// Its pods fit no node, as when the pre-flight image cannot run.
		o.PreflightValues = map[string]any{"preflight": map[string]any{
			"nodeSelector": map[string]any{"hybridcni.test/no-such-node": "true"},
		}}
	})
	if _, err := d.Install(ctx, run); err != nil {
		t.Fatal(err)
	}
	hops, err := d.Upgrade(ctx, run, "1.16.19")
	wantAll(t, err, "pre-flight for 1.16.19 failed, upgrade not started",
		"DaemonSet cilium-pre-flight-check READY 0, DaemonSet cilium READY 2",
		"Deployment cilium-pre-flight-check READY 0/1", cni.ReasonUnschedulable)
	if len(hops) != 1 || hops[0].Revision != 0 {
		t.Errorf("hops %+v, want one hop that made no revision", hops)
	}
	cur, err := c.Helm.Get(ctx, cilium.ReleaseName, cilium.Namespace)
	if err != nil || cur.Revision != 1 || cur.ChartVersion != "1.16.18" {
		t.Errorf("release after a failed pre-flight: %v %v, want revision 1 of 1.16.18", cur, err)
	}
	if ok, err := c.Helm.Exists(ctx, cilium.PreflightRelease, cilium.Namespace); err != nil || ok {
		t.Errorf("pre-flight release left behind: %v %v", ok, err)
	}
}

// A hybrid node the agent DaemonSet leaves out, an agent that crash-loops
// or cannot pull its image, and an agent on a cloud node are each named.
func TestReadinessNamesTheNodeAndWhy(t *testing.T) {
	ctx := context.Background()
	env, c, d, run := setup(t, 3, 1, "1.16.18", func(o *cni.Options) { o.Timeout = 4 * time.Second })
	// A user values file pins the agent to racks that hybrid-node-3 is not in.
	for _, n := range env.HybridNodes()[:2] {
		patch := []byte(`{"metadata":{"labels":{"hybridcni.test/rack":"a"}}}`)
		if _, err := c.Kube.CoreV1().Nodes().Patch(ctx, n, types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	values := filepath.Join(t.TempDir(), "rack.yaml")
	if err := os.WriteFile(values, []byte("nodeSelector:\n  kubernetes.io/os: linux\n  hybridcni.test/rack: a\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	run.CNI.ValuesFiles = []string{values}
	_, err := d.Install(ctx, run)
	wantAll(t, err, "installed (revision 1) but CNI not ready",
		"node hybrid-node-3: missing (no cilium pod on this hybrid node; DaemonSet desires 2 pods for 3 hybrid nodes: its node selector, affinity or tolerations leave this node out)",
		"node hybrid-node-3: not ready (Ready=False: container runtime network not ready")
	if !errors.Is(err, cni.ErrNotReady) {
		t.Errorf("error does not wrap ErrNotReady: %v", err)
	}

	// The kubelet reports a crash loop on hybrid-node-1 and an image pull
	// failure on hybrid-node-2.
	pods, err := c.Kube.CoreV1().Pods(cilium.Namespace).List(ctx, metav1.ListOptions{LabelSelector: "k8s-app=cilium"})
	if err != nil || len(pods.Items) != 2 {
		t.Fatalf("agent pods: %v %v", len(pods.Items), err)
	}
	reasons := map[string]corev1.ContainerStateWaiting{
		"hybrid-node-1": {Reason: "CrashLoopBackOff", Message: "back-off 5m0s restarting failed container"},
		"hybrid-node-2": {Reason: "ImagePullBackOff", Message: "Back-off pulling image"},
	}
	for i := range pods.Items {
		p := &pods.Items[i]
		w := reasons[p.Spec.NodeName]
		for j := range p.Status.ContainerStatuses {
			cs := &p.Status.ContainerStatuses[j]
			cs.Ready, cs.RestartCount = false, 7
			cs.State = corev1.ContainerState{Waiting: &w}
			cs.LastTerminationState = corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 1, Reason: "Error"}}
		}
		for j := range p.Status.Conditions {
			if p.Status.Conditions[j].Type == corev1.PodReady || p.Status.Conditions[j].Type == corev1.ContainersReady {
				p.Status.Conditions[j].Status = corev1.ConditionFalse
			}
		}
		if _, err := c.Kube.CoreV1().Pods(cilium.Namespace).UpdateStatus(ctx, p, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	_, err = d.WaitReady(ctx)
	wantAll(t, err, "on node hybrid-node-1: crash-looping (container cilium-agent: CrashLoopBackOff, 7 restarts, last exit code 1 (Error))",
		"on node hybrid-node-2: image pull (container cilium-agent image quay.io/cilium/cilium:v1.16.18",
		"node hybrid-node-3: missing")

	// Without the hybrid affinity the agent lands on the cloud node too.
	if err := c.Helm.Uninstall(ctx, cilium.ReleaseName, cilium.Namespace, chart.ActionOptions{Wait: true, Timeout: time.Minute}); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(values, []byte("affinity: null\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = d.Install(ctx, run)
	wantAll(t, err, "node cloud-node-1: on a non-hybrid node (cilium pod", "the CNI must stay off cloud nodes")
}

// A chart version the source lacks is invalid input naming the field and
// the nearest versions, and nothing is created.
func TestMissingChartVersion(t *testing.T) {
	ctx := context.Background()
	_, c, d, run := setup(t, 2, 0, "1.16.18")
	run.CNI.Version = "1.16.99"
	_, err := d.Install(ctx, run)
	if !slices.Contains(config.Fields(err), "cni.version") {
		t.Fatalf("install of a missing version: %v, want a cni.version error", err)
	}
	wantAll(t, err, "1.16.99", "nearest available", "1.16.19")
	if ok, err := c.Helm.Exists(ctx, cilium.ReleaseName, cilium.Namespace); err != nil || ok {
		t.Errorf("release created for a missing version: %v %v", ok, err)
	}
	run.CNI.Version = "1.16.18"
	if _, err := d.Install(ctx, run); err != nil {
		t.Fatal(err)
	}
	_, err = d.Upgrade(ctx, run, "1.17.99")
	if !slices.Contains(config.Fields(err), "cni.upgradeTo") {
		t.Fatalf("upgrade to a missing version: %v, want a cni.upgradeTo error", err)
	}
	if cur, _ := c.Helm.Get(ctx, cilium.ReleaseName, cilium.Namespace); cur == nil || cur.Revision != 1 {
		t.Errorf("release changed by a refused upgrade: %v", cur)
	}

	// A release that already exists is refused, not replaced.
	_, err = d.Install(ctx, run)
	if !errors.Is(err, chart.ErrReleaseExists) {
		t.Fatalf("second install: %v, want ErrReleaseExists", err)
	}
	wantAll(t, err, "kube-system/cilium revision 1", "upgrade it or uninstall it first")
	if cur, _ := c.Helm.Get(ctx, cilium.ReleaseName, cilium.Namespace); cur == nil || cur.Revision != 1 {
		t.Errorf("release changed by a refused install: %v", cur)
	}
}

// An API server that does not answer fails fast with its address.
func TestUnreachableAPIServer(t *testing.T) {
	dir := charttest.Dir(t)
	c, err := cni.NewCluster(&rest.Config{Host: "https://127.0.0.1:1", Timeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	wantAll(t, c.Reachable(context.Background()), "API server https://127.0.0.1:1 is unreachable", "--kubeconfig")
	src, err := chart.NewSource(dir)
	if err != nil {
		t.Fatal(err)
	}
	run := config.Default()
	run.CNI = config.CNI{Name: config.Cilium, Version: "1.16.18", ChartSource: dir}
	run.Complete()
	d := cilium.NewDriver(c, cni.Options{Source: src, Timeout: 5 * time.Second})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	_, err = d.Install(ctx, run)
	wantAll(t, err, "127.0.0.1:1", "connection refused")
}
