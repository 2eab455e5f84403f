//go:build tools

// Package coredns pins the CoreDNS kubeadm v1.33 deploys
// (constants.CoreDNSVersion v1.12.0), built by hack/node-image.sh for
// hybridcni/node:v1.33.13.
package coredns

import _ "github.com/coredns/coredns"
