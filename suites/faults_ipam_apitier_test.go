package suites

import (
	"context"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/hybridcni/hybridcni/framework/cni"
	"github.com/hybridcni/hybridcni/framework/cni/cnitest"
	"github.com/hybridcni/hybridcni/framework/config"
	"github.com/hybridcni/hybridcni/framework/faults"
	"github.com/hybridcni/hybridcni/framework/testenv"
)

// ipamWorld is a run's world on the API tier: kwok nodes with the pod blocks
// the IPAM of cniName records (testenv's Node podCIDRs for kube-router;
// CiliumNodes and cilium-config as the operator writes them for Cilium),
// the fault target the fault phase uses, and the CNI's driver.
func ipamWorld(t *testing.T, env *testenv.Env, c *cni.Cluster, cniName string) *world {
	t.Helper()
	run := config.Default()
	run.CNI = config.CNI{Name: cniName, Version: "1.16.19"}
	run.Network.BlockSize = 24 // testenv's nodes hold /24s
	run.Nodes = config.Nodes{Hybrid: 2, Cloud: 1}
	run.Complete()
	d, err := cni.NewDriver(cniName, c, cni.Options{Timeout: 30 * time.Second, Log: cnitest.Logger{T: t}})
	if err != nil {
		t.Fatal(err)
	}
	e := &Env{Run: run, Provider: "simulated", Kube: c.Kube}
	for _, n := range env.Nodes() {
		e.Nodes = append(e.Nodes, Node{Name: n.Name, Address: n.InternalIP, Hybrid: n.Hybrid})
	}
	return &world{run: run, env: e, driver: d, cluster: c, installed: true}
}

// ciliumIPAM writes what Cilium's operator keeps for cluster-pool IPAM: a
// CiliumNode per hybrid node with its block, and cilium-config's pool and
// block size.
func ciliumIPAM(t *testing.T, env *testenv.Env, c *cni.Cluster) {
	t.Helper()
	ctx := context.Background()
	cnitest.RegisterCRDs(t, c, cnitest.CiliumOperatorCRDs()...)
	ri := c.Dynamic.Resource(schema.GroupVersionResource{Group: "cilium.io", Version: "v2", Resource: "ciliumnodes"})
	for _, n := range env.Nodes() {
		if !n.Hybrid {
			continue
		}
		cn := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "cilium.io/v2", "kind": "CiliumNode",
			"metadata": map[string]any{"name": n.Name},
			"spec":     map[string]any{"ipam": map[string]any{"podCIDRs": []any{n.PodCIDR}}}}}
		if _, err := ri.Create(ctx, cn, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "cilium-config", Namespace: "kube-system"},
		Data: map[string]string{"cluster-pool-ipv4-cidr": "10.85.0.0/16", "cluster-pool-ipv4-mask-size": "24"}}
	if _, err := c.Kube.CoreV1().ConfigMaps("kube-system").Create(ctx, cm, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

// The IPAM faults on a real API server, through the fault phase's own
// target, judged by the checks' own code: stray-node-block makes ipam/blocks
// fail naming the node and its block, for kube-router (Node podCIDRs) and
// Cilium (CiliumNode); ipam-setting-changed makes ipam/unchanged, judged
// against the state before the fault as the fault phase judges it against
// the install's, fail naming the block size on Cilium, and does not apply to
// kube-router; after heal both pass again and the stray node is gone.
func TestIPAMFaultsAPITier(t *testing.T) {
	cnitest.RequireAPITier(t)
	ctx := context.Background()
	env := testenv.StartT(t, testenv.WithHybridNodes(2), testenv.WithCloudNodes(1))
	c, err := cni.NewCluster(env.RESTConfig())
	if err != nil {
		t.Fatal(err)
	}
	ciliumIPAM(t, env, c)
	for _, name := range []string{config.KubeRouter, config.Cilium} {
		t.Run(name, func(t *testing.T) {
			w := ipamWorld(t, env, c, name)
			target := faultTarget{w}
			blocksCheck := func() string {
				t.Helper()
				wrong, blocks, err := w.blockProblemsNow(ctx)
				if err != nil {
					t.Fatal(err)
				}
				t.Logf("pod blocks %v", blocks)
				return strings.Join(wrong, "\n")
			}
			if got := blocksCheck(); got != "" {
				t.Fatalf("ipam/blocks before the fault: %s", got)
			}
			f, _ := faults.Lookup("stray-node-block")
			heal, names, err := f.Inject(ctx, target)
			if err != nil {
				t.Fatal(err)
			}
			got := blocksCheck()
			t.Logf("caught: %s", got)
			for _, want := range []string{"node hybridcni-fault-stray-node block 192.0.2.0/24 is outside the pod CIDR 10.85.0.0/16"} {
				if !strings.Contains(got, want) {
					t.Errorf("ipam/blocks under the fault: %q lacks %q", got, want)
				}
			}
			if !containsAny(got, names) {
				t.Errorf("failure names none of %v", names)
			}
			if err := heal(ctx); err != nil {
				t.Fatal(err)
			}
			if got := blocksCheck(); got != "" {
				t.Errorf("ipam/blocks after heal: %s", got)
			}
			if _, err := c.Kube.CoreV1().Nodes().Get(ctx, "hybridcni-fault-stray-node", metav1.GetOptions{}); err == nil {
				t.Error("the stray node is still there after heal")
			}

			was, err := w.readIPAM(ctx)
			if err != nil {
				t.Fatal(err)
			}
			f, _ = faults.Lookup("ipam-setting-changed")
			heal, names, err = f.Inject(ctx, target)
			if name == config.KubeRouter {
				if !faults.IsNotApplicable(err) {
					t.Errorf("ipam-setting-changed on kube-router: %v, want does not apply", err)
				} else {
					t.Logf("kube-router: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			now, err := w.readIPAM(ctx)
			if err != nil {
				t.Fatal(err)
			}
			changed := strings.Join(ipamChanges(was, now, w.hybridNames()), "; ")
			t.Logf("caught: %s", changed)
			if !strings.Contains(changed, "block size /23, was /24") || !containsAny(changed, names) {
				t.Errorf("ipam/unchanged under the fault: %q, want the block size named (fault names %v)", changed, names)
			}
			if err := heal(ctx); err != nil {
				t.Fatal(err)
			}
			now, err = w.readIPAM(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if changed := ipamChanges(was, now, w.hybridNames()); len(changed) > 0 {
				t.Errorf("ipam/unchanged after heal: %v", changed)
			}
		})
	}
}
