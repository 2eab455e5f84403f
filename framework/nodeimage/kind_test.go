package nodeimage_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/hybridcni/hybridcni/framework/nodeimage"
	"github.com/hybridcni/hybridcni/framework/nodeimage/nodeimagetest"
)

func TestKindClusterOnOfflineNodeImage(t *testing.T) {
	env := nodeimagetest.Require(t)
	c := nodeimagetest.CreateCluster(t, env, 1)
	t.Logf("cluster %s created from %s in %s", c.Name, env.Image, c.Created.Round(time.Second))

	rc, err := clientcmd.BuildConfigFromFlags("", c.Kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	cs, err := kubernetes.NewForConfig(rc)
	if err != nil {
		t.Fatal(err)
	}
	want := nodeimage.Expect{KubeletVersion: nodeimage.KubernetesVersion, ControlPlanes: 1, Hybrid: 1}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	// Nodes register while kind returns; wait until both are there and
	// report why they are not Ready (the kubelet needs a few seconds).
	var last error
	err = wait.PollUntilContextCancel(ctx, time.Second, true, func(ctx context.Context) (bool, error) {
		nodes, err := cs.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
		if err != nil {
			last = err
			return false, nil // the API server may still be settling: infrastructure
		}
		last = nodeimage.CheckAwaitingCNI(nodes.Items, want)
		return last == nil, nil
	})
	if err != nil {
		t.Fatalf("nodes of %s never reached the expected state: %v", c.Name, last)
	}
	// kube-proxy (host network, privileged, from the preloaded image with
	// Debian's iptables) runs on both nodes and programs Service rules.
	err = wait.PollUntilContextCancel(ctx, time.Second, true, func(ctx context.Context) (bool, error) {
		ds, err := cs.AppsV1().DaemonSets("kube-system").Get(ctx, "kube-proxy", metav1.GetOptions{})
		if err != nil {
			last = err
			return false, nil
		}
		last = fmt.Errorf("kube-proxy ready on %d of %d nodes", ds.Status.NumberReady, ds.Status.DesiredNumberScheduled)
		return ds.Status.DesiredNumberScheduled == 2 && ds.Status.NumberReady == 2, nil
	})
	if err != nil {
		t.Fatalf("kube-proxy never ran on both nodes: %v", last)
	}
	// A Ready kube-proxy writes its rules on its first sync, shortly after.
	var rules string
	pctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	err = wait.PollUntilContextCancel(pctx, time.Second, true, func(context.Context) (bool, error) {
		rules, last = nodeimagetest.NodeExec(c.Name+"-worker", "iptables", "-t", "nat", "-S", "KUBE-SERVICES")
		return last == nil && strings.Contains(rules, "default/kubernetes"), nil
	})
	if err != nil {
		t.Fatalf("kube-proxy programmed no rule for default/kubernetes on the worker within a minute: %v\n%s", last, rules)
	}
	// The control plane runs from the preloaded images: the API server
	// answers (above), and CoreDNS waits for a CNI like the nodes do.
	pods, err := cs.CoreV1().Pods("kube-system").List(ctx, metav1.ListOptions{LabelSelector: "k8s-app=kube-dns"})
	if err != nil {
		t.Fatal(err)
	}
	if len(pods.Items) == 0 {
		t.Fatal("kubeadm created no CoreDNS pods")
	}
	for _, p := range pods.Items {
		if p.Status.Phase == "Running" {
			t.Errorf("CoreDNS pod %s is Running with no CNI installed", p.Name)
		}
	}
}

// BenchmarkKindClusterCreate measures kind cluster creation (1 control
// plane + 1 hybrid worker) from the offline node image, delete excluded.
func BenchmarkKindClusterCreate(b *testing.B) {
	env := nodeimagetest.Require(b)
	for i := 0; i < b.N; i++ {
		c := nodeimagetest.CreateCluster(b, env, 1)
		b.ReportMetric(c.Created.Seconds(), "create-s")
	}
}
