package nodeimage

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/volume"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/kind/pkg/cluster"
	kindexec "sigs.k8s.io/kind/pkg/exec"
	kindlog "sigs.k8s.io/kind/pkg/log"

	"github.com/hybridcni/hybridcni/framework/config"
	"github.com/hybridcni/hybridcni/framework/docker"
	"github.com/hybridcni/hybridcni/topologies"
)

// kindEnv is the node image and engine a kind-tier test runs on.
type kindEnv struct {
	dc    *docker.Client
	image string
}

// requireKind skips (one loud line on stderr too, so CI logs show it)
// unless root, a Docker engine, the docker CLI and the node image are there.
func requireKind(tb testing.TB) kindEnv {
	tb.Helper()
	skip := func(reason string) {
		fmt.Fprintf(os.Stderr, "### SKIPPED %s: %s\n", tb.Name(), reason)
		tb.Skip(reason)
	}
	if testing.Short() || os.Getenv("HYBRIDCNI_UNIT_ONLY") != "" {
		tb.Skip("kind tier: not in -short / unit-only runs")
	}
	if os.Geteuid() != 0 {
		skip("kind tier needs root (privileged node containers)")
	}
	if _, err := exec.LookPath("docker"); err != nil {
		skip("kind tier needs the docker CLI on PATH (kind's library runs it): install docker.io")
	}
	ctx := context.Background()
	dc, err := docker.New(ctx)
	if err != nil {
		skip(err.Error())
	}
	tb.Cleanup(func() { dc.Close() })
	tag, ok, err := Present(ctx, dc, KubernetesVersion)
	if err != nil {
		tb.Fatalf("look up node image: %v", err)
	}
	if !ok {
		skip(MissingReason(tag))
	}
	return kindEnv{dc: dc, image: tag}
}

// cgroupV1 reports whether this host runs cgroup v1 (no unified hierarchy).
func cgroupV1() bool {
	_, err := os.Stat("/sys/fs/cgroup/cgroup.controllers")
	return err != nil
}

// kindCluster is one cluster made by a test, on a network of its own.
type kindCluster struct {
	name       string
	kubeconfig string
	created    time.Duration
}

// createCluster creates a 1 control-plane + hybrid workers cluster from the
// offline node image through kind's Go library, on a fresh labelled Docker
// network, and registers a cleanup that deletes both and checks that no
// container, volume or network is left.
func createCluster(tb testing.TB, env kindEnv, hybrid int) kindCluster {
	tb.Helper()
	ctx := context.Background()
	name := topologies.UniqueName("nodeimage")
	subnet := freeSubnet(tb, env.dc)
	labels := map[string]string{topologies.LabelRun: name, topologies.LabelCreated: time.Now().UTC().Format(time.RFC3339)}
	if _, err := env.dc.CreateNetwork(ctx, docker.Network{Name: name, Subnet: subnet, Labels: labels}); err != nil {
		tb.Fatal(err)
	}
	provider := cluster.NewProvider(cluster.ProviderWithDocker(), cluster.ProviderWithLogger(tbLogger{tb}))
	kubeconfig := filepath.Join(tb.TempDir(), "kubeconfig")
	var volumes []string
	tb.Cleanup(func() {
		if err := provider.Delete(name, kubeconfig); err != nil {
			tb.Errorf("delete kind cluster %s: %v", name, err)
		}
		if err := env.dc.RemoveNetwork(ctx, name); err != nil {
			tb.Errorf("remove network: %v", err)
		}
		assertNothingLeft(tb, env.dc, name, volumes)
	})

	r := config.Default()
	r.Nodes = config.Nodes{Hybrid: hybrid}
	r.Network.NodeCIDR = subnet.String()
	cfg, err := topologies.KindConfig(r, name, topologies.WithNodeImage(env.image), topologies.WithCgroupV1(cgroupV1()))
	if err != nil {
		tb.Fatal(err)
	}
	// kind reads the network from the environment while it provisions.
	tb.Setenv("KIND_EXPERIMENTAL_DOCKER_NETWORK", name)
	start := time.Now()
	err = provider.Create(name,
		cluster.CreateWithV1Alpha4Config(cfg),
		cluster.CreateWithKubeconfigPath(kubeconfig),
		cluster.CreateWithWaitForReady(0),
		cluster.CreateWithDisplayUsage(false),
		cluster.CreateWithDisplaySalutation(false),
		cluster.CreateWithRetain(true)) // failed nodes stay for diagnostics; the cleanup deletes them
	created := time.Since(start)
	volumes = nodeVolumes(tb, env.dc, name)
	if err != nil {
		if re := kindexec.RunErrorForError(err); re != nil {
			tb.Logf("output of %v:\n%s", re.Command, tailLines(string(re.Output), 60))
		}
		tb.Logf("diagnostics of %s-control-plane:\n%s", name, nodeDiagnostics(name+"-control-plane"))
		tb.Fatalf("create kind cluster from %s: %v", env.image, err)
	}
	return kindCluster{name: name, kubeconfig: kubeconfig, created: created}
}

func TestKindClusterOnOfflineNodeImage(t *testing.T) {
	env := requireKind(t)
	c := createCluster(t, env, 1)
	t.Logf("cluster %s created from %s in %s", c.name, env.image, c.created.Round(time.Second))

	rc, err := clientcmd.BuildConfigFromFlags("", c.kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	cs, err := kubernetes.NewForConfig(rc)
	if err != nil {
		t.Fatal(err)
	}
	want := Expect{KubeletVersion: KubernetesVersion, ControlPlanes: 1, Hybrid: 1}
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
		last = CheckAwaitingCNI(nodes.Items, want)
		return last == nil, nil
	})
	if err != nil {
		t.Fatalf("nodes of %s never reached the expected state: %v", c.name, last)
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
	env := requireKind(b)
	for i := 0; i < b.N; i++ {
		c := createCluster(b, env, 1)
		b.ReportMetric(c.created.Seconds(), "create-s")
	}
}

// freeSubnet picks a /24 in 10.191.0.0/16 that no Docker network uses.
func freeSubnet(tb testing.TB, dc *docker.Client) netip.Prefix {
	tb.Helper()
	for i := 1; i < 255; i++ {
		p := netip.MustParsePrefix(fmt.Sprintf("10.191.%d.0/24", i))
		clash, err := dc.NetworkOverlapping(context.Background(), p)
		if err != nil {
			tb.Fatal(err)
		}
		if clash == "" {
			return p
		}
	}
	tb.Fatal("no free /24 in 10.191.0.0/16 for the test network: remove leftover networks (hybridcni gc)")
	return netip.Prefix{}
}

// nodeVolumes lists the anonymous volumes of a cluster's node containers.
func nodeVolumes(tb testing.TB, dc *docker.Client, name string) []string {
	ctx := context.Background()
	list, err := dc.API().ContainerList(ctx, container.ListOptions{All: true,
		Filters: filters.NewArgs(filters.Arg("label", topologies.KindClusterLabel+"="+name))})
	if err != nil {
		tb.Errorf("list node containers: %v", err)
		return nil
	}
	var out []string
	for _, c := range list {
		for _, m := range c.Mounts {
			if m.Type == "volume" {
				out = append(out, m.Name)
			}
		}
	}
	return out
}

// assertNothingLeft fails when a node container, one of their volumes or the
// network of cluster name still exists.
func assertNothingLeft(tb testing.TB, dc *docker.Client, name string, volumes []string) {
	ctx := context.Background()
	list, err := dc.API().ContainerList(ctx, container.ListOptions{All: true,
		Filters: filters.NewArgs(filters.Arg("label", topologies.KindClusterLabel+"="+name))})
	if err != nil {
		tb.Errorf("list containers: %v", err)
	}
	for _, c := range list {
		tb.Errorf("container %v of cluster %s left behind", c.Names, name)
	}
	all, err := dc.API().VolumeList(ctx, volume.ListOptions{})
	if err != nil {
		tb.Errorf("list volumes: %v", err)
		return
	}
	have := map[string]bool{}
	for _, v := range all.Volumes {
		have[v.Name] = true
	}
	for _, v := range volumes {
		if have[v] {
			tb.Errorf("volume %s of cluster %s left behind", v, name)
		}
	}
	if clash, _ := dc.NetworkOverlapping(ctx, netip.MustParsePrefix("10.191.0.0/16")); clash == name {
		tb.Errorf("network %s left behind", name)
	}
}

// nodeDiagnostics returns a node's containers, the logs of the exited ones
// and the tail of its kubelet journal.
func nodeDiagnostics(node string) string {
	script := `crictl ps -a; for c in $(crictl ps -a -q --state exited | head -5); do echo "--- logs $c"; crictl logs --tail 15 $c 2>&1; done; echo "--- kubelet"; systemctl status --no-pager kubelet 2>&1 | head -12; journalctl --no-pager -u kubelet | grep -vE " [IW][0-9]{4} " | tail -25`
	out, _ := exec.Command("docker", "exec", node, "bash", "-c", script).CombinedOutput()
	return string(out)
}

func tailLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// tbLogger sends kind's progress to the test log.
type tbLogger struct{ tb testing.TB }

func (l tbLogger) Warn(m string)                        { l.tb.Log("kind: " + m) }
func (l tbLogger) Warnf(f string, a ...any)             { l.tb.Logf("kind: "+f, a...) }
func (l tbLogger) Error(m string)                       { l.tb.Log("kind: " + m) }
func (l tbLogger) Errorf(f string, a ...any)            { l.tb.Logf("kind: "+f, a...) }
func (l tbLogger) V(v kindlog.Level) kindlog.InfoLogger { return tbInfo{l.tb, v <= 0} }

type tbInfo struct {
	tb testing.TB
	on bool
}

func (i tbInfo) Info(m string) {
	if i.on {
		i.tb.Log("kind: " + strings.TrimSpace(m))
	}
}
func (i tbInfo) Infof(f string, a ...any) {
	if i.on {
		i.tb.Logf("kind: "+f, a...)
	}
}
func (i tbInfo) Enabled() bool { return i.on }
