//go:build tools

// Package kuberouter pins kube-router, the reference CNI of the offline kind
// tier; hack/kube-router-image.sh builds it into hybridcni/kube-router.
package kuberouter

import (
	_ "github.com/cloudnativelabs/kube-router/v2/cmd/kube-router"
	// The gobgp CLI of the GoBGP kube-router embeds, as upstream images
	// carry it (the driver's status command and diagnostics use it).
	_ "github.com/osrg/gobgp/v3/cmd/gobgp"
)
