package main

import (
	"github.com/spf13/cobra"

	"github.com/hybridcni/hybridcni/cmd/hybridcni/probecmd"
)

func init() { register(newProbeCmd) }

// newProbeCmd is `hybridcni probe` (and `probe meter`): what pods, containers
// and lab namespaces run for the harness (cmd/hybridcni/probecmd over framework/probe).
func newProbeCmd() *cobra.Command { return probecmd.Probe() }
