package topologies

import (
	"context"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/hybridcni/hybridcni/framework/config"
	"github.com/hybridcni/hybridcni/framework/docker"
	"github.com/hybridcni/hybridcni/framework/image"
	"github.com/hybridcni/hybridcni/internal/testlock"
	"github.com/hybridcni/hybridcni/topologies/doctor"

	"github.com/hybridcni/hybridcni/framework/cni"
)

// localNodeImage is a kind node image present in the engine: $HYBRIDCNI_NODE_IMAGE,
// else the offline one hack/node-image.sh builds; "" when neither is there.
func localNodeImage(t *testing.T) string {
	t.Helper()
	ref := os.Getenv("HYBRIDCNI_NODE_IMAGE")
	if ref == "" {
		root, err := image.ModuleRoot()
		if err != nil {
			return ""
		}
		out, err := exec.Command(filepath.Join(root, "hack", "node-image.sh"), "--tag").Output()
		if err != nil {
			return ""
		}
		ref = strings.TrimSpace(string(out))
	}
	return ref
}

// The kind tier: the same Up the Docker tests drive, with the cluster. The
// control plane carries no hybrid label, the workers do; nodes sit in the
// lower half of the node CIDR; the control plane routes the pod CIDR
// through the router when BGP makes it routable, and refuses it otherwise.
func TestKindClusterOnTheNodeNetwork(t *testing.T) {
	dc := dockerTier(t)
	ref := localNodeImage(t)
	if ok, _ := dc.ImageExists(context.Background(), ref); ref == "" || !ok {
		t.Skipf("kind tier skipped: no node image %q in the engine (build it with hack/node-image.sh or set HYBRIDCNI_NODE_IMAGE)", ref)
	}
	testlock.Exclusive(t, "kind-tier")
	_, imgs := harness(t, dc)
	imgs.Node = ref
	for _, c := range []struct {
		topology string
		routes   bool
	}{{"default", true}, {"isolated-pods", false}} {
		t.Run(c.topology, func(t *testing.T) {
			r := testRun(t, dc, func(r *config.Run) { r.Nodes.Hybrid = 2; r.Nodes.Cloud = 1 })
			topo, _ := Load(c.topology)
			name := UniqueName("kind-" + c.topology)
			cleanupRun(t, dc, name)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
			defer cancel()
			// NodesBooted comes once, while kind still starts Kubernetes
			// (before it writes the kubeconfig), naming the hybrid nodes.
			var (
				mu          sync.Mutex
				booted      [][]Node
				kubeconfigs []string
				state       = t.TempDir()
			)
			onBoot := func(cluster string, ns []Node) {
				mu.Lock()
				defer mu.Unlock()
				booted = append(booted, ns)
				if _, err := os.Stat(filepath.Join(state, cluster, "kubeconfig")); err == nil {
					kubeconfigs = append(kubeconfigs, cluster)
				}
			}
			e, err := Up(ctx, dc, Spec{Run: r, Topology: topo, Name: name, Images: imgs, Cluster: true,
				CgroupV1: doctor.CgroupV1(""), StateDir: state, NodesBooted: onBoot}, WithLogf(t.Logf))
			if err != nil {
				t.Fatal(err)
			}
			mu.Lock()
			if len(booted) != 1 || len(booted[0]) != 4 || len(hybridOf(booted[0])) != 2 {
				t.Errorf("NodesBooted calls %+v, want one with 4 nodes, 2 of them hybrid", booted)
			}
			if len(kubeconfigs) > 0 {
				t.Errorf("NodesBooted came after kind wrote the kubeconfig: the nodes' boot was missed")
			}
			mu.Unlock()
			defer func() {
				// default goes with down (the ledger), isolated-pods with gc
				// (labels and the cluster name), as after a lost ledger.
				how := "down"
				if c.routes {
					err = e.Down(context.Background())
				} else {
					how = "gc"
					_, err = GC(context.Background(), dc, GCOptions{Run: name})
				}
				if err != nil {
					t.Errorf("%s: %v", how, err)
				}
				if left := leftovers(t, dc, name); len(left) > 0 {
					t.Errorf("%s left %s", how, names(left))
				}
			}()
			if e.RoutesPodCIDRs != c.routes {
				t.Fatalf("routes pod CIDRs = %v, want %v", e.RoutesPodCIDRs, c.routes)
			}
			plan, _ := PlanAddresses(r)
			hybrid := 0
			for _, n := range e.Nodes {
				if !plan.NodePool.Contains(n.IP) {
					t.Errorf("node %s at %s, outside the node pool %s", n.Name, n.IP, plan.NodePool)
				}
				if n.Hybrid {
					hybrid++
				}
			}
			if len(e.Nodes) != 4 || hybrid != 2 {
				t.Fatalf("nodes = %+v, want 4 with 2 hybrid", e.Nodes)
			}

			cfg, err := clientcmd.BuildConfigFromFlags("", e.Kubeconfig)
			if err != nil {
				t.Fatal(err)
			}
			cs := kubernetes.NewForConfigOrDie(cfg)
			nodes, err := cs.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
			if err != nil {
				t.Fatal(err)
			}
			byName := map[string]Node{}
			for _, n := range e.Nodes {
				byName[n.Name] = n
			}
			for _, n := range nodes.Items {
				want := byName[n.Name].Hybrid
				if got := n.Labels[cni.HybridLabel] == cni.HybridValue; got != want {
					t.Errorf("node %s hybrid label %v, want %v (labels %v)", n.Name, got, want, n.Labels)
				}
				for _, cond := range n.Status.Conditions {
					if cond.Type == corev1.NodeReady && cond.Status == corev1.ConditionTrue {
						t.Errorf("node %s is Ready with no CNI installed", n.Name)
					}
				}
			}

			if c.routes {
				loadsIntoHybridNodesOnly(ctx, t, dc, e, imgs.Router)
			}

			// The cloud side's route to the pod CIDR.
			pod := netip.MustParsePrefix(e.PodCIDR)
			for _, n := range e.Nodes {
				if n.Hybrid {
					continue
				}
				var got string
				err := e.inContainer(ctx, n.Name, func(cn *ContainerNet) error {
					out, err := cn.NS().Run(ctx, "ip", "-4", "route", "show", pod.String())
					got = strings.TrimSpace(out)
					return err
				})
				if err != nil {
					t.Fatal(err)
				}
				want := "unreachable " + pod.String()
				if c.routes {
					want = pod.String() + " via " + e.Router.String()
				}
				if !strings.HasPrefix(got, want) {
					t.Errorf("%s: route to %s is %q, want %q", n.Name, pod, got, want)
				}
			}
		})
	}
}

// loadsIntoHybridNodesOnly: LoadImageArchiveTo the hybrid nodes (as a
// CNI's images go) puts ref into their containerd and into no other node's;
// a node the cluster lacks is an error naming it.
func loadsIntoHybridNodesOnly(ctx context.Context, t *testing.T, dc *docker.Client, e *Env, ref string) {
	t.Helper()
	archive := filepath.Join(t.TempDir(), "image.tar")
	f, err := os.Create(archive)
	if err != nil {
		t.Fatal(err)
	}
	err = dc.SaveImages(ctx, []string{ref}, f)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	var hybrid []string
	for _, n := range e.Nodes {
		if n.Hybrid {
			hybrid = append(hybrid, n.Name)
		}
	}
	if err := LoadImageArchiveTo(hybrid)(e.Name, archive, t.Logf); err != nil {
		t.Fatal(err)
	}
	for _, n := range e.Nodes {
		res, err := dc.Exec(ctx, n.Name, []string{"ctr", "-n", "k8s.io", "images", "ls", "-q"})
		if err != nil || res.ExitCode != 0 {
			t.Fatalf("ctr images ls on %s: %v %+v", n.Name, err, res)
		}
		if got := slices.Contains(strings.Fields(res.Stdout), "docker.io/"+ref); got != n.Hybrid {
			t.Errorf("node %s (%s) has image %s: %v, want %v", n.Name, n.Role, ref, got, n.Hybrid)
		}
	}
	err = LoadImageArchiveTo([]string{e.Name + "-worker9"})(e.Name, archive, t.Logf)
	if err == nil || !strings.Contains(err.Error(), e.Name+"-worker9") {
		t.Errorf("loading into a node the cluster lacks: %v, want an error naming it", err)
	}
}

// Interrupting Up while kind creates the cluster, or right after, leaves no
// node container, router, host or network behind.
func TestKindInterruptedUpLeavesNothing(t *testing.T) {
	dc := dockerTier(t)
	ref := localNodeImage(t)
	if ok, _ := dc.ImageExists(context.Background(), ref); ref == "" || !ok {
		t.Skipf("kind tier skipped: no node image %q in the engine (build it with hack/node-image.sh or set HYBRIDCNI_NODE_IMAGE)", ref)
	}
	testlock.Exclusive(t, "kind-tier")
	_, imgs := harness(t, dc)
	imgs.Node = ref
	topo, _ := Load("default")
	for _, c := range []struct {
		name  string
		after string
		delay time.Duration
	}{{"during cluster creation", StepOnPremHost, 4 * time.Second}, {"after the cluster", StepCluster, 0}} {
		t.Run(c.name, func(t *testing.T) {
			r := testRun(t, dc, func(r *config.Run) { r.Nodes.Hybrid = 1 })
			name := UniqueName("kind-int")
			cleanupRun(t, dc, name)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			_, err := Up(ctx, dc, Spec{Run: r, Topology: topo, Name: name, Images: imgs, Cluster: true,
				CgroupV1: doctor.CgroupV1(""), StateDir: t.TempDir()}, WithLogf(t.Logf), WithAfterStep(func(step string) {
				if step == c.after {
					time.AfterFunc(c.delay, cancel)
				}
			}))
			if err == nil || !strings.Contains(err.Error(), "interrupted") {
				t.Fatalf("Up: %v, want an interrupted error", err)
			}
			if left := leftovers(t, dc, name); len(left) > 0 {
				t.Fatalf("interrupt %s left %s", c.name, names(left))
			}
		})
	}
}

func hybridOf(ns []Node) []string {
	var out []string
	for _, n := range ns {
		if n.Hybrid {
			out = append(out, n.Name)
		}
	}
	return out
}
