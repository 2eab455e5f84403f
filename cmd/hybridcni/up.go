package main

import (
	"encoding/json"
	"fmt"
	"io"
	"log"
	"sort"

	"github.com/spf13/cobra"

	"github.com/hybridcni/hybridcni/framework/buildinfo"
	"github.com/hybridcni/hybridcni/framework/image"
	"github.com/hybridcni/hybridcni/internal/table"
	"github.com/hybridcni/hybridcni/topologies"
	"github.com/hybridcni/hybridcni/topologies/doctor"
)

func init() { register(newUpCmd) }

func newUpCmd() *cobra.Command {
	var (
		tf     topoFlags
		state  string
		name   string
		output string
	)
	cmd := &cobra.Command{
		Use:   "up",
		Short: "Create a topology (kind cluster with hybrid-labelled workers, node network, router, on-prem host) and leave it running",
		Long: `Create the infrastructure of a run and leave it running: the Docker network for
the on-prem node CIDR, the on-prem router (BGP, dynamic neighbors from the node
CIDR, routes installed), an on-prem host running the echo server, and a kind
cluster whose control plane stands in for the EKS side and whose workers carry
eks.amazonaws.com/compute-type=hybrid. doctor's checks run first: a blocker stops
up before anything is created.

SIGINT/SIGTERM removes what this run created, then exits non-zero; a second
signal exits at once, printing what is left and the gc command.`,
		Example: `  hybridcni up -f run.yaml
  hybridcni up --topology isolated-pods --kubernetes-version 1.36
  hybridcni up --docker-only -o json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if output != "text" && output != "json" {
				return invalidf("--output %q: want text or json (fix: pass -o json)", output)
			}
			ctx := cmd.Context()
			stderr := cmd.ErrOrStderr()
			r, topo, err := tf.load()
			if err != nil {
				return err
			}
			dc, dcErr := engine(ctx)
			if dc != nil {
				defer dc.Close()
			}
			rep := doctor.Run(ctx, tf.doctorOptions(dc, dcErr, r, topo))
			if err := rep.Err(); err != nil {
				return fmt.Errorf("nothing created: %w", err)
			}
			abort, stop := secondSignal(stderr)
			defer stop()
			logger := log.New(stderr, "up: ", log.Ltime)
			if missing, err := missingHarnessImages(ctx, dc, topo); err != nil {
				return err
			} else if len(missing) > 0 {
				logger.Printf("building %v from this binary", missing)
				if _, err := image.BuildHarness(ctx, dc, "", buildinfo.Version, logger.Printf); err != nil {
					return err
				}
			}
			env, err := topologies.Up(ctx, dc, topologies.Spec{
				Run: r, Topology: topo, Name: name, Images: tf.images(r),
				Cluster: !tf.dockerOnly, CgroupV1: doctor.CgroupV1(""), StateDir: stateDir(state),
			}, topologies.WithLogf(logger.Printf), topologies.WithAbort(abort))
			if err != nil {
				leftBehind(stderr, err)
				return err
			}
			if ctx.Err() != nil {
				// Interrupted as up finished: still remove what it made.
				if err := env.Undo(ctx); err != nil {
					leftBehind(stderr, err)
					return err
				}
				logger.Printf("removed everything this run created")
				return fmt.Errorf("interrupted: %w", ctx.Err())
			}
			return printEnv(cmd.OutOrStdout(), output, &env.EnvInfo)
		},
	}
	tf.add(cmd)
	cmd.Flags().StringVar(&state, "state-dir", "", "where runs keep their ledger and kubeconfig (default $HYBRIDCNI_STATE_DIR or ~/.local/state/hybridcni)")
	cmd.Flags().StringVar(&name, "name", "", "infrastructure name, hcni-... (default: unique, from the run name)")
	cmd.Flags().StringVarP(&output, "output", "o", "text", "text or json")
	return cmd
}

func printEnv(w io.Writer, output string, e *topologies.EnvInfo) error {
	if output == "json" {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(e)
	}
	fmt.Fprintf(w, "topology %s is up\n", e.Name)
	fmt.Fprintf(w, "  node network:  %s (%s)\n", e.Network, e.NodeCIDR)
	if e.Kubeconfig != "" {
		fmt.Fprintf(w, "  kubeconfig:    %s\n", e.Kubeconfig)
	}
	if e.Router.IsValid() {
		fmt.Fprintf(w, "  router:        %s (AS %d, nodes AS %d, API %s)\n", e.Router, e.RouterASN, e.NodeASN, e.RouterAPI)
	}
	if e.OnPremHost.IsValid() {
		fmt.Fprintf(w, "  on-prem host:  %s (echo http://%s:%d/clientip)\n", e.OnPremHost, e.OnPremHost, e.OnPremHTTP)
	}
	route := "no (isolated pods)"
	if e.RoutesPodCIDRs {
		route = "yes, via the router"
	}
	fmt.Fprintf(w, "  pod CIDR %s reachable from the control plane: %s\n", e.PodCIDR, route)
	if len(e.Nodes) > 0 {
		fmt.Fprintln(w)
		nodes := append([]topologies.Node(nil), e.Nodes...)
		sort.Slice(nodes, func(i, j int) bool { return nodes[i].Name < nodes[j].Name })
		t := table.New(w, "node", "role", "address")
		for _, n := range nodes {
			t.Row(n.Name, n.Role, n.IP)
		}
		t.Flush()
		fmt.Fprintln(w)
	}
	fmt.Fprintf(w, "remove with: hybridcni down %s\n", e.Name)
	return nil
}
