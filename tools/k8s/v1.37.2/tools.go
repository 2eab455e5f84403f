//go:build tools

// Package k8s pins Kubernetes v1.37.2, the one module both the API test tier
// (hack/apitier-build.sh: kube-apiserver, kube-controller-manager,
// kube-scheduler) and the offline kind node image (hack/node-image.sh: those
// and kubelet, kubeadm, kubectl, kube-proxy) build from, into one binary
// cache, so a machine compiles and links each binary once. etcd-version is the
// etcd kubeadm of this version asks for (constants.DefaultEtcdVersion), built
// from tools/etcd/<that version>.
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
