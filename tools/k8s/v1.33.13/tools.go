//go:build tools

// Package k8s pins Kubernetes v1.33.13, the older minor of the offline node
// images (EKS hybrid nodes support it; Cilium 1.18 to 1.20 test on it). As
// with every tools/k8s/<version>, it is the one module both the API test
// tier (hack/apitier-build.sh) and the offline kind node image
// (hack/node-image.sh) build that version from, into one binary cache.
// etcd-version is the etcd kubeadm of this version asks for
// (constants.DefaultEtcdVersion 3.5.24-0), built from tools/etcd/<that version>.
package k8s

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
	_ "k8s.io/kubernetes/cmd/kube-proxy"
	_ "k8s.io/kubernetes/cmd/kube-scheduler"
	_ "k8s.io/kubernetes/cmd/kubeadm"
	_ "k8s.io/kubernetes/cmd/kubectl"
	_ "k8s.io/kubernetes/cmd/kubelet"
)
