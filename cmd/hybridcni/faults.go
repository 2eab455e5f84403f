package main

import (
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/spf13/cobra"

	"github.com/hybridcni/hybridcni/framework/faults"
	"github.com/hybridcni/hybridcni/internal/table"
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
			if output == "json" {
				return faults.WriteJSON(cmd.OutOrStdout())
			}
			return writeFaults(cmd.OutOrStdout(), cmd.ErrOrStderr())
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

// writeFaults lists the fault catalogue, then the checks no fault breaks
// (on errOut when there are none).
func writeFaults(out, errOut io.Writer) error {
	t := table.New(out, "fault", "breaks", "after", "needs", "when", "what it does")
	for _, l := range faults.List() {
		t.Row(l.Name, strings.Join(l.Breaks, ","), l.After, strings.Join(l.Needs, ","), strings.Join(l.Conditions, "; "), l.Doc)
	}
	if err := t.Flush(); err != nil {
		return err
	}
	if len(faults.Gaps) == 0 {
		fmt.Fprintln(errOut, "every catalogue check is broken by a fault")
		return nil
	}
	gaps := make([]string, 0, len(faults.Gaps))
	for c := range faults.Gaps {
		gaps = append(gaps, c)
	}
	sort.Strings(gaps)
	fmt.Fprintln(out)
	t = table.New(out, "check no fault breaks", "why")
	for _, c := range gaps {
		t.Row(c, faults.Gaps[c])
	}
	return t.Flush()
}
