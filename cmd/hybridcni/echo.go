package main

import (
	"github.com/spf13/cobra"

	"github.com/hybridcni/hybridcni/framework/echo"
)

func init() { register(newEchoCmd) }

// newEchoCmd is `hybridcni echo`: the server probes talk to (framework/echo).
func newEchoCmd() *cobra.Command { return echo.NewCommand() }
