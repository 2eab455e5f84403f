package main

import (
	"encoding/json"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/hybridcni/hybridcni/topologies"
	"github.com/hybridcni/hybridcni/topologies/doctor"
)

func init() { register(newDoctorCmd) }

func newDoctorCmd() *cobra.Command {
	var (
		tf     topoFlags
		output string
		noCNI  bool
	)
	cmd := &cobra.Command{
		Use:   "doctor",
		Short: "Check this machine for a run: Docker, cgroups, kernel modules, inotify, disk, memory, images or a registry",
		Long: `Check that this machine can run a topology and the run's CNI: the Docker engine
and CLI, cgroups, kernel modules for VXLAN and iptables/nftables, inotify limits,
disk and memory, and whether the kind node image, the harness images and the CNI
images (from the run's rendered charts) are present locally or a registry
answers. Each finding comes with its fix; exits 1 when one is a blocker.

` + doctor.OfflineEnv + `=1 skips the registry probe (nothing leaves the machine;
registries count as unreachable).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if output != "text" && output != "json" {
				return invalidf("--output %q: use text or json", output)
			}
			ctx := cmd.Context()
			r, topo, err := tf.load()
			if err != nil {
				return err
			}
			dc, dcErr := engine(ctx)
			if dc != nil {
				defer dc.Close()
			}
			o := tf.doctorOptions(dc, dcErr, r, topo)
			var extra []doctor.Finding
			if !noCNI && !tf.dockerOnly {
				imgs, err := topologies.RunImages(ctx, r, tf.images(r))
				if err != nil {
					extra = append(extra, doctor.Finding{Check: "cni-images", Severity: doctor.Warning,
						Message: "CNI images not derived from the charts: " + err.Error(), Fix: "check cni.chartSource, or pass --no-cni"})
				}
				for _, im := range imgs {
					if im.For != "kind node" && im.For != "harness" {
						o.Images = append(o.Images, im.Ref)
					}
				}
			}
			rep := doctor.Run(ctx, o)
			rep.Findings = append(rep.Findings, extra...)
			if output == "json" {
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent("", "  ")
				if err := enc.Encode(rep); err != nil {
					return err
				}
			} else {
				rep.Write(cmd.OutOrStdout())
			}
			if err := rep.Err(); err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), "no blockers")
			return nil
		},
	}
	tf.add(cmd)
	cmd.Flags().StringVarP(&output, "output", "o", "text", "text or json")
	cmd.Flags().BoolVar(&noCNI, "no-cni", false, "do not render the CNI charts for their images")
	return cmd
}
