//go:build tools

// Package kuberouter pins kube-router, the reference CNI of the offline kind
// tier; hack/kube-router-image.sh builds it into hybridcni/kube-router.
package kuberouter

import _ "github.com/cloudnativelabs/kube-router/v2/cmd/kube-router"
