package nodeimage

import (
	"errors"
	"fmt"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"

	"github.com/hybridcni/hybridcni/framework/cni"
)

// Expect is the node set a fresh cluster from the node image must show.
type Expect struct {
	KubeletVersion string // e.g. v1.37.2
	ControlPlanes  int
	Hybrid         int
}

// CheckAwaitingCNI checks a fresh cluster with no CNI: the expected number
// of control-plane and hybrid nodes, each running the expected kubelet,
// the hybrid label only on hybrid workers, and every node NotReady because
// the container runtime's network is not ready (and for no other reason).
func CheckAwaitingCNI(nodes []corev1.Node, want Expect) error {
	var errs []string
	cp, hybrid := 0, 0
	sort.Slice(nodes, func(i, j int) bool { return nodes[i].Name < nodes[j].Name })
	for _, n := range nodes {
		_, isCP := n.Labels["node-role.kubernetes.io/control-plane"]
		isHybrid := n.Labels[cni.HybridLabel] == cni.HybridValue
		switch {
		case isCP && isHybrid:
			errs = append(errs, fmt.Sprintf("control-plane node %s carries the hybrid label %s", n.Name, cni.HybridLabel))
		case isCP:
			cp++
		case isHybrid:
			hybrid++
		}
		if v := n.Status.NodeInfo.KubeletVersion; v != want.KubeletVersion {
			errs = append(errs, fmt.Sprintf("node %s runs kubelet %q, want %q", n.Name, v, want.KubeletVersion))
		}
		ready := readyCondition(n)
		switch {
		case ready == nil:
			errs = append(errs, fmt.Sprintf("node %s has no Ready condition yet", n.Name))
		case ready.Status == corev1.ConditionTrue:
			errs = append(errs, fmt.Sprintf("node %s is Ready with no CNI installed", n.Name))
		case !strings.Contains(ready.Message, "NetworkReady=false"):
			errs = append(errs, fmt.Sprintf("node %s is NotReady for another reason than the missing CNI: %s: %s", n.Name, ready.Reason, ready.Message))
		}
	}
	if cp != want.ControlPlanes {
		errs = append(errs, fmt.Sprintf("%d control-plane nodes, want %d", cp, want.ControlPlanes))
	}
	if hybrid != want.Hybrid {
		errs = append(errs, fmt.Sprintf("%d hybrid nodes (label %s=%s), want %d", hybrid, cni.HybridLabel, cni.HybridValue, want.Hybrid))
	}
	if len(errs) > 0 {
		return errors.New(strings.Join(errs, "; "))
	}
	return nil
}

func readyCondition(n corev1.Node) *corev1.NodeCondition {
	for i := range n.Status.Conditions {
		if n.Status.Conditions[i].Type == corev1.NodeReady {
			return &n.Status.Conditions[i]
		}
	}
	return nil
}
