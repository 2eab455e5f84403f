package faults

import (
	"context"
	"fmt"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/hybridcni/hybridcni/framework/checks"
	"github.com/hybridcni/hybridcni/framework/cloudcni"
)

// The faults of the cluster's cloud side (framework/cloudcni), after the
// hybrid ones in the order the fault phase injects them.
func init() { catalogue = append(catalogue, cloudFaults...) }

var cloudFaults = []*Fault{
	New("cloud-cni-affinity-removed").Breaks("placement/cloud-cni").Needs(checks.CloudCNI).When(checks.CloudNode).
		Doc("the cloud CNI's DaemonSet loses its anti-affinity to hybrid nodes, so its pods land there (the agent leaves a hybrid node alone)").
		Injects(cloudCNIAffinityRemoved),
	New("cloud-to-hybrid-pods-dropped").Breaks("pod-to-pod/cloud-to-hybrid").
		Needs(checks.Dataplane, checks.NodeShell, checks.CloudCNI).When(checks.CloudNode).
		Doc("the cloud nodes drop what cloud pods send to the hybrid pod CIDR (iptables FORWARD), as a VPC without the remote pod network would, though it is routable").
		Injects(cloudToHybridPodsDropped),
	New("hybrid-to-cloud-pods-dropped").Breaks("pod-to-pod/hybrid-to-cloud").
		Needs(checks.Dataplane, checks.NodeShell, checks.CloudCNI, checks.Router).When(checks.CloudNode, checks.PodsAnswerable).
		Doc("the cloud nodes drop what the hybrid side (pod or masqueraded node addresses) sends their pods (iptables FORWARD)").
		Injects(hybridToCloudPodsDropped),
	New("control-plane-to-cloud-pods-dropped").Breaks("control-plane-to-pod/webhook-cloud").
		Needs(checks.Dataplane, checks.NodeShell, checks.CloudCNI).When(checks.CloudNode).
		Doc("the control-plane node drops what it sends to the cloud pods' range (a webhook on a cloud node is then unreachable)").
		Injects(controlPlaneToCloudPodsDropped),
}

// cloudCNIAffinityRemoved removes the cloud CNI DaemonSet's affinity and
// waits for one of its pods on a hybrid node; heal puts the affinity back
// and waits until none is left there.
func cloudCNIAffinityRemoved(ctx context.Context, t Target) (Heal, []string, error) {
	hybrid := names(t.HybridNodes())
	if len(hybrid) == 0 {
		return nil, nil, NotApplicable("the cluster has no hybrid node for the cloud CNI to land on")
	}
	dsc := t.Kube().AppsV1().DaemonSets(cloudcni.Namespace)
	ds, err := dsc.Get(ctx, cloudcni.Name, metav1.GetOptions{})
	if err != nil {
		return nil, nil, fmt.Errorf("the cloud CNI's DaemonSet %s/%s: %w", cloudcni.Namespace, cloudcni.Name, err)
	}
	saved := ds.Spec.Template.Spec.Affinity.DeepCopy()
	if saved == nil {
		return nil, nil, NotApplicable(fmt.Sprintf("DaemonSet %s/%s has no affinity to remove", ds.Namespace, ds.Name))
	}
	ds.Spec.Template.Spec.Affinity = nil
	if _, err := dsc.Update(ctx, ds, metav1.UpdateOptions{}); err != nil {
		return nil, nil, fmt.Errorf("remove the affinity of DaemonSet %s/%s: %w", ds.Namespace, ds.Name, err)
	}
	onHybrid := func(ctx context.Context) (string, error) {
		pods, err := cloudcni.Pods(ctx, t.Kube())
		if err != nil {
			return "", err
		}
		for _, p := range pods {
			for _, h := range hybrid {
				if p.Spec.NodeName == h && p.DeletionTimestamp == nil {
					return fmt.Sprintf("cloud CNI pod %s on hybrid node %s", p.Name, h), nil
				}
			}
		}
		return "", nil
	}
	heal := func(ctx context.Context) error {
		return retryUpdate(ctx, func(ctx context.Context) error {
			cur, err := dsc.Get(ctx, cloudcni.Name, metav1.GetOptions{})
			if err != nil {
				return err
			}
			cur.Spec.Template.Spec.Affinity = saved
			_, err = dsc.Update(ctx, cur, metav1.UpdateOptions{})
			return err
		}, func(ctx context.Context) (bool, error) {
			left, err := onHybrid(ctx)
			if err != nil || left != "" {
				if left != "" {
					err = fmt.Errorf("%s is still there", left)
				}
				return false, err
			}
			cur, err := dsc.Get(ctx, cloudcni.Name, metav1.GetOptions{})
			if err != nil {
				return false, err
			}
			st := cur.Status
			return st.ObservedGeneration >= cur.Generation && st.DesiredNumberScheduled > 0 &&
				st.UpdatedNumberScheduled == st.DesiredNumberScheduled && st.NumberReady == st.DesiredNumberScheduled, nil
		})
	}
	err = poll(ctx, injectTakes, "a cloud CNI pod on a hybrid node", func(ctx context.Context) (bool, error) {
		on, err := onHybrid(ctx)
		return on != "", err
	})
	if err != nil {
		return nil, nil, healAfter(ctx, heal, err)
	}
	return heal, hybrid, nil
}

// cloudToHybridPodsDropped: the cloud nodes drop cloud pods' traffic to the
// hybrid pod CIDR, though the remote pod network routes it.
func cloudToHybridPodsDropped(ctx context.Context, t Target) (Heal, []string, error) {
	if !t.PodsRoutable() {
		return nil, nil, NotApplicable("hybrid pod CIDRs are not routable from the cloud side: the check expects every probe to fail already")
	}
	cloud := names(t.CloudNodes())
	if len(cloud) == 0 {
		return nil, nil, NotApplicable("the cluster has no cloud node")
	}
	var rules []rule
	for _, n := range cloud {
		rules = append(rules, rule{n, append([]string{"filter"}, cloudcni.DropToHybrid(t.PodCIDR())...)})
	}
	heal, err := iptablesFault(ctx, t, rules)
	return heal, cloud, err
}

// hybridToCloudPodsDropped: the cloud nodes drop what the hybrid side sends
// cloud pods, whichever source address it carries (pod or masqueraded node).
func hybridToCloudPodsDropped(ctx context.Context, t Target) (Heal, []string, error) {
	cloud, hybrid := names(t.CloudNodes()), t.HybridNodes()
	if len(cloud) == 0 || len(hybrid) == 0 {
		return nil, nil, NotApplicable("needs a cloud node and a hybrid node")
	}
	var ips []string
	for _, h := range hybrid {
		ips = append(ips, h.Address)
	}
	var rules []rule
	for _, n := range cloud {
		for _, r := range cloudcni.DropFromHybrid(t.PodCIDR(), ips) {
			rules = append(rules, rule{n, append([]string{"filter"}, r...)})
		}
	}
	heal, err := iptablesFault(ctx, t, rules)
	// The probes are named by their hybrid source pods (echo-<node>-a).
	return heal, names(hybrid), err
}

// controlPlaneToCloudPodsDropped: the control plane drops what it sends to
// cloud pods (the webhook's calls).
func controlPlaneToCloudPodsDropped(ctx context.Context, t Target) (Heal, []string, error) {
	cps, err := controlPlanes(ctx, t)
	if err != nil {
		return nil, nil, err
	}
	var rules []rule
	for _, cp := range cps {
		rules = append(rules, rule{cp, []string{"filter", "OUTPUT", "-d", cloudcni.PodCIDR.String(), "-j", "DROP"}})
	}
	heal, err := iptablesFault(ctx, t, rules)
	// The check's failure names the webhook pod's cloud node.
	return heal, append(names(t.CloudNodes()), cps...), err
}
