package main

import (
	"bytes"
	"context"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/hybridcni/hybridcni/framework/chart"
	"github.com/hybridcni/hybridcni/framework/cni"
	_ "github.com/hybridcni/hybridcni/framework/cni/all" // registers every CNI profile and driver
	"github.com/hybridcni/hybridcni/framework/config"
)

func init() { register(newRenderCmd) }

func newRenderCmd() *cobra.Command {
	var flags *runFlags
	cmd := &cobra.Command{
		Use:   "render",
		Short: "Print every object the install step would apply, as one YAML stream",
		Long: "Render the CNI chart offline for the run's Kubernetes version with the hybrid-nodes values\n" +
			"(and any --values files, merged last), then the BGP resources when BGP is on.",
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			run, err := flags.run()
			if err != nil {
				return err
			}
			objs, err := renderRun(cmd.Context(), run)
			if err != nil {
				return err
			}
			// Write only a complete stream.
			var buf bytes.Buffer
			if err := chart.Encode(&buf, objs); err != nil {
				return err
			}
			_, err = cmd.OutOrStdout().Write(buf.Bytes())
			return err
		},
	}
	flags = addRunFlags(cmd)
	return cmd
}

// renderRun returns what installing run applies: the chart's objects in
// install order, then the BGP resources when BGP is on.
func renderRun(ctx context.Context, run config.Run) ([]*unstructured.Unstructured, error) {
	p, err := cni.Lookup(run.CNI.Name)
	if err != nil {
		return nil, err
	}
	vals, err := chart.MergeValuesFiles(p.Values(run), run.CNI.ValuesFiles)
	if err != nil {
		return nil, err
	}
	src, err := chart.NewSource(run.CNI.ChartSource)
	if err != nil {
		return nil, err
	}
	c, err := src.Load(ctx, p.ChartName(), run.CNI.Version)
	if err != nil {
		return nil, err
	}
	objs, err := chart.Render(ctx, c, vals, chart.RenderOptions{
		ReleaseName: p.ReleaseName(), Namespace: p.Namespace(), KubeVersion: run.Kubernetes.Version,
	})
	if err != nil {
		return nil, err
	}
	if run.BGP.Enabled {
		objs = append(objs, p.BGPResources(run)...)
	}
	return objs, nil
}
