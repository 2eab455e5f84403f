package topologies

import (
	"fmt"

	"sigs.k8s.io/kind/pkg/apis/config/v1alpha4"

	"github.com/hybridcni/hybridcni/framework/config"

	"github.com/hybridcni/hybridcni/framework/cni"
)

// KindOption adjusts the generated kind configuration.
type KindOption func(*kindOptions)

type kindOptions struct {
	nodeImage string
	cgroupV1  bool
}

// WithNodeImage uses an explicit node image instead of the pinned one.
func WithNodeImage(image string) KindOption { return func(o *kindOptions) { o.nodeImage = image } }

// WithCgroupV1 lets the kubelet run on a cgroup v1 host (failCgroupV1: false).
func WithCgroupV1(v1 bool) KindOption { return func(o *kindOptions) { o.cgroupV1 = v1 } }

// KindConfig builds the kind cluster for a run: one control-plane node (the
// cloud side, no hybrid label), the run's cloud workers, and its hybrid workers
// labelled at creation; the default CNI is disabled so the CNI under test is
// the only one.
func KindConfig(r config.Run, name string, opts ...KindOption) (*v1alpha4.Cluster, error) {
	o := kindOptions{}
	for _, opt := range opts {
		opt(&o)
	}
	image := o.nodeImage
	if image == "" {
		var err error
		if image, err = NodeImage(r.Kubernetes.Version); err != nil {
			return nil, err
		}
	}
	c := &v1alpha4.Cluster{
		TypeMeta: v1alpha4.TypeMeta{Kind: "Cluster", APIVersion: "kind.x-k8s.io/v1alpha4"},
		Name:     name,
		Networking: v1alpha4.Networking{
			IPFamily:          v1alpha4.IPv4Family,
			PodSubnet:         r.Network.PodCIDR,
			ServiceSubnet:     r.Network.ServiceCIDR,
			DisableDefaultCNI: true,
		},
	}
	node := func(role v1alpha4.NodeRole, labels map[string]string) v1alpha4.Node {
		return v1alpha4.Node{Role: role, Image: image, Labels: labels}
	}
	c.Nodes = append(c.Nodes, node(v1alpha4.ControlPlaneRole, map[string]string{LabelRole: "control-plane"}))
	for range r.Nodes.Cloud {
		c.Nodes = append(c.Nodes, node(v1alpha4.WorkerRole, map[string]string{LabelRole: "cloud"}))
	}
	for range r.Nodes.Hybrid {
		c.Nodes = append(c.Nodes, node(v1alpha4.WorkerRole, map[string]string{LabelRole: "hybrid", cni.HybridLabel: cni.HybridValue}))
	}
	c.KubeadmConfigPatches = append(c.KubeadmConfigPatches, nodeCIDRMaskPatch(r.Network.BlockSize))
	if o.cgroupV1 {
		c.KubeadmConfigPatches = append(c.KubeadmConfigPatches, cgroupV1Patch)
	}
	return c, nil
}

// nodeCIDRMaskPatch makes the controller manager hand each node a pod CIDR
// of the run's block size (node.spec.podCIDR: the IPAM of CNIs that use it,
// such as kube-router), instead of kubeadm's /24. For both kubeadm config
// versions kind writes; v1beta4 lists extraArgs, so kind's own is repeated.
func nodeCIDRMaskPatch(blockSize int) string {
	return fmt.Sprintf(`kind: ClusterConfiguration
apiVersion: kubeadm.k8s.io/v1beta3
controllerManager:
  extraArgs:
    node-cidr-mask-size: "%[1]d"
---
kind: ClusterConfiguration
apiVersion: kubeadm.k8s.io/v1beta4
controllerManager:
  extraArgs:
  - name: enable-hostpath-provisioner
    value: "true"
  - name: node-cidr-mask-size
    value: "%[1]d"
`, blockSize)
}

// cgroupV1Patch lets Kubernetes >= 1.35 run on a cgroup v1 host: the kubelet
// must not refuse it (failCgroupV1: false), and kubeadm's SystemVerification
// preflight, which fails on cgroup v1 for these kubelets, must be skipped
// explicitly (KEP-5573). Both kubeadm API versions kind may write are listed;
// a patch that matches no document is ignored.
var cgroupV1Patch = fmt.Sprintf(`kind: KubeletConfiguration
apiVersion: kubelet.config.k8s.io/v1beta1
failCgroupV1: %t
---
%s---
%s---
%s---
%s`, false, skipSystemVerification("InitConfiguration", "v1beta4"), skipSystemVerification("JoinConfiguration", "v1beta4"),
	skipSystemVerification("InitConfiguration", "v1beta3"), skipSystemVerification("JoinConfiguration", "v1beta3"))

func skipSystemVerification(kind, version string) string {
	return fmt.Sprintf("kind: %s\napiVersion: kubeadm.k8s.io/%s\nnodeRegistration:\n  ignorePreflightErrors: [SystemVerification]\n", kind, version)
}
