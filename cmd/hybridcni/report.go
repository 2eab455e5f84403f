package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/hybridcni/hybridcni/framework/report"
)

func init() { register(newReportCmd) }

func newReportCmd() *cobra.Command {
	var mdPath, htmlPath, title string
	var strict bool
	cmd := &cobra.Command{
		Use:   "report RESULTS...",
		Short: "Merge JUnit results into a compatibility matrix (Markdown and HTML)",
		Long: "Reads JUnit files (or folders of them) written by the suites and prints the\n" +
			"compatibility matrix: one row per feature of the hybrid-nodes guide, one column\n" +
			"per CNI and version, cells with pass/fail/skip, durations and disruption figures.",
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) == 0 {
				return invalidf("report needs at least one JUnit file or results folder (fix: pass the --results folder of a run, e.g. hybridcni report results)")
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			results, err := report.ReadAll(args...)
			if err != nil {
				return invalidf("%v", err)
			}
			m := report.Build(results)
			report.Sources = args
			md := m.Markdown()
			if mdPath == "" {
				fmt.Fprint(cmd.OutOrStdout(), md)
			} else if err := os.WriteFile(mdPath, []byte(md), 0o644); err != nil {
				return err
			}
			if htmlPath != "" {
				page, err := m.HTML(title)
				if err != nil {
					return err
				}
				if err := os.WriteFile(htmlPath, []byte(page), 0o644); err != nil {
					return err
				}
			}
			if strict {
				for _, r := range results {
					if r.State == report.Failed {
						return fmt.Errorf("results contain failed specs (first: %s: %s)", r.Spec, r.Message)
					}
				}
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&mdPath, "markdown", "", "write the Markdown matrix to this file instead of stdout")
	cmd.Flags().StringVar(&htmlPath, "html", "", "also write a self-contained HTML page to this file")
	cmd.Flags().StringVar(&title, "title", "CNI compatibility on EKS hybrid nodes", "title of the HTML page")
	cmd.Flags().BoolVar(&strict, "strict", false, "exit 1 when any spec failed")
	return cmd
}
