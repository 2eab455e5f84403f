//go:build tools

// Package coredns pins the CoreDNS kubeadm v1.37 deploys
// (constants.CoreDNSVersion v1.14.6), built by hack/node-image.sh for the
// node images of the Kubernetes versions whose kubeadm asks for it.
package coredns

import _ "github.com/coredns/coredns"
