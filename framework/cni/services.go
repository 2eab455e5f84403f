package cni

import (
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/hybridcni/hybridcni/framework/config"
)

// Service address types a CNI may advertise (Facts.ServiceAddresses), as
// Cilium's CiliumBGPAdvertisement names them.
const (
	ClusterIP      = "ClusterIP"
	ExternalIP     = "ExternalIP"
	LoadBalancerIP = "LoadBalancerIP"
)

// The addresses the BGP checks give services beyond their ClusterIP: the
// LoadBalancer pool a CNI's own IPAM hands out from, and the external IPs
// set on a service. Both are in 198.18.0.0/15 (RFC 2544, benchmarking), so
// they meet no node, pod or service CIDR of a run (config validation
// refuses runs that overlap it); nothing is sent to them, the router only
// learns them.
const (
	LoadBalancerPoolCIDR = "198.18.0.0/26"
	ExternalIPCIDR       = "198.18.1.0/26"
)

// LoadBalancerIPAM is implemented by profiles whose CNI needs objects to
// hand out LoadBalancer addresses from LoadBalancerPoolCIDR (Cilium's
// CiliumLoadBalancerIPPool); profiles that take the pool from their values
// (kube-router's --loadbalancer-ip-range) need none.
type LoadBalancerIPAM interface {
	LoadBalancerPool(run config.Run) []*unstructured.Unstructured
}

// GuideFixer is implemented by profiles whose guide objects, as written,
// may advertise no service address on some versions. The BGP checks run the
// guide's objects first; when no service is advertised, that is a finding
// about the guide, reported with the fix, and the checks go on with the fix
// applied (and the guide's objects restored after).
type GuideFixer interface {
	// ServiceAdvertisementFix returns the BGP objects with the fix, and
	// what it changes.
	ServiceAdvertisementFix(run config.Run) (objs []*unstructured.Unstructured, fix string)
}
