package topologies

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"sigs.k8s.io/kind/pkg/apis/config/v1alpha4"
	"sigs.k8s.io/kind/pkg/cluster"
	"sigs.k8s.io/kind/pkg/cluster/nodes"
	"sigs.k8s.io/kind/pkg/cluster/nodeutils"
	kindexec "sigs.k8s.io/kind/pkg/exec"
	kindlog "sigs.k8s.io/kind/pkg/log"
)

// KindClusterLabel is the container label kind puts on its node containers.
const KindClusterLabel = "io.x-k8s.kind.cluster"

// kindNetworkEnv makes kind put nodes on our network; kind reads it while
// provisioning, so creations in one process take turns.
const kindNetworkEnv = "KIND_EXPERIMENTAL_DOCKER_NETWORK"

var kindNetworkMu sync.Mutex

func kindProvider(logf func(string, ...any)) *cluster.Provider {
	return cluster.NewProvider(cluster.ProviderWithDocker(), cluster.ProviderWithLogger(kindLogger{logf}))
}

// createKindCluster creates cfg's cluster on the Docker network and writes
// its kubeconfig to kubeconfig. Nodes stay NotReady (no CNI yet), so kind
// does not wait for them.
func createKindCluster(cfg *v1alpha4.Cluster, network, kubeconfig string, logf func(string, ...any)) error {
	kindNetworkMu.Lock()
	defer kindNetworkMu.Unlock()
	old, had := os.LookupEnv(kindNetworkEnv)
	os.Setenv(kindNetworkEnv, network)
	defer func() {
		if had {
			os.Setenv(kindNetworkEnv, old)
		} else {
			os.Unsetenv(kindNetworkEnv)
		}
	}()
	err := kindProvider(logf).Create(cfg.Name,
		cluster.CreateWithV1Alpha4Config(cfg),
		cluster.CreateWithKubeconfigPath(kubeconfig),
		cluster.CreateWithWaitForReady(0),
		cluster.CreateWithDisplayUsage(false),
		cluster.CreateWithDisplaySalutation(false))
	if err != nil {
		// kind keeps the failed command's output in the error: show its end.
		if re := kindexec.RunErrorForError(err); re != nil && len(re.Output) > 0 {
			return fmt.Errorf("create kind cluster %s: %w; output:\n%s", cfg.Name, err, tail(string(re.Output), 25))
		}
		return fmt.Errorf("create kind cluster %s: %w", cfg.Name, err)
	}
	return nil
}

// deleteKindCluster deletes a cluster's nodes and its kubeconfig context; a
// missing cluster is not an error.
func deleteKindCluster(name, kubeconfig string, logf func(string, ...any)) error {
	if err := kindProvider(logf).Delete(name, kubeconfig); err != nil {
		return fmt.Errorf("delete kind cluster %s: %w", name, err)
	}
	return nil
}

// Node is one kind node as the suites see it.
type Node struct {
	Name   string     `json:"name"`
	Role   string     `json:"role"` // control-plane, cloud or hybrid
	IP     netip.Addr `json:"ip"`
	Hybrid bool       `json:"hybrid"`
}

// kindNodes lists a cluster's nodes with their addresses. The hybrid
// workers are the last r.Nodes.Hybrid workers, as KindConfig orders them;
// kind names workers worker, worker2, ... in config order.
func kindNodes(name string, cloud int, logf func(string, ...any)) ([]Node, error) {
	ns, err := kindProvider(logf).ListNodes(name)
	if err != nil {
		return nil, fmt.Errorf("list nodes of %s: %w", name, err)
	}
	return describeNodes(name, ns, cloud)
}

// nodesBooted waits until the cluster has want node containers, each with
// containerd answering (kind creates and boots them before it starts
// Kubernetes), polling until ctx ends.
func nodesBooted(ctx context.Context, name string, want, cloud int) ([]Node, error) {
	p := kindProvider(func(string, ...any) {})
	for {
		ns, err := p.ListNodes(name)
		if err == nil && len(ns) == want {
			up := true
			for _, n := range ns {
				if n.CommandContext(ctx, "ctr", "--namespace", "k8s.io", "version").Run() != nil {
					up = false
					break
				}
			}
			if up {
				return describeNodes(name, ns, cloud)
			}
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(250 * time.Millisecond):
		}
	}
}

func describeNodes(name string, ns []nodes.Node, cloud int) ([]Node, error) {
	var out []Node
	for _, n := range ns {
		role, err := n.Role()
		if err != nil {
			return nil, err
		}
		v4, _, err := n.IP()
		if err != nil {
			return nil, fmt.Errorf("address of node %s: %w", n, err)
		}
		ip, err := netip.ParseAddr(v4)
		if err != nil {
			return nil, fmt.Errorf("address of node %s: %q: %w", n, v4, err)
		}
		node := Node{Name: n.String(), Role: "control-plane", IP: ip}
		if role != "control-plane" {
			node.Role = "cloud"
			if workerIndex(name, n.String()) > cloud {
				node.Role, node.Hybrid = "hybrid", true
			}
		}
		out = append(out, node)
	}
	return out, nil
}

// workerIndex is 1 for "<cluster>-worker", N for "<cluster>-workerN".
func workerIndex(cluster, node string) int {
	s := strings.TrimPrefix(node, cluster+"-worker")
	if s == "" {
		return 1
	}
	var i int
	fmt.Sscanf(s, "%d", &i)
	return i
}

// kindLogger sends kind's messages to logf.
type kindLogger struct{ logf func(string, ...any) }

func (l kindLogger) Warn(m string)                        { l.logf("kind: %s", m) }
func (l kindLogger) Warnf(f string, a ...any)             { l.logf("kind: "+f, a...) }
func (l kindLogger) Error(m string)                       { l.logf("kind: %s", m) }
func (l kindLogger) Errorf(f string, a ...any)            { l.logf("kind: "+f, a...) }
func (l kindLogger) V(v kindlog.Level) kindlog.InfoLogger { return kindInfo{l, v == 0} }

type kindInfo struct {
	l  kindLogger
	on bool
}

func (i kindInfo) Info(m string) {
	if i.on {
		i.l.logf("kind: %s", m)
	}
}
func (i kindInfo) Infof(f string, a ...any) {
	if i.on {
		i.l.logf("kind: "+f, a...)
	}
}
func (i kindInfo) Enabled() bool { return i.on }

// LoadImageArchive loads a `docker save` archive into every node of a kind
// cluster (containerd's image store), as `kind load image-archive` does.
func LoadImageArchive(cluster, path string, logf func(string, ...any)) error {
	return loadImageArchive(cluster, path, nil, logf)
}

// LoadImageArchiveTo loads the archive into the named nodes only: a hybrid
// CNI's images into the hybrid nodes, where alone its pods run (the
// placement check holds it to that). Each node holds an image twice (the
// archive's layers and the unpacked files): a chain's five Cilium versions
// cost about 11 GB a node, and a node that runs none of them need not.
func LoadImageArchiveTo(nodes []string) func(cluster, path string, logf func(string, ...any)) error {
	return func(cluster, path string, logf func(string, ...any)) error {
		if len(nodes) == 0 {
			return fmt.Errorf("load %s into the nodes of %s: no node named", path, cluster)
		}
		return loadImageArchive(cluster, path, nodes, logf)
	}
}

// loadImageArchive loads into the named nodes (nil: every node).
func loadImageArchive(cluster, path string, only []string, logf func(string, ...any)) error {
	ns, err := kindProvider(logf).ListNodes(cluster)
	if err != nil {
		return fmt.Errorf("list nodes of %s: %w", cluster, err)
	}
	if len(ns) == 0 {
		return fmt.Errorf("kind cluster %s has no nodes: check the name (`hybridcni up` printed it)", cluster)
	}
	// The nodes import at once: each reads the same archive (in the page
	// cache after the first) and writes its own store, so the wait is the
	// slowest node's, not the sum (a chain's five Cilium versions into two
	// workers took about 5 min one node after the other).
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		errs  []error
		found []string
	)
	for _, n := range ns {
		if only != nil && !slices.Contains(only, n.String()) {
			continue
		}
		found = append(found, n.String())
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := loadInto(n, path); err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
				return
			}
			logf("loaded %s into %s", path, n)
		}()
	}
	wg.Wait()
	for _, name := range only {
		if !slices.Contains(found, name) {
			errs = append(errs, fmt.Errorf("load %s: kind cluster %s has no node %s", path, cluster, name))
		}
	}
	return errors.Join(errs...)
}

// loadInto imports the archive at path into node n's containerd.
func loadInto(n nodes.Node, path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := nodeutils.LoadImageArchive(n, f); err != nil {
		// ctr says why (often a full disk): show its end.
		if re := kindexec.RunErrorForError(err); re != nil && len(re.Output) > 0 {
			return fmt.Errorf("load %s into node %s: %w; output:\n%s", path, n, err, tail(string(re.Output), 10))
		}
		return fmt.Errorf("load %s into node %s: %w (a full disk under Docker's root fails it too: see docker system df)", path, n, err)
	}
	return nil
}
