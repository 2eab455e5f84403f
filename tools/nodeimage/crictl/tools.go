//go:build tools

// Package crictl pins crictl, which kind's image loading runs inside the nodes, built by hack/node-image.sh.
package crictl

import _ "sigs.k8s.io/cri-tools/cmd/crictl"
