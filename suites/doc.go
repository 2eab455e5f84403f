// Package suites holds the Ginkgo specs that qualify a CNI on hybrid nodes:
// readiness, placement, IPAM, connectivity, masquerading, BGP, upgrade and
// delete. One set of specs serves every CNI; each spec carries the labels
// cni:<name>, version:<version> and feature:<feature>, so --label-filter
// selects by CNI, version and feature.
//
// Specs run against an Env that a Provider builds: "kind" (real clusters,
// the router and on-prem host containers) or "simulated" (a real API server
// with kwok nodes: the lifecycle runs for real, dataplane specs skip).
package suites
