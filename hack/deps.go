//go:build deps

// Package hack pins the libraries the harness is built on while their first
// users are being written; go mod tidy keeps them because of this file.
package hack

import (
	_ "github.com/docker/docker/client"
	_ "github.com/onsi/ginkgo/v2"
	_ "github.com/onsi/gomega"
	_ "github.com/osrg/gobgp/v3/pkg/server"
	_ "github.com/spf13/cobra"
	_ "github.com/vishvananda/netlink"
	_ "github.com/vishvananda/netns"
	_ "helm.sh/helm/v3/pkg/action"
	_ "k8s.io/client-go/kubernetes"
	_ "sigs.k8s.io/e2e-framework/klient"
	_ "sigs.k8s.io/e2e-framework/klient/wait"
	_ "sigs.k8s.io/kind/pkg/cluster"
	_ "sigs.k8s.io/yaml"
)
