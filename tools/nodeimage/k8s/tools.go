//go:build tools

// Package k8s pins the Kubernetes commands of the offline kind node image.
// hack/node-image.sh builds them with the version ldflags set. It requires
// the same k8s.io/kubernetes as tools/apitier/k8s so both share compiled
// packages in the Go build cache.
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
