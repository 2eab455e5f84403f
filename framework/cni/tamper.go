package cni

import (
	"context"
	"time"

	corev1 "k8s.io/api/core/v1"
)

// The interfaces below are how the fault catalogue (framework/faults)
// changes a CNI's own configuration as a hand edit or an upgrade with other
// values would. Each CNI implements them in its own package with what it
// knows of its objects; a CNI without one skips the fault saying so.

// BGPHoldTimeEditor is implemented by profiles whose agents take their BGP
// hold time from configuration the cluster holds (kube-router: its
// DaemonSet's --bgp-holdtime; Cilium: CiliumBGPPeerConfig timers).
type BGPHoldTimeEditor interface {
	// SetBGPHoldTime makes the agents announce hold from their next
	// session on. It returns how to put back what was there (waiting until
	// the CNI runs with it again) and what it changed, in the CNI's own
	// words ("DaemonSet kube-system/kube-router --bgp-holdtime=60s").
	SetBGPHoldTime(ctx context.Context, c *Cluster, hold time.Duration) (restore func(context.Context) error, what string, err error)
}

// NodeRegistrar is implemented by profiles that can say how a node joins
// their IPAM with a pod block: in node.spec.podCIDRs (kube-router) or in
// objects of the CNI's own (Cilium's CiliumNode spec.ipam.podCIDRs).
type NodeRegistrar interface {
	// RegisterNode creates node (a Node object the caller built, with no
	// kubelet behind it) holding block as the CNI's IPAM records a node's
	// block. undo deletes what it created.
	RegisterNode(ctx context.Context, c *Cluster, node *corev1.Node, block string) (undo func(context.Context) error, err error)
}

// IPAMSettingEditor is implemented by profiles whose IPAM settings (the
// pool blocks are carved from, the block size) live in configuration that
// an upgrade with other values rewrites (Cilium: cilium-config).
type IPAMSettingEditor interface {
	// ChangeIPAMSetting changes one such setting in place, as `helm
	// upgrade` with another value would, and returns how to put it back and
	// what the IPAM readers (IPAMReader) now report for it ("block size
	// /24"), as the checks word it.
	ChangeIPAMSetting(ctx context.Context, c *Cluster) (restore func(context.Context) error, what string, err error)
}
