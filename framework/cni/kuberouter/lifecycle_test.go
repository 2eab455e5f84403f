package kuberouter_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/hybridcni/hybridcni/framework/chart"
	"github.com/hybridcni/hybridcni/framework/cni"
	"github.com/hybridcni/hybridcni/framework/cni/cnitest"
	"github.com/hybridcni/hybridcni/framework/cni/kuberouter"
	"github.com/hybridcni/hybridcni/framework/config"
	"github.com/hybridcni/hybridcni/framework/testenv"
)

// On the API tier (kwok nodes), the driver installs the project's chart,
// agents land on hybrid nodes only, and uninstall removes them.
func TestKubeRouterLifecycle(t *testing.T) {
	testenv.RequireBinaries(t)
	env := testenv.StartT(t, testenv.WithHybridNodes(2), testenv.WithCloudNodes(1),
		testenv.WithCNIAgentSelector("k8s-app in (kube-router)"))
	c, err := cni.NewCluster(env.RESTConfig())
	if err != nil {
		t.Fatal(err)
	}
	src, err := chart.NewSource("../../../" + kuberouter.ChartDir)
	if err != nil {
		t.Fatal(err)
	}
	run := config.Default()
	run.CNI = config.CNI{Name: kuberouter.Name, Version: "2.1.0", ChartSource: src.Location}
	run.BGP.Enabled = true
	run.Nodes = config.Nodes{Hybrid: 2, Cloud: 1}
	run.Complete()
	d, err := cni.NewDriver(kuberouter.Name, c, cni.Options{Source: src, Timeout: 60 * time.Second, Log: cnitest.Logger{T: t}})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()

	if r, err := d.Readiness(ctx); err != nil || r.OK() {
		t.Fatalf("before install: readiness OK=%v err=%v, want not ready", r.OK(), err)
	}
	rel, err := d.Install(ctx, run)
	if err != nil {
		if r, rerr := d.Readiness(ctx); rerr == nil {
			t.Logf("readiness: %v", r.Err())
		}
		pods, _ := c.Kube.CoreV1().Pods(kuberouter.Namespace).List(ctx, metav1.ListOptions{})
		for _, p := range pods.Items {
			t.Logf("pod %s on %q: %s %v", p.Name, p.Spec.NodeName, p.Status.Phase, p.Status.Conditions)
		}
		t.Fatal(err)
	}
	if rel.ChartVersion != "2.1.0" {
		t.Errorf("release chart %s, want 2.1.0", rel.ChartVersion)
	}
	pods, err := c.Kube.CoreV1().Pods(kuberouter.Namespace).List(ctx, metav1.ListOptions{LabelSelector: "k8s-app=kube-router"})
	if err != nil {
		t.Fatal(err)
	}
	nodes := map[string]bool{}
	for _, p := range pods.Items {
		n, err := c.Kube.CoreV1().Nodes().Get(ctx, p.Spec.NodeName, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if n.Labels[cni.HybridLabel] != cni.HybridValue {
			t.Errorf("agent %s runs on non-hybrid node %s", p.Name, n.Name)
		}
		nodes[n.Name] = true
	}
	if len(nodes) != 2 {
		t.Errorf("agents on %d nodes, want the 2 hybrid nodes", len(nodes))
	}

	_, err = d.Upgrade(ctx, run, "2.1.0")
	var ce *config.Error
	if !errors.As(err, &ce) || !strings.Contains(err.Error(), "not newer") {
		t.Errorf("upgrade to the installed version: err = %v, want a cni.upgradeTo error saying it is not newer", err)
	}

	if err := d.Uninstall(ctx); err != nil {
		t.Fatal(err)
	}
	r, err := d.Readiness(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if r.OK() || !strings.Contains(r.Err().Error(), "kube-router") {
		t.Fatalf("after uninstall: readiness %v, want a problem naming the kube-router DaemonSet", r.Err())
	}
}
