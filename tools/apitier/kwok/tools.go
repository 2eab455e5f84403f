//go:build tools

// Package kwok pins kwok, which plays the kubelets of the fake hybrid and
// cloud nodes. Its own module so its Kubernetes libraries never shift the
// control plane's.
package kwok

import _ "sigs.k8s.io/kwok/cmd/kwok"
