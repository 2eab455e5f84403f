package main

import (
	"github.com/spf13/cobra"

	"github.com/hybridcni/hybridcni/framework/probe"
)

func init() { register(newProbeCmd) }

// newProbeCmd is `hybridcni probe` (and `probe meter`): what pods, containers
// and lab namespaces run for the harness (framework/probe).
func newProbeCmd() *cobra.Command { return probe.NewCommand() }
