//go:build tools

// Package etcd pins the etcd kubeadm v1.37 expects (constants.DefaultEtcdVersion 3.7.0) for the node image's etcd image, built by hack/node-image.sh.
package etcd

import _ "go.etcd.io/etcd/server/v3"
