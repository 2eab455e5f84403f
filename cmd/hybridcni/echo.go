package main

import (
	"github.com/spf13/cobra"

	"github.com/hybridcni/hybridcni/cmd/hybridcni/probecmd"
)

func init() { register(newEchoCmd) }

// newEchoCmd is `hybridcni echo`: the server probes talk to
// (cmd/hybridcni/probecmd over framework/echo).
func newEchoCmd() *cobra.Command { return probecmd.Echo() }
