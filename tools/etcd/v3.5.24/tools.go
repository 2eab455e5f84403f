//go:build tools

// Package etcd pins etcd v3.5.24, the etcd kubeadm v1.33 asks for
// (constants.DefaultEtcdVersion 3.5.24-0): the etcd image of the
// hybridcni/node:v1.33.13 node image (tools/k8s/v1.33.13/etcd-version).
package etcd

import _ "go.etcd.io/etcd/server/v3"
