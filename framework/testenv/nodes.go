package testenv

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"sync"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/hybridcni/hybridcni/framework/cni"
)

const (
	// kwokAnnotation marks the nodes kwok plays the kubelet for.
	kwokAnnotation = "kwok.x-k8s.io/node"
	kwokValue      = "fake"
	// NetworkGateAnnotation marks a node that stays NotReady until a CNI
	// agent pod runs on it (see kwok-stages.yaml and netgate.go).
	NetworkGateAnnotation = "testenv.hybridcni.io/network-gate"

	maxNodesPerRole = 200
)

// NodeSpec describes one fake node.
type NodeSpec struct {
	Name string
	// Hybrid labels the node eks.amazonaws.com/compute-type=hybrid.
	Hybrid bool
	// InternalIP is the node address pods with hostNetwork get.
	InternalIP string
	// PodCIDR is where kwok takes the node's pod addresses from.
	PodCIDR string
	// Labels are added to the node's labels.
	Labels map[string]string
}

// Node is a node of a running Env.
type Node struct {
	NodeSpec
	// Gated nodes are NotReady until a CNI agent pod runs on them.
	Gated bool
}

// defaultNodes lays out hybrid nodes on an on-prem node network
// (10.80.0.0/16, pods 10.85.0.0/16) and cloud nodes in a VPC
// (10.20.0.0/16, pods 10.21.0.0/16).
func defaultNodes(hybrid, cloud int) []NodeSpec {
	var nodes []NodeSpec
	for i := 1; i <= hybrid; i++ {
		nodes = append(nodes, NodeSpec{
			Name:       fmt.Sprintf("hybrid-node-%d", i),
			Hybrid:     true,
			InternalIP: fmt.Sprintf("10.80.0.%d", 10+i),
			PodCIDR:    fmt.Sprintf("10.85.%d.0/24", i),
		})
	}
	for i := 1; i <= cloud; i++ {
		nodes = append(nodes, NodeSpec{
			Name:       fmt.Sprintf("cloud-node-%d", i),
			InternalIP: fmt.Sprintf("10.20.0.%d", 10+i),
			PodCIDR:    fmt.Sprintf("10.21.%d.0/24", i),
		})
	}
	return nodes
}

func (n *NodeSpec) validate() error {
	if errs := validation.IsDNS1123Subdomain(n.Name); len(errs) > 0 {
		return fmt.Errorf("Name %q: %v", n.Name, errs)
	}
	if a, err := netip.ParseAddr(n.InternalIP); err != nil || !a.Is4() {
		return fmt.Errorf("node %s: InternalIP %q: want an IPv4 address like 10.80.0.11", n.Name, n.InternalIP)
	}
	if p, err := netip.ParsePrefix(n.PodCIDR); err != nil || !p.Addr().Is4() || p.Masked() != p {
		return fmt.Errorf("node %s: PodCIDR %q: want an IPv4 network like 10.85.1.0/24", n.Name, n.PodCIDR)
	}
	for k, v := range n.Labels {
		if errs := validation.IsQualifiedName(k); len(errs) > 0 {
			return fmt.Errorf("node %s: label key %q: %v", n.Name, k, errs)
		}
		if errs := validation.IsValidLabelValue(v); len(errs) > 0 {
			return fmt.Errorf("node %s: label %s value %q: %v", n.Name, k, v, errs)
		}
	}
	return nil
}

// object is the Node as a kubelet would register it. The API server keeps
// status on create for nodes, so kwok finds the addresses already there.
func (n Node) object() *corev1.Node {
	lbl := map[string]string{
		"kubernetes.io/hostname": n.Name,
		"kubernetes.io/os":       "linux",
		"kubernetes.io/arch":     "amd64",
		"type":                   "kwok",
	}
	if n.Hybrid {
		lbl[cni.HybridLabel] = cni.HybridValue
	}
	for k, v := range n.Labels {
		lbl[k] = v
	}
	ann := map[string]string{kwokAnnotation: kwokValue}
	if n.Gated {
		ann[NetworkGateAnnotation] = "cni"
	}
	var conds []corev1.NodeCondition
	if n.Gated {
		// Registered NotReady, so the not-ready taint the API server adds
		// on create is never lifted before kwok initialises the node.
		now := metav1.Now()
		conds = []corev1.NodeCondition{{
			Type: corev1.NodeReady, Status: corev1.ConditionFalse,
			Reason: NotReadyReason, Message: NotReadyMessage,
			LastHeartbeatTime: now, LastTransitionTime: now,
		}}
	}
	return &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: n.Name, Labels: lbl, Annotations: ann},
		Spec:       corev1.NodeSpec{PodCIDR: n.PodCIDR, PodCIDRs: []string{n.PodCIDR}},
		Status: corev1.NodeStatus{
			Addresses: []corev1.NodeAddress{
				{Type: corev1.NodeInternalIP, Address: n.InternalIP},
				{Type: corev1.NodeHostName, Address: n.Name},
			},
			Conditions: conds,
			NodeInfo: corev1.NodeSystemInfo{
				KubeletVersion:          KubeVersion,
				ContainerRuntimeVersion: "kwok://" + KwokVersion,
				OperatingSystem:         "linux",
				Architecture:            "amd64",
			},
		},
	}
}

// AddNode registers a fake node. A hybrid node is gated (NotReady until a
// CNI agent runs on it) unless the Env was started WithoutNetworkGate. It
// returns once the node exists; kwok initialises it shortly after.
func (e *Env) AddNode(ctx context.Context, spec NodeSpec) (Node, error) {
	nodes, err := e.AddNodes(ctx, spec)
	if err != nil {
		return Node{}, err
	}
	return nodes[0], nil
}

// AddNodes registers several nodes, a few at a time; see AddNode.
func (e *Env) AddNodes(ctx context.Context, specs ...NodeSpec) ([]Node, error) {
	nodes := make([]Node, len(specs))
	for i, spec := range specs {
		if err := spec.validate(); err != nil {
			return nil, fmt.Errorf("testenv: AddNodes: %w", err)
		}
		nodes[i] = Node{NodeSpec: spec, Gated: spec.Hybrid && e.cfg.networkGate}
	}
	errs := make([]error, len(nodes))
	sem := make(chan struct{}, 8)
	var wg sync.WaitGroup
	for i := range nodes {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			if _, err := e.kube.CoreV1().Nodes().Create(ctx, nodes[i].object(), metav1.CreateOptions{}); err != nil {
				errs[i] = fmt.Errorf("create node %s: %w", nodes[i].Name, err)
			}
		}()
	}
	wg.Wait()
	var created []Node
	for i, n := range nodes {
		if errs[i] == nil {
			created = append(created, n)
		}
	}
	e.mu.Lock()
	e.nodes = append(e.nodes, created...)
	e.mu.Unlock()
	if err := errors.Join(errs...); err != nil {
		return created, err
	}
	return nodes, nil
}
