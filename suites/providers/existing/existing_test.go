package existing

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/hybridcni/hybridcni/framework/chart"
	"github.com/hybridcni/hybridcni/framework/checks"
	"github.com/hybridcni/hybridcni/framework/cni"
	"github.com/hybridcni/hybridcni/framework/cni/cnitest"
	"github.com/hybridcni/hybridcni/framework/cni/kuberouter"
	"github.com/hybridcni/hybridcni/framework/config"
	"github.com/hybridcni/hybridcni/framework/testenv"
	"github.com/hybridcni/hybridcni/suites"
)

// Every catalogue check that needs a capability the options leave out
// skips naming the flag that would provide it; given the flags, nothing
// is lacking.
func TestSkipsNameTheFlag(t *testing.T) {
	env := &suites.Env{Lacking: Lacking(Options{})}
	// No flag gives the cloud CNI yet: its skip says so.
	flagOf := map[checks.Capability]string{checks.Router: RouterFlag, checks.OnPremHost: OnPremFlag, checks.NodeShell: NodeShellFlag,
		checks.CloudCNI: "not identified yet"}
	judged := 0
	for _, c := range checks.Catalogue() {
		for _, capability := range c.Capabilities() {
			if capability == checks.Dataplane {
				if !env.Has(capability) {
					t.Errorf("%s: a real cluster has a dataplane, but it is lacking", c.Name())
				}
				continue
			}
			judged++
			why := env.Missing(capability)
			if !strings.Contains(why, flagOf[capability]) {
				t.Errorf("%s needs %s: the skip %q does not name %s", c.Name(), capability, why, flagOf[capability])
			}
		}
	}
	if judged == 0 {
		t.Fatal("no catalogue check needs the router, the on-prem host or a node shell")
	}
	all := Lacking(Options{RouterAPI: "10.0.0.1:50051", OnPremHost: "10.0.0.2", NodeShell: true})
	delete(all, checks.CloudCNI)
	if len(all) != 0 {
		t.Errorf("with every flag, still lacking %v", all)
	}
}

func TestOnPremAddress(t *testing.T) {
	for in, want := range map[string]string{"10.1.2.3": "10.1.2.3:8080", "10.1.2.3:9090": "10.1.2.3:9090"} {
		ip, port, err := OnPremAddress(in)
		if err != nil || fmt.Sprintf("%s:%d", ip, port) != want {
			t.Errorf("%s: %s:%d %v, want %s", in, ip, port, err, want)
		}
	}
	for _, bad := range []string{"onprem.example", "10.1.2.3:http", "10.1.2.3:70000", ""} {
		if _, _, err := OnPremAddress(bad); err == nil || !strings.Contains(err.Error(), OnPremFlag) {
			t.Errorf("%q: %v, want an error naming %s", bad, err, OnPremFlag)
		}
	}
}

// Nodes: hybrid by the label, cloud the rest but the control plane, each
// with its InternalIP, in name order.
func TestNodesByLabel(t *testing.T) {
	node := func(name, ip string, labels map[string]string) *corev1.Node {
		return &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels},
			Status: corev1.NodeStatus{Addresses: []corev1.NodeAddress{{Type: corev1.NodeHostName, Address: name}, {Type: corev1.NodeInternalIP, Address: ip}}}}
	}
	hyb := map[string]string{cni.HybridLabel: cni.HybridValue}
	kube := fake.NewSimpleClientset(
		node("mi-b", "10.80.0.3", hyb), node("mi-a", "10.80.0.2", hyb),
		node("cloud-1", "172.16.0.5", map[string]string{cni.HybridLabel: "ec2"}),
		node("cp", "172.16.0.2", map[string]string{"node-role.kubernetes.io/control-plane": ""}))
	hybrid, cloud, err := Nodes(context.Background(), kube)
	if err != nil {
		t.Fatal(err)
	}
	if len(hybrid) != 2 || hybrid[0].Name != "mi-a" || hybrid[0].Address != "10.80.0.2" || !hybrid[0].Hybrid || hybrid[1].Name != "mi-b" {
		t.Errorf("hybrid nodes %+v, want mi-a 10.80.0.2 and mi-b", hybrid)
	}
	if len(cloud) != 1 || cloud[0].Name != "cloud-1" || cloud[0].Hybrid {
		t.Errorf("cloud nodes %+v, want cloud-1 only (not the control plane)", cloud)
	}
}

func TestCommonBits(t *testing.T) {
	if got := commonBits(map[string][]string{"a": {"10.85.0.0/25"}, "b": {"10.85.0.128/25"}}); got != 25 {
		t.Errorf("got /%d, want /25", got)
	}
	if got := commonBits(map[string][]string{"a": {"10.85.0.0/25"}, "b": {"10.85.1.0/24"}}); got != 0 {
		t.Errorf("mixed block sizes: got /%d, want 0 (unknown)", got)
	}
}

// On the API tier: no release is an error naming what was looked for;
// after `cni install`'s driver install, discovery finds the release, its
// version, the nodes, masquerading and BGP from the values; Provision
// describes the cluster and Teardown removes the harness's namespace.
func TestDiscoverAndTeardownOnAPITier(t *testing.T) {
	testenv.RequireBinaries(t)
	te := testenv.StartT(t, testenv.WithHybridNodes(2), testenv.WithCloudNodes(1),
		testenv.WithCNIAgentSelector("k8s-app in (kube-router)"))
	ctx := context.Background()
	if _, err := Discover(ctx, te.RESTConfig()); err == nil || !strings.Contains(err.Error(), "no CNI release") || !strings.Contains(err.Error(), "kube-system/kube-router") {
		t.Fatalf("no release: %v, want an error naming the releases looked for", err)
	}
	c, err := cni.NewCluster(te.RESTConfig())
	if err != nil {
		t.Fatal(err)
	}
	src, err := chart.NewSource("../../../" + kuberouter.ChartDir)
	if err != nil {
		t.Fatal(err)
	}
	run := config.Default()
	run.CNI = config.CNI{Name: kuberouter.Name, Version: "2.1.0", ChartSource: src.Location}
	run.BGP.Enabled, run.Network.Masquerade = true, false
	run.Complete()
	d, err := cni.NewDriver(kuberouter.Name, c, cni.Options{Source: src, Timeout: 60 * time.Second, Log: cnitest.Logger{T: t}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.Install(ctx, run); err != nil {
		t.Fatal(err)
	}
	got, err := Discover(ctx, te.RESTConfig())
	if err != nil {
		t.Fatal(err)
	}
	if got.CNI != kuberouter.Name || got.Version() != "2.1.0" || got.Release.Revision != 1 {
		t.Errorf("found %s %s (%s), want kube-router 2.1.0 revision 1", got.CNI, got.Version(), got.Release)
	}
	if len(got.Hybrid) != 2 || len(got.Cloud) != 1 {
		t.Errorf("nodes: %d hybrid %d cloud, want 2 and 1", len(got.Hybrid), len(got.Cloud))
	}
	if !got.SettingsKnown || got.Settings.Masquerade || !got.Settings.BGP {
		t.Errorf("settings %+v (known %v), want masquerading off and BGP on as installed", got.Settings, got.SettingsKnown)
	}

	p, err := suites.LookupProvider(Name, suites.Options{ProviderOptions: Options{Kubeconfig: te.Kubeconfig()}})
	if err != nil {
		t.Fatal(err)
	}
	env, err := p.Provision(ctx, run, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if len(env.HybridNodes()) != 2 || env.Has(checks.Router) || !env.Has(checks.Dataplane) || !env.PodsRoutable {
		t.Errorf("env: %d hybrid nodes, router %v, dataplane %v, pods routable %v", len(env.HybridNodes()), env.Has(checks.Router), env.Has(checks.Dataplane), env.PodsRoutable)
	}
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: suites.HarnessNamespace}}
	if _, err := te.Kube().CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	pod := ShellPod(got.Hybrid[0].Name, "hybridcni/echo:dev", true)
	if _, err := te.Kube().CoreV1().Pods(pod.Namespace).Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := p.Teardown(ctx, env); err != nil {
		t.Fatal(err)
	}
	if _, err := te.Kube().CoreV1().Namespaces().Get(ctx, suites.HarnessNamespace, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("namespace %s after Teardown: %v, want gone", suites.HarnessNamespace, err)
	}
	if rel, err := c.Helm.Get(ctx, kuberouter.ReleaseName, kuberouter.Namespace); err != nil || rel.Revision != 1 {
		t.Errorf("the release after Teardown: %v %v, want revision 1 untouched", rel, err)
	}
}

// The node shell pod shares the host's PID and network namespaces, is
// privileged, pinned to its node and tolerates every taint.
func TestShellPod(t *testing.T) {
	p := ShellPod("mi-0123456789abcdef0", "hybridcni/echo:v1", true)
	c := p.Spec.Containers[0]
	if !p.Spec.HostPID || !p.Spec.HostNetwork || c.SecurityContext == nil || !*c.SecurityContext.Privileged {
		t.Errorf("node shell pod not privileged with host PID and network: %+v", p.Spec)
	}
	if p.Spec.NodeName != "mi-0123456789abcdef0" || p.Namespace != suites.HarnessNamespace || len(p.Spec.Tolerations) != 1 {
		t.Errorf("pod %s/%s on %q", p.Namespace, p.Name, p.Spec.NodeName)
	}
	if strings.Join(c.Command, " ") != "/hybridcni node-shell" {
		t.Errorf("harness image command %v", c.Command)
	}
	if got := strings.Join(harnessEnterArgv([]string{"ip", "route"}), " "); got != "/hybridcni node-shell -- ip route" {
		t.Errorf("harness argv %q", got)
	}
	if got := strings.Join(nsenterArgv([]string{"ip", "route"}), " "); !strings.HasPrefix(got, "nsenter -t 1 -m") || !strings.HasSuffix(got, "-- ip route") {
		t.Errorf("nsenter argv %q", got)
	}
	if long := ShellPodName(strings.Repeat("n", 80)); len(long) > 63 {
		t.Errorf("pod name %d characters", len(long))
	}
}
