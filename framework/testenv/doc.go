// Package testenv is the API test tier: a real etcd, kube-apiserver,
// kube-controller-manager and kube-scheduler on loopback, with kwok playing
// the kubelets of fake hybrid and cloud nodes.
//
// The binaries come from hack/apitier-build.sh (`make apitier`), which builds
// them from the Go module proxy into
// ${HYBRIDCNI_CACHE:-~/.cache/hybridcni}/apitier/<k8s>-<etcd>-<kwok>/bin;
// HYBRIDCNI_APITIER_BIN points elsewhere. Tests skip, naming the make
// target, when they are absent.
//
//	func TestInstall(t *testing.T) {
//		e := testenv.StartT(t, testenv.WithHybridNodes(3), testenv.WithCloudNodes(1))
//		// e.RESTConfig(), e.Client() (e2e-framework klient), e.Kubeconfig()
//	}
//
// or, with e2e-framework: testEnv.Setup(testenv.Setup(...)).Finish(testenv.Finish()).
//
// What the tier is and is not:
//   - Nodes carry kubernetes.io/hostname, os, arch; hybrid nodes the label
//     eks.amazonaws.com/compute-type=hybrid. Each has an InternalIP and a pod
//     CIDR (hybrid 10.80.0.0/16 nodes, 10.85.0.0/16 pods; cloud 10.20.0.0/16
//     nodes, 10.21.0.0/16 pods) unless WithNodes says otherwise.
//   - kwok marks a pod bound to a node Running and Ready at once (host-network
//     pods get the node address) and finishes deleted pods. No container
//     runs: an operator Deployment (cilium-operator, tigera-operator) is
//     Running but does nothing, so whatever it would create (CRDs,
//     DaemonSets) a test must create itself.
//   - Hybrid nodes start NotReady, as a kubelet without a CNI reports it
//     (reason KubeletNotReady, message "... NetworkPluginNotReady ... cni
//     plugin not initialized"), and are tainted node.kubernetes.io/not-ready
//     by the controller manager. A node turns Ready while a CNI agent pod
//     (WithCNIAgentSelector, default k8s-app in (cilium,calico-node,kube-router)) is
//     Running on it, and NotReady again when none is. kwok initialises the
//     node (its stage skips Ready for gated nodes) and keeps its lease; the
//     network gate in this package patches the Ready condition.
//     WithoutNetworkGate makes hybrid nodes Ready at once.
//   - Stop, test cleanup, SIGINT and SIGTERM end every component; the
//     components also get SIGKILL if the test process dies (Pdeathsig).
package testenv
