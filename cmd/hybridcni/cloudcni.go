package main

import (
	"errors"
	"fmt"
	"log"
	"os"

	"github.com/spf13/cobra"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/hybridcni/hybridcni/framework/cloudcni"
)

func init() { register(newCloudCNICmd) }

// newCloudCNICmd is the agent of the kind runs' cloud CNI (framework/cloudcni),
// run by its DaemonSet on every node that is not hybrid; --ready is its
// readiness probe.
func newCloudCNICmd() *cobra.Command {
	var ready bool
	cmd := &cobra.Command{
		Use:    cloudcni.Command,
		Short:  "The cloud CNI's node agent (kind runs' stand-in for the VPC CNI on cloud nodes)",
		Hidden: true,
		Args:   cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if ready {
				if _, err := os.Stat(cloudcni.ReadyFile); err != nil {
					return errors.New("not synced yet")
				}
				return nil
			}
			node := os.Getenv("NODE_NAME")
			if node == "" {
				return invalidf("NODE_NAME is empty (fix: set it from spec.nodeName, as cloudcni.DaemonSet does)")
			}
			cfg, err := rest.InClusterConfig()
			if err != nil {
				return fmt.Errorf("in-cluster configuration: %w", err)
			}
			kube, err := kubernetes.NewForConfig(cfg)
			if err != nil {
				return err
			}
			logger := log.New(cmd.ErrOrStderr(), "cloud-cni: ", log.LstdFlags)
			a := &cloudcni.Agent{Kube: kube, Node: node, HostRoot: "/proc/1/root", Logf: logger.Printf}
			return a.Run(cmd.Context())
		},
	}
	cmd.Flags().BoolVar(&ready, "ready", false, "exit 0 once the agent has synced its node (the readiness probe)")
	return cmd
}
