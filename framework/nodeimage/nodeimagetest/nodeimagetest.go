// Package nodeimagetest creates kind clusters from the offline node image
// for kind-tier tests: each on a labelled Docker network of its own, deleted
// with its network at cleanup, which also checks nothing is left.
package nodeimagetest

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
	"sigs.k8s.io/kind/pkg/cluster"
	"sigs.k8s.io/kind/pkg/cluster/nodeutils"
	kindexec "sigs.k8s.io/kind/pkg/exec"
	kindlog "sigs.k8s.io/kind/pkg/log"

	"github.com/hybridcni/hybridcni/framework/config"
	"github.com/hybridcni/hybridcni/framework/docker"
	"github.com/hybridcni/hybridcni/framework/nodeimage"
	"github.com/hybridcni/hybridcni/internal/testlock"
	"github.com/hybridcni/hybridcni/topologies"
)

// Env is the node image and engine a kind-tier test runs on.
type Env struct {
	Docker *docker.Client
	Image  string
}

// Require skips (one loud line on stderr too, so CI logs show it)
// unless root, a Docker engine, the docker CLI and the node image are there.
func Require(tb testing.TB) Env {
	tb.Helper()
	skip := func(reason string) {
		fmt.Fprintf(os.Stderr, "### SKIPPED %s: %s\n", tb.Name(), reason)
		tb.Skip("kind tier: skipped: " + reason)
	}
	if testing.Short() || os.Getenv("HYBRIDCNI_UNIT_ONLY") != "" {
		tb.Skip("kind tier: skipped: not in -short / unit-only runs")
	}
	if os.Geteuid() != 0 {
		skip("needs root (privileged node containers)")
	}
	if _, err := exec.LookPath("docker"); err != nil {
		skip("needs the docker CLI on PATH (kind's library runs it): install docker.io")
	}
	ctx := context.Background()
	dc, err := docker.New(ctx)
	if err != nil {
		skip(err.Error())
	}
	tb.Cleanup(func() { dc.Close() })
	tag, ok, err := nodeimage.Present(ctx, dc, nodeimage.KubernetesVersion)
	if err != nil {
		tb.Fatalf("look up node image: %v", err)
	}
	if !ok {
		skip(nodeimage.MissingReason(tag))
	}
	// One kind-tier test at a time on this machine, across packages.
	testlock.Exclusive(tb, "kind-tier")
	tb.Log("kind tier: running") // for the tier summary of make test
	return Env{Docker: dc, Image: tag}
}

// CgroupV1 reports whether this host runs cgroup v1 (no unified hierarchy).
func CgroupV1() bool {
	_, err := os.Stat("/sys/fs/cgroup/cgroup.controllers")
	return err != nil
}

// Cluster is one cluster made by a test, on a network of its own.
type Cluster struct {
	Name       string
	Kubeconfig string
	Created    time.Duration
}

// CreateCluster creates a 1 control-plane + hybrid workers cluster from the
// offline node image through kind's Go library, on a fresh labelled Docker
// network, and registers a cleanup that deletes both and checks that no
// container, volume or network is left.
func CreateCluster(tb testing.TB, env Env, hybrid int) Cluster {
	tb.Helper()
	ctx := context.Background()
	name := topologies.UniqueName("nodeimage")
	subnet := FreeSubnet(tb, env.Docker, 191)
	labels := map[string]string{topologies.LabelRun: name, topologies.LabelCreated: time.Now().UTC().Format(time.RFC3339)}
	if _, err := env.Docker.CreateNetwork(ctx, docker.Network{Name: name, Subnet: subnet, Labels: labels}); err != nil {
		tb.Fatal(err)
	}
	provider := cluster.NewProvider(cluster.ProviderWithDocker(), cluster.ProviderWithLogger(tbLogger{tb}))
	kubeconfig := filepath.Join(tb.TempDir(), "kubeconfig")
	var volumes []string
	tb.Cleanup(func() {
		if err := provider.Delete(name, kubeconfig); err != nil {
			tb.Errorf("delete kind cluster %s: %v", name, err)
		}
		if err := env.Docker.RemoveNetwork(ctx, name); err != nil {
			tb.Errorf("remove network: %v", err)
		}
		assertNothingLeft(tb, env.Docker, name, volumes)
	})

	r := config.Default()
	r.Nodes = config.Nodes{Hybrid: hybrid}
	r.Network.NodeCIDR = subnet.String()
	cfg, err := topologies.KindConfig(r, name, topologies.WithNodeImage(env.Image), topologies.WithCgroupV1(CgroupV1()))
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
	volumes = nodeVolumes(tb, env.Docker, name)
	if err != nil {
		if re := kindexec.RunErrorForError(err); re != nil {
			tb.Logf("output of %v:\n%s", re.Command, tailLines(string(re.Output), 60))
		}
		tb.Logf("diagnostics of %s-control-plane:\n%s", name, nodeDiagnostics(name+"-control-plane"))
		tb.Fatalf("create kind cluster from %s: %v", env.Image, err)
	}
	return Cluster{Name: name, Kubeconfig: kubeconfig, Created: created}
}

// FreeSubnet picks a /24 in 10.B.0.0/16 that no Docker network uses.
func FreeSubnet(tb testing.TB, dc *docker.Client, b int) netip.Prefix {
	tb.Helper()
	for i := 1; i < 255; i++ {
		p := netip.MustParsePrefix(fmt.Sprintf("10.%d.%d.0/24", b, i))
		clash, err := dc.NetworkOverlapping(context.Background(), p)
		if err != nil {
			tb.Fatal(err)
		}
		if clash == "" {
			return p
		}
	}
	tb.Fatalf("no free /24 in 10.%d.0.0/16 for the test network: remove leftover networks (hybridcni gc)", b)
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

// LoadImage copies an image of the local engine into the containerd of every
// node of c (`kind load docker-image`), so pods can use it with no registry.
func LoadImage(tb testing.TB, env Env, c Cluster, ref string) {
	tb.Helper()
	ctx := context.Background()
	nodes, err := cluster.NewProvider(cluster.ProviderWithDocker()).ListInternalNodes(c.Name)
	if err != nil {
		tb.Fatal(err)
	}
	for _, n := range nodes {
		rc, err := env.Docker.API().ImageSave(ctx, []string{ref})
		if err != nil {
			tb.Fatalf("docker save %s: %v", ref, err)
		}
		err = nodeutils.LoadImageArchive(n, rc)
		rc.Close()
		if err != nil {
			tb.Fatalf("load %s into node %s: %v", ref, n.String(), err)
		}
	}
}

// NodeExec runs a command in a node container and returns its output.
func NodeExec(node string, args ...string) (string, error) {
	out, err := exec.Command("docker", append([]string{"exec", node}, args...)...).CombinedOutput()
	return string(out), err
}
