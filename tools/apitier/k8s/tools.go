//go:build tools

// Package k8s pins the Kubernetes control-plane commands the API test tier
// runs. hack/apitier-build.sh builds them with the version ldflags set.
package k8s

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
	_ "k8s.io/kubernetes/cmd/kube-scheduler"
)
