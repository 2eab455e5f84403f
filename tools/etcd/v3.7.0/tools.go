//go:build tools

// Package etcd pins etcd v3.7.0, the etcd kubeadm v1.37 asks for
// (constants.DefaultEtcdVersion 3.7.0-0): the node image's etcd image and
// the API test tier's etcd are this one binary (tools/k8s/*/etcd-version
// names it).
package etcd

import _ "go.etcd.io/etcd/server/v3"
