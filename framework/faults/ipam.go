package faults

import (
	"context"
	"fmt"
	"net/netip"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/hybridcni/hybridcni/framework/cni"
)

// strayNode is the Node strayNodeBlock registers; faultLabel marks it.
const (
	strayNode  = "hybridcni-fault-stray-node"
	faultLabel = "hybridcni.dev/fault"
)

// strayBlocks are where strayNodeBlock takes a block outside every run's
// networks from: the documentation ranges (RFC 5737), which no run uses.
var strayBlocks = []string{"192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24"}

// outsideBlock is a block of size bits in none of the given prefixes.
func outsideBlock(size int, avoid ...string) (string, error) {
	for _, b := range strayBlocks {
		base := netip.MustParsePrefix(b)
		p, err := base.Addr().Prefix(size)
		if err != nil {
			return "", err
		}
		clear := true
		for _, a := range avoid {
			if ap, err := netip.ParsePrefix(a); err == nil && ap.Overlaps(p) {
				clear = false
			}
		}
		if clear {
			return p.String(), nil
		}
	}
	return "", fmt.Errorf("no block of /%d outside %v in %v", size, avoid, strayBlocks)
}

// strayNodeBlock: a hybrid node registers holding a pod block outside the
// pod CIDR (of the run's block size), as a node joined from another
// cluster's inventory or configured by hand would. No kubelet runs behind
// it; heal deletes it and waits for every pod placed on it to go.
func strayNodeBlock(ctx context.Context, t Target) (Heal, []string, error) {
	reg, ok := t.Profile().(cni.NodeRegistrar)
	if !ok {
		return nil, nil, NotApplicable(t.CNI() + " states no way a node joins its IPAM with a block (framework/cni NodeRegistrar)")
	}
	nw := t.Network()
	size := nw.BlockSize
	if size <= 0 || size > 32 {
		return nil, nil, NotApplicable(fmt.Sprintf("the run's block size /%d is not a prefix length", size))
	}
	block, err := outsideBlock(size, nw.PodCIDR, nw.NodeCIDR, nw.ServiceCIDR, cni.LoadBalancerPoolCIDR, cni.ExternalIPCIDR)
	if err != nil {
		return nil, nil, err
	}
	nodes := t.Kube().CoreV1().Nodes()
	if _, err := nodes.Get(ctx, strayNode, metav1.GetOptions{}); err == nil {
		return nil, nil, fmt.Errorf("node %s is in the cluster already (left by an interrupted fault phase: kubectl delete node %s)", strayNode, strayNode)
	}
	node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: strayNode, Labels: map[string]string{
		cni.HybridLabel: cni.HybridValue, faultLabel: "stray-node-block", corev1.LabelHostname: strayNode,
	}}}
	undo, err := reg.RegisterNode(ctx, t.Cluster(), node, block)
	if err != nil {
		return nil, nil, err
	}
	heal := func(ctx context.Context) error {
		if err := undo(ctx); err != nil {
			return err
		}
		return poll(ctx, settle, "node "+strayNode+" and its pods gone", func(ctx context.Context) (bool, error) {
			if _, err := nodes.Get(ctx, strayNode, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
				if err == nil {
					err = fmt.Errorf("node %s still there", strayNode)
				}
				return false, err
			}
			if err := deleteStrandedPods(ctx, t, strayNode); err != nil {
				return false, err
			}
			left, err := podsPlacedOn(ctx, t, strayNode)
			if err != nil {
				return false, err
			}
			if len(left) > 0 {
				return false, fmt.Errorf("pods still placed on %s: %v", strayNode, left)
			}
			return true, nil
		})
	}
	return heal, []string{strayNode, block}, nil
}

// podsPlacedOn lists the pods bound to node or pinned to it (a DaemonSet's
// pods name their node in a required node affinity before they are bound).
func podsPlacedOn(ctx context.Context, t Target, node string) ([]string, error) {
	l, err := t.Kube().CoreV1().Pods("").List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, err
	}
	var out []string
	for _, p := range l.Items {
		if p.Spec.NodeName == node || pinnedTo(&p, node) {
			out = append(out, p.Namespace+"/"+p.Name)
		}
	}
	return out, nil
}

// deleteStrandedPods deletes the pods pinned to node, a node that is gone,
// and never bound: nothing else does. The DaemonSet controller does not
// watch node deletions (it drops such a pod at its next sync of the
// DaemonSet, which kube-router's did not have within 5 min on kind), and
// the pod garbage collector takes only pods bound to a missing node.
func deleteStrandedPods(ctx context.Context, t Target, node string) error {
	l, err := t.Kube().CoreV1().Pods("").List(ctx, metav1.ListOptions{})
	if err != nil {
		return err
	}
	for _, p := range l.Items {
		if p.Spec.NodeName != "" || !pinnedTo(&p, node) || p.DeletionTimestamp != nil {
			continue
		}
		if err := t.Kube().CoreV1().Pods(p.Namespace).Delete(ctx, p.Name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("delete pod %s/%s, pinned to the removed node %s: %w", p.Namespace, p.Name, node, err)
		}
	}
	return nil
}

func pinnedTo(p *corev1.Pod, node string) bool {
	a := p.Spec.Affinity
	if a == nil || a.NodeAffinity == nil || a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution == nil {
		return false
	}
	for _, term := range a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms {
		for _, f := range term.MatchFields {
			if f.Key == "metadata.name" {
				for _, v := range f.Values {
					if v == node {
						return true
					}
				}
			}
		}
	}
	return false
}

// ipamSettingChanged: an IPAM setting (the pool, the block size) changed in
// place, as an upgrade with other values rewrites the CNI's configuration,
// though the guide says neither may change after install.
func ipamSettingChanged(ctx context.Context, t Target) (Heal, []string, error) {
	ed, ok := t.Profile().(cni.IPAMSettingEditor)
	if !ok {
		return nil, nil, NotApplicable(t.CNI() + " keeps no IPAM setting an upgrade with other values rewrites (framework/cni IPAMSettingEditor)")
	}
	restore, what, err := ed.ChangeIPAMSetting(ctx, t.Cluster())
	if err != nil {
		return nil, nil, err
	}
	return Heal(restore), []string{what}, nil
}
