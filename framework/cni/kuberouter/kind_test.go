package kuberouter_test

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/hybridcni/hybridcni/framework/chart"
	"github.com/hybridcni/hybridcni/framework/cni"
	"github.com/hybridcni/hybridcni/framework/cni/cnitest"
	"github.com/hybridcni/hybridcni/framework/cni/kuberouter"
	"github.com/hybridcni/hybridcni/framework/config"
	"github.com/hybridcni/hybridcni/framework/nodeimage/nodeimagetest"
)

// Kind tier: on real kind nodes from the offline node image, the driver
// installs kube-router from the project's chart and image; the hybrid nodes
// turn Ready, agents run only there, and CoreDNS (which needs pod IPs from
// the node's pod CIDR, kubelet-to-pod probes and pod-to-Service traffic to
// the API server) becomes ready on them.
func TestKubeRouterOnKind(t *testing.T) {
	env := nodeimagetest.Require(t)
	ctx := context.Background()
	if ok, err := env.Docker.ImageExists(ctx, kuberouter.Image()); err != nil || !ok {
		reason := fmt.Sprintf("kube-router image %s is not built: run hack/kube-router-image.sh (make node-image)", kuberouter.Image())
		fmt.Fprintf(os.Stderr, "### SKIPPED %s: %s\n", t.Name(), reason)
		t.Skip("kind tier: skipped: " + reason)
	}
	c := nodeimagetest.CreateCluster(t, env, 2)
	nodeimagetest.LoadImage(t, env, c, kuberouter.Image())

	rc, err := clientcmd.BuildConfigFromFlags("", c.Kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	cl, err := cni.NewCluster(rc)
	if err != nil {
		t.Fatal(err)
	}
	src, err := chart.NewSource("../../../" + kuberouter.ChartDir)
	if err != nil {
		t.Fatal(err)
	}
	run := config.Default() // the pod and service CIDRs CreateCluster used
	run.CNI = config.CNI{Name: kuberouter.Name, Version: "2.1.0", ChartSource: src.Location}
	run.Nodes = config.Nodes{Hybrid: 2}
	run.BGP.Enabled = false // no router in this test: the nodes' own iBGP mesh only
	run.Complete()
	d, err := cni.NewDriver(kuberouter.Name, cl, cni.Options{Source: src, Timeout: 4 * time.Minute, Log: cnitest.Logger{T: t}})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if _, err := d.Install(ctx, run); err != nil {
		t.Fatal(err) // names the nodes and agents that are not ready
	}
	t.Logf("kube-router ready on the hybrid nodes %s after install", time.Since(start).Round(time.Second))

	nodes, err := cl.Kube.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	podCIDR := map[string]netip.Prefix{}
	for _, n := range nodes.Items {
		if p, err := netip.ParsePrefix(n.Spec.PodCIDR); err == nil {
			podCIDR[n.Name] = p
		}
	}
	// The control-plane node runs no agent (like the EKS control plane): it
	// reaches pod CIDRs through routes of the "remote pod network", given
	// here straight to each hybrid node as the on-prem router would.
	for _, n := range nodes.Items {
		p, ok := podCIDR[n.Name]
		if !ok || n.Name == c.Name+"-control-plane" {
			continue
		}
		var nodeIP string
		for _, a := range n.Status.Addresses {
			if a.Type == corev1.NodeInternalIP {
				nodeIP = a.Address
			}
		}
		if out, err := nodeimagetest.NodeExec(c.Name+"-control-plane", "ip", "route", "replace", p.String(), "via", nodeIP); err != nil {
			t.Fatalf("route %s via %s on the control plane: %v %s", p, nodeIP, err, out)
		}
	}
	agents, err := cl.Kube.CoreV1().Pods(kuberouter.Namespace).List(ctx, metav1.ListOptions{LabelSelector: "k8s-app=kube-router"})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range agents.Items {
		if p.Spec.NodeName == c.Name+"-control-plane" {
			t.Errorf("agent %s runs on the control-plane node", p.Name)
		}
	}

	var last error
	wctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	err = wait.PollUntilContextCancel(wctx, 2*time.Second, true, func(ctx context.Context) (bool, error) {
		pods, err := cl.Kube.CoreV1().Pods("kube-system").List(ctx, metav1.ListOptions{LabelSelector: "k8s-app=kube-dns"})
		if err != nil {
			if ctx.Err() == nil {
				last = err
			}
			return false, nil
		}
		last = corednsOnPodNetwork(pods.Items, podCIDR)
		return last == nil, nil
	})
	if err != nil {
		for _, sel := range []string{"k8s-app=kube-dns", "k8s-app=kube-router"} {
			pods, _ := cl.Kube.CoreV1().Pods("kube-system").List(ctx, metav1.ListOptions{LabelSelector: sel})
			for _, p := range pods.Items {
				t.Logf("pod %s on %s: %s %s\n%v", p.Name, p.Spec.NodeName, p.Status.Phase, p.Status.PodIP, p.Status.ContainerStatuses)
				logs, _ := cl.Kube.CoreV1().Pods("kube-system").GetLogs(p.Name, &corev1.PodLogOptions{TailLines: ptr(int64(15))}).DoRaw(ctx)
				t.Logf("logs of %s:\n%s", p.Name, logs)
			}
		}
		t.Fatalf("CoreDNS never became ready on the pod network: %v", last)
	}
	if err := d.Uninstall(ctx); err != nil {
		t.Fatal(err)
	}
}

// corednsOnPodNetwork checks every CoreDNS pod is ready with an address in
// the pod CIDR of its node.
func corednsOnPodNetwork(pods []corev1.Pod, podCIDR map[string]netip.Prefix) error {
	if len(pods) == 0 {
		return fmt.Errorf("no CoreDNS pods")
	}
	for _, p := range pods {
		ready := false
		for _, c := range p.Status.Conditions {
			if c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue {
				ready = true
			}
		}
		ip, err := netip.ParseAddr(p.Status.PodIP)
		switch {
		case !ready:
			return fmt.Errorf("CoreDNS pod %s on %q not ready (%s)", p.Name, p.Spec.NodeName, p.Status.Phase)
		case err != nil:
			return fmt.Errorf("CoreDNS pod %s has no pod IP", p.Name)
		case !podCIDR[p.Spec.NodeName].Contains(ip):
			return fmt.Errorf("CoreDNS pod %s has %s, outside the pod CIDR %s of node %s", p.Name, ip, podCIDR[p.Spec.NodeName], p.Spec.NodeName)
		}
	}
	return nil
}

func ptr[T any](v T) *T { return &v }
