package suites

import (
	"context"
	"fmt"
	"net/netip"
	"slices"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/hybridcni/hybridcni/framework/cni"
)

// hybridNodesInCluster are the configured hybrid nodes, then every other
// node the cluster labels hybrid, sorted: ipam/blocks judges the blocks of
// each (a hybrid node that joined beside the run's takes a block from the
// same pool, and a wrong one breaks routing as surely).
func hybridNodesInCluster(ctx context.Context, kube kubernetes.Interface, configured []string) ([]string, error) {
	l, err := kube.CoreV1().Nodes().List(ctx, metav1.ListOptions{LabelSelector: cni.HybridLabel + "=" + cni.HybridValue})
	if err != nil {
		return nil, err
	}
	out := slices.Clone(configured)
	var more []string
	for _, n := range l.Items {
		if !slices.Contains(out, n.Name) {
			more = append(more, n.Name)
		}
	}
	slices.Sort(more)
	return append(out, more...), nil
}

// blockProblemsNow is what ipam/blocks finds wrong with the pod blocks the
// CNI's IPAM holds now (blockProblems over hybridNodesInCluster), and the
// blocks it read.
func (w *world) blockProblemsNow(ctx context.Context) ([]string, map[string][]string, error) {
	ipam, err := w.readIPAM(ctx)
	if err != nil {
		return nil, nil, err
	}
	hybrid, err := hybridNodesInCluster(ctx, w.env.Kube, w.hybridNames())
	if err != nil {
		return nil, nil, fmt.Errorf("list the nodes labelled hybrid: %w", err)
	}
	pod, err := netip.ParsePrefix(w.run.Network.PodCIDR)
	if err != nil {
		return nil, nil, err
	}
	node, err := netip.ParsePrefix(w.run.Network.NodeCIDR)
	if err != nil {
		return nil, nil, err
	}
	return blockProblems(ipam.Blocks, hybrid, pod, node, w.run.Network.BlockSize), ipam.Blocks, nil
}
