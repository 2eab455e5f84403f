// Package all registers every CNI profile and lifecycle driver; import it
// for its side effects where any CNI may be named.
package all

import (
	_ "github.com/hybridcni/hybridcni/framework/cni/calico"
	_ "github.com/hybridcni/hybridcni/framework/cni/cilium"
	_ "github.com/hybridcni/hybridcni/framework/cni/kuberouter"
)
