package main

import (
	"encoding/json"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/hybridcni/hybridcni/framework/chart"
	"github.com/hybridcni/hybridcni/framework/cni"
	"github.com/hybridcni/hybridcni/framework/plan"
)

func init() { register(newPlanCmd) }

func newPlanCmd() *cobra.Command {
	var (
		flags  *runFlags
		output string
	)
	cmd := &cobra.Command{
		Use:   "plan",
		Short: "Print the ordered steps of a run: topology, install, checks, upgrade hops, rollback, delete, cleanup",
		Long: "Plan a run without creating anything. The chart source is read to check the versions and to\n" +
			"find the upgrade hops (newest patch of the installed minor first, then one minor at a time).",
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if output != "text" && output != "json" {
				return invalidf("--output %q: use text or json", output)
			}
			run, err := flags.run()
			if err != nil {
				return err
			}
			p, err := cni.Lookup(run.CNI.Name)
			if err != nil {
				return err
			}
			src, err := chart.NewSource(run.CNI.ChartSource)
			if err != nil {
				return err
			}
			available, err := src.Versions(cmd.Context(), p.ChartName())
			if err != nil {
				return err
			}
			pl, err := plan.Build(run, p, available)
			if err != nil {
				return err
			}
			if output == "json" {
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent("", "  ")
				return enc.Encode(pl)
			}
			fmt.Fprintln(cmd.ErrOrStderr(), pl.Summary())
			return pl.WriteText(cmd.OutOrStdout())
		},
	}
	flags = addRunFlags(cmd).withUpgradeTo()
	cmd.Flags().StringVarP(&output, "output", "o", "text", "output format: text or json")
	return cmd
}
