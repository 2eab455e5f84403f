// Package topologies turns a run into infrastructure: a kind cluster whose
// workers are labelled as hybrid nodes, a Docker network for the on-prem node
// CIDR, the on-prem router and an on-prem host. Topology files (embedded
// defaults or the user's) say which of these pieces a run gets.
package topologies
