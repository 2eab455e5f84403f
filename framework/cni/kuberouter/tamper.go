package kuberouter

import (
	"context"
	"fmt"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/util/retry"

	"github.com/hybridcni/hybridcni/framework/cni"
)

var (
	_ cni.BGPHoldTimeEditor = Profile{}
	_ cni.NodeRegistrar     = Profile{}
)

// holdTimeFlag is the agent flag the chart renders from bgp.holdTime.
const holdTimeFlag = "--bgp-holdtime="

// rolloutTimeout bounds the wait for the agents to run a changed template.
const rolloutTimeout = 5 * time.Minute

// SetBGPHoldTime implements cni.BGPHoldTimeEditor: the agent DaemonSet's
// --bgp-holdtime, as `helm upgrade --set bgp.holdTime=...` renders it (the
// agents restart with it; kube-router sends keepalives at a third of it).
func (Profile) SetBGPHoldTime(ctx context.Context, c *cni.Cluster, hold time.Duration) (func(context.Context) error, string, error) {
	value := fmt.Sprintf("%s%ds", holdTimeFlag, int64(hold/time.Second))
	old, err := setAgentArg(ctx, c, holdTimeFlag, value)
	if err != nil {
		return nil, "", err
	}
	restore := func(ctx context.Context) error {
		if _, err := setAgentArg(ctx, c, holdTimeFlag, old); err != nil {
			return err
		}
		return waitAgentsRolledOut(ctx, c)
	}
	if err := waitAgentsRolledOut(ctx, c); err != nil {
		return nil, "", fmt.Errorf("%w; and the restore: %v", err, restore(context.WithoutCancel(ctx)))
	}
	return restore, fmt.Sprintf("DaemonSet %s/%s %s (was %s)", Namespace, DaemonSetName, value, old), nil
}

// setAgentArg replaces the agent container's argument starting with prefix
// by arg and returns the one it replaced.
func setAgentArg(ctx context.Context, c *cni.Cluster, prefix, arg string) (string, error) {
	dsc := c.Kube.AppsV1().DaemonSets(Namespace)
	agent := Profile{}.Facts().AgentContainer
	var old string
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		ds, err := dsc.Get(ctx, DaemonSetName, metav1.GetOptions{})
		if err != nil {
			return err
		}
		found := false
		for i := range ds.Spec.Template.Spec.Containers {
			ctr := &ds.Spec.Template.Spec.Containers[i]
			if ctr.Name != agent {
				continue
			}
			for j, a := range ctr.Args {
				if strings.HasPrefix(a, prefix) {
					old, ctr.Args[j], found = a, arg, true
				}
			}
		}
		if !found {
			return fmt.Errorf("DaemonSet %s/%s: container %s has no %s argument", Namespace, DaemonSetName, agent, strings.TrimSuffix(prefix, "="))
		}
		_, err = dsc.Update(ctx, ds, metav1.UpdateOptions{})
		return err
	})
	if err != nil {
		return "", fmt.Errorf("set %s on DaemonSet %s/%s: %w", arg, Namespace, DaemonSetName, err)
	}
	return old, nil
}

// waitAgentsRolledOut waits until every agent runs the current template
// and is ready.
func waitAgentsRolledOut(ctx context.Context, c *cni.Cluster) error {
	var last *appsv1.DaemonSet
	err := wait.PollUntilContextTimeout(ctx, 2*time.Second, rolloutTimeout, true, func(ctx context.Context) (bool, error) {
		ds, err := c.Kube.AppsV1().DaemonSets(Namespace).Get(ctx, DaemonSetName, metav1.GetOptions{})
		if err != nil {
			return false, nil
		}
		last = ds
		st := ds.Status
		return st.ObservedGeneration >= ds.Generation && st.DesiredNumberScheduled > 0 &&
			st.UpdatedNumberScheduled == st.DesiredNumberScheduled && st.NumberReady == st.DesiredNumberScheduled &&
			st.NumberUnavailable == 0, nil
	})
	if err != nil && last != nil {
		st := last.Status
		return fmt.Errorf("DaemonSet %s/%s not rolled out: %d of %d agents updated, %d ready: %w",
			Namespace, DaemonSetName, st.UpdatedNumberScheduled, st.DesiredNumberScheduled, st.NumberReady, err)
	}
	return err
}

// RegisterNode implements cni.NodeRegistrar: kube-router takes a node's
// block from node.spec.podCIDRs, which a Node may carry when it registers
// (the controller manager then keeps it) and which never changes after.
func (Profile) RegisterNode(ctx context.Context, c *cni.Cluster, node *corev1.Node, block string) (func(context.Context) error, error) {
	n := node.DeepCopy()
	n.Spec.PodCIDR, n.Spec.PodCIDRs = block, []string{block}
	if _, err := c.Kube.CoreV1().Nodes().Create(ctx, n, metav1.CreateOptions{}); err != nil {
		return nil, fmt.Errorf("register node %s with pod CIDR %s: %w", n.Name, block, err)
	}
	return func(ctx context.Context) error { return deleteNode(ctx, c, n.Name) }, nil
}

func deleteNode(ctx context.Context, c *cni.Cluster, name string) error {
	if err := c.Kube.CoreV1().Nodes().Delete(ctx, name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("delete node %s: %w", name, err)
	}
	return nil
}
