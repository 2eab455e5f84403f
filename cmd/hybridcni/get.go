package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/hybridcni/hybridcni/internal/table"
	"github.com/hybridcni/hybridcni/topologies"
)

func init() { register(newGetCmd) }

func newGetCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "get",
		Short: "List what the harness keeps track of (get clusters)",
	}
	cmd.AddCommand(newGetClustersCmd())
	return cmd
}

// liveTopology is one run's ledger in the state directory.
type liveTopology struct {
	Name       string    `json:"name"`
	Created    time.Time `json:"created,omitzero"`
	Objects    int       `json:"objects"`
	Kubeconfig string    `json:"kubeconfig,omitempty"`
	Ledger     string    `json:"ledger"`
}

// listTopologies reads every ledger under dir: the topologies `up` and kept
// runs made that `down` has not yet removed.
func listTopologies(dir string) ([]liveTopology, error) {
	ents, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []liveTopology
	for _, e := range ents {
		if !e.IsDir() {
			continue
		}
		path := filepath.Join(dir, e.Name(), "ledger.json")
		l, err := topologies.LoadLedger(path)
		if err != nil {
			continue
		}
		left := l.Left()
		if len(left) == 0 {
			continue
		}
		t := liveTopology{Name: e.Name(), Objects: len(left), Ledger: path}
		if l.Run != "" {
			t.Name = l.Run
		}
		t.Created = left[0].Created
		for _, x := range left {
			if x.Created.Before(t.Created) {
				t.Created = x.Created
			}
		}
		if l.Env != nil {
			t.Kubeconfig = l.Env.Kubeconfig
		}
		out = append(out, t)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

func newGetClustersCmd() *cobra.Command {
	var state, output string
	var results []string
	cmd := &cobra.Command{
		Use:   "clusters",
		Short: "List the live topologies (from `hybridcni up` or a run with --keep) by the name `hybridcni down` takes",
		Long: `List the topologies whose ledger in the state directory still lists objects:
those made by "hybridcni up" (in --state-dir), and runs kept with --keep (in
RESULTS/state, for each --results folder; default ./results). The NAME column is
what "hybridcni down NAME" takes. Objects a killed run left without a ledger
are found by "hybridcni gc" instead.`,
		Example: `  hybridcni get clusters
  hybridcni get clusters -o json`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if output != "text" && output != "json" {
				return invalidf("--output %q: want text or json (fix: pass -o json)", output)
			}
			dir := stateDir(state)
			list, err := listTopologies(dir)
			if err != nil {
				return err
			}
			// Runs kept with --keep hold their ledger in RESULTS/state.
			for _, r := range results {
				kept, err := listTopologies(filepath.Join(r, "state"))
				if err != nil {
					return err
				}
				list = append(list, kept...)
			}
			sort.Slice(list, func(i, j int) bool { return list[i].Name < list[j].Name })
			if output == "json" {
				if list == nil {
					list = []liveTopology{}
				}
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent("", "  ")
				return enc.Encode(list)
			}
			if len(list) == 0 {
				fmt.Fprintf(cmd.ErrOrStderr(), "no live topologies (no ledger with objects in %s or %s)\n", dir, strings.Join(results, "/state, ")+"/state")
				return nil
			}
			w := table.New(cmd.OutOrStdout(), "name", "created", "objects", "kubeconfig")
			for _, t := range list {
				w.Row(t.Name, t.Created.UTC().Format(time.RFC3339), t.Objects, t.Kubeconfig)
			}
			return w.Flush()
		},
	}
	cmd.Flags().StringVar(&state, "state-dir", "", "where runs keep their ledger and kubeconfig (default $HYBRIDCNI_STATE_DIR or ~/.local/state/hybridcni)")
	cmd.Flags().StringVarP(&output, "output", "o", "text", "output format: text or json")
	cmd.Flags().StringArrayVar(&results, "results", []string{"results"}, "results folder of runs kept with --keep (repeatable)")
	return cmd
}
