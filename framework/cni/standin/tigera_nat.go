package standin

import (
	"context"
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// ReasonWaitingForBGP marks the conditions the stand-in sets on calico-node
// pods it holds NotReady (natOutgoing disabled, BGP not configured yet).
const ReasonWaitingForBGP = "WaitingForBGP"

// Where the guide's BGP objects may live: projectcalico.org/v3 (served by
// calico-apiserver, or by the v3 CRDs of Calico 3.32's projectcalico.org.v3
// chart) or the crd.projectcalico.org/v1 CRDs Calico reads.
var bgpGroups = []struct{ peers, confs schema.GroupVersionResource }{
	{
		schema.GroupVersionResource{Group: "projectcalico.org", Version: "v3", Resource: "bgppeers"},
		schema.GroupVersionResource{Group: "projectcalico.org", Version: "v3", Resource: "bgpconfigurations"},
	},
	{
		schema.GroupVersionResource{Group: "crd.projectcalico.org", Version: "v1", Resource: "bgppeers"},
		schema.GroupVersionResource{Group: "crd.projectcalico.org", Version: "v1", Resource: "bgpconfigurations"},
	},
}

// waitingForBGP is why Calico cannot start yet, "" when it can: with BGP
// Enabled and a pool whose natOutgoing is Disabled, pod addresses must be
// advertised before Calico's components come up, so calico-node waits for a
// BGPPeer and the BGPConfiguration "default". Without BGP (or with NAT) there
// is nothing to wait for.
func (f *TigeraOperator) waitingForBGP(ctx context.Context, inst *unstructured.Unstructured) string {
	bgp, _, _ := unstructured.NestedString(inst.Object, "spec", "calicoNetwork", "bgp")
	if bgp != "Enabled" {
		return ""
	}
	pools, _, _ := unstructured.NestedSlice(inst.Object, "spec", "calicoNetwork", "ipPools")
	var noNAT []string
	for _, p := range pools {
		m, _ := p.(map[string]any)
		if m["natOutgoing"] == "Disabled" {
			noNAT = append(noNAT, fmt.Sprint(m["cidr"]))
		}
	}
	if len(noNAT) == 0 {
		return ""
	}
	peer, conf := false, false
	for _, g := range bgpGroups {
		if l, err := f.c.Dynamic.Resource(g.peers).List(ctx, metav1.ListOptions{Limit: 1}); err == nil && len(l.Items) > 0 {
			peer = true
		}
		if _, err := f.c.Dynamic.Resource(g.confs).Get(ctx, "default", metav1.GetOptions{}); err == nil {
			conf = true
		}
	}
	var missing []string
	if !peer {
		missing = append(missing, "a BGPPeer")
	}
	if !conf {
		missing = append(missing, "BGPConfiguration default")
	}
	if len(missing) == 0 {
		return ""
	}
	return fmt.Sprintf("calico-node: pool %s has natOutgoing Disabled, so pod addresses must be advertised before Calico starts; waiting for %s",
		strings.Join(noNAT, ", "), strings.Join(missing, " and "))
}

// holdNodePods marks calico-node's running pods NotReady (Ready and
// ContainersReady False, so kwok leaves them) while waiting is set, and
// Ready again, once it is empty, those it held. It returns how many pods
// it holds after this round (a failed update counts as held: retry).
func (f *TigeraOperator) holdNodePods(ctx context.Context, waiting string) (int, error) {
	pods := f.c.Kube.CoreV1().Pods("calico-system")
	l, err := pods.List(ctx, metav1.ListOptions{LabelSelector: "k8s-app=calico-node"})
	if err != nil {
		return 0, fmt.Errorf("tigera-operator stand-in: list calico-node pods: %w", err)
	}
	held := 0
	for i := range l.Items {
		p := &l.Items[i]
		if p.Status.Phase != corev1.PodRunning || p.DeletionTimestamp != nil {
			continue
		}
		changed := false
		for j := range p.Status.Conditions {
			c := &p.Status.Conditions[j]
			if c.Type != corev1.PodReady && c.Type != corev1.ContainersReady {
				continue
			}
			switch {
			case waiting != "" && c.Status != corev1.ConditionFalse:
				c.Status, c.Reason, c.Message = corev1.ConditionFalse, ReasonWaitingForBGP, waiting
				c.LastTransitionTime = metav1.Now()
				changed = true
			case waiting == "" && c.Reason == ReasonWaitingForBGP:
				c.Status, c.Reason, c.Message = corev1.ConditionTrue, "", ""
				c.LastTransitionTime = metav1.Now()
				changed = true
			}
		}
		if changed {
			if _, err := pods.UpdateStatus(ctx, p, metav1.UpdateOptions{}); err != nil {
				// A conflict with kwok: the next round tries again.
				held++
				continue
			}
		}
		if waiting != "" {
			held++
		}
	}
	return held, nil
}
