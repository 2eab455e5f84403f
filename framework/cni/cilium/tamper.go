package cilium

import (
	"context"
	"fmt"
	"strconv"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/util/retry"

	"github.com/hybridcni/hybridcni/framework/cni"
)

var (
	_ cni.BGPHoldTimeEditor = (*Profile)(nil)
	_ cni.NodeRegistrar     = (*Profile)(nil)
	_ cni.IPAMSettingEditor = (*Profile)(nil)
)

// SetBGPHoldTime implements cni.BGPHoldTimeEditor: the guide's
// CiliumBGPPeerConfig timers.holdTimeSeconds, in the version the cluster
// serves. The keepalive stays; Cilium applies the timers to the sessions it
// opens next.
func (*Profile) SetBGPHoldTime(ctx context.Context, c *cni.Cluster, hold time.Duration) (func(context.Context) error, string, error) {
	v, ok, err := cni.ServedVersion(c.Discovery, BGPGroup, KindPeerConfig)
	if err != nil {
		return nil, "", err
	}
	if !ok {
		return nil, "", fmt.Errorf("the cluster serves no %s (BGP control plane off?)", KindPeerConfig)
	}
	ri := c.Dynamic.Resource(schema.GroupVersionResource{Group: BGPGroup, Version: v, Resource: "ciliumbgppeerconfigs"})
	cur, err := ri.Get(ctx, PeerConfigName, metav1.GetOptions{})
	if err != nil {
		return nil, "", fmt.Errorf("read %s %s: %w", KindPeerConfig, PeerConfigName, err)
	}
	saved, had, _ := unstructured.NestedFieldCopy(cur.Object, "spec", "timers", "holdTimeSeconds")
	set := func(ctx context.Context, value any, present bool) error {
		return retry.RetryOnConflict(retry.DefaultRetry, func() error {
			o, err := ri.Get(ctx, PeerConfigName, metav1.GetOptions{})
			if err != nil {
				return err
			}
			if present {
				err = unstructured.SetNestedField(o.Object, value, "spec", "timers", "holdTimeSeconds")
			} else {
				unstructured.RemoveNestedField(o.Object, "spec", "timers", "holdTimeSeconds")
			}
			if err != nil {
				return err
			}
			_, err = ri.Update(ctx, o, metav1.UpdateOptions{})
			return err
		})
	}
	secs := int64(hold / time.Second)
	if err := set(ctx, secs, true); err != nil {
		return nil, "", fmt.Errorf("set %s %s timers.holdTimeSeconds=%d: %w", KindPeerConfig, PeerConfigName, secs, err)
	}
	restore := func(ctx context.Context) error {
		if err := set(ctx, saved, had); err != nil {
			return fmt.Errorf("restore %s %s timers.holdTimeSeconds: %w", KindPeerConfig, PeerConfigName, err)
		}
		return nil
	}
	return restore, fmt.Sprintf("%s %s timers.holdTimeSeconds=%d (was %v)", KindPeerConfig, PeerConfigName, secs, saved), nil
}

// RegisterNode implements cni.NodeRegistrar: the Node, then its CiliumNode
// with the block in spec.ipam.podCIDRs, as the operator hands one out in
// cluster-pool IPAM (the agent, which would create the CiliumNode, never
// runs there).
func (*Profile) RegisterNode(ctx context.Context, c *cni.Cluster, node *corev1.Node, block string) (func(context.Context) error, error) {
	if _, err := c.Kube.CoreV1().Nodes().Create(ctx, node, metav1.CreateOptions{}); err != nil {
		return nil, fmt.Errorf("register node %s: %w", node.Name, err)
	}
	cn := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "cilium.io/v2", "kind": "CiliumNode",
		"metadata": map[string]any{"name": node.Name},
		"spec":     map[string]any{"ipam": map[string]any{"podCIDRs": []any{block}}},
	}}
	labels := map[string]string{}
	for k, v := range node.Labels {
		labels[k] = v
	}
	cn.SetLabels(labels)
	ri := c.Dynamic.Resource(ciliumNodes)
	undo := func(ctx context.Context) error {
		if err := ri.Delete(ctx, node.Name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("delete CiliumNode %s: %w", node.Name, err)
		}
		if err := c.Kube.CoreV1().Nodes().Delete(ctx, node.Name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("delete node %s: %w", node.Name, err)
		}
		return nil
	}
	if _, err := ri.Create(ctx, cn, metav1.CreateOptions{}); err != nil {
		err = fmt.Errorf("create CiliumNode %s with podCIDRs [%s]: %w", node.Name, block, err)
		if uerr := undo(context.WithoutCancel(ctx)); uerr != nil {
			err = fmt.Errorf("%w; and the undo: %v", err, uerr)
		}
		return nil, err
	}
	return undo, nil
}

// maskSizeKey is the cilium-config key of the cluster-pool block size
// (Helm ipam.operator.clusterPoolIPv4MaskSize), which ReadIPAM reads.
const maskSizeKey = "cluster-pool-ipv4-mask-size"

// ChangeIPAMSetting implements cni.IPAMSettingEditor: the block size in
// cilium-config one bit shorter (twice the addresses per node), as `helm
// upgrade --set ipam.operator.clusterPoolIPv4MaskSize=...` rewrites it. The
// operator and agents read it when they start, so until one restarts
// nothing else changes.
func (*Profile) ChangeIPAMSetting(ctx context.Context, c *cni.Cluster) (func(context.Context) error, string, error) {
	cms := c.Kube.CoreV1().ConfigMaps(Namespace)
	cm, err := cms.Get(ctx, "cilium-config", metav1.GetOptions{})
	if err != nil {
		return nil, "", fmt.Errorf("read ConfigMap %s/cilium-config: %w", Namespace, err)
	}
	old, ok := cm.Data[maskSizeKey]
	if !ok {
		return nil, "", fmt.Errorf("ConfigMap %s/cilium-config has no %s (not cluster-pool IPAM?)", Namespace, maskSizeKey)
	}
	n, err := strconv.Atoi(old)
	if err != nil || n < 2 || n > 32 {
		return nil, "", fmt.Errorf("ConfigMap %s/cilium-config %s %q is not a block size", Namespace, maskSizeKey, old)
	}
	set := func(ctx context.Context, v string) error {
		return retry.RetryOnConflict(retry.DefaultRetry, func() error {
			cm, err := cms.Get(ctx, "cilium-config", metav1.GetOptions{})
			if err != nil {
				return err
			}
			cm.Data[maskSizeKey] = v
			_, err = cms.Update(ctx, cm, metav1.UpdateOptions{})
			return err
		})
	}
	changed := strconv.Itoa(n - 1)
	if err := set(ctx, changed); err != nil {
		return nil, "", fmt.Errorf("set cilium-config %s=%s: %w", maskSizeKey, changed, err)
	}
	restore := func(ctx context.Context) error {
		if err := set(ctx, old); err != nil {
			return fmt.Errorf("restore cilium-config %s=%s: %w", maskSizeKey, old, err)
		}
		return nil
	}
	return restore, fmt.Sprintf("block size /%d", n-1), nil
}
