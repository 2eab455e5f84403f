package main

import (
	"github.com/spf13/cobra"

	"github.com/hybridcni/hybridcni/framework/faults"
)

func init() { register(newFaultsCmd) }

func newFaultsCmd() *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "faults",
		Short: "List the fault catalogue: each fault, the checks it must break, what it needs",
		Long: `List the faults "hybridcni run --faults" injects after install (and after delete,
for the cleanup's checks): what each breaks on the cluster or network, the
catalogue checks that must then fail with a message naming what broke, the
capabilities it needs (node-shell, router, ...) and when it applies. Then the
checks no fault breaks yet.`,
		Example: `  hybridcni faults
  hybridcni faults -o json`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if output != "text" && output != "json" {
				return invalidf("--output %q: use text or json", output)
			}
			return faults.WriteList(cmd.OutOrStdout(), output == "json")
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "text", "output format: text or json")
	return cmd
}

// addFaultsFlag adds --faults to run.
func addFaultsFlag(cmd *cobra.Command, on *bool) {
	cmd.Flags().BoolVar(on, "faults", false,
		"after install's checks, inject each fault (see hybridcni faults) in turn: its checks must fail naming what broke, then pass after heal (writes faults.md)")
}
