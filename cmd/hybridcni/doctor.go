package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/hybridcni/hybridcni/internal/table"
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
				return invalidf("--output %q: want text or json (fix: pass -o json)", output)
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
				writeDoctorTable(cmd.OutOrStdout(), rep, doctorWidth)
			}
			if err := rep.Err(); err != nil {
				var be *doctor.BlockedError
				if output == "text" && errors.As(err, &be) {
					// The table above gives each blocker's finding and fix.
					return shortBlocked{be}
				}
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

// doctorWidth is the width doctor's table fits in.
const doctorWidth = 100

// writeDoctorTable prints one finding per row, fitting width columns:
// STATUS and CHECK, then the finding and its fix wrapped beside them.
func writeDoctorTable(w io.Writer, rep doctor.Report, width int) {
	const checkW = 20
	t := table.New(w, "status", "check", "finding / fix").Fit(width)
	for _, f := range rep.Findings {
		check := f.Check
		if len([]rune(check)) > checkW {
			check = string([]rune(check)[:checkW-1]) + "~"
		}
		text := f.Message
		if f.Fix != "" {
			text += "\nfix: " + f.Fix
		}
		t.Row(strings.ToUpper(string(f.Severity)), check, text)
	}
	t.Flush()
}

// shortBlocked is doctor's error after its table: the blockers' checks by
// name, not every finding again.
type shortBlocked struct{ err *doctor.BlockedError }

func (s shortBlocked) Error() string {
	names := make([]string, len(s.err.Findings))
	for i, f := range s.err.Findings {
		names[i] = f.Check
	}
	return fmt.Sprintf("doctor found %d blocker(s): %s; the table above gives each fix", len(names), strings.Join(names, ", "))
}

func (s shortBlocked) Unwrap() error { return s.err }
