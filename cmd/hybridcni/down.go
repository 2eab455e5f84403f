package main

import (
	"errors"
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/hybridcni/hybridcni/topologies"
)

func init() { register(newDownCmd) }

func newDownCmd() *cobra.Command {
	var state string
	cmd := &cobra.Command{
		Use:   "down NAME",
		Short: "Delete a topology made by `hybridcni up`: exactly what its ledger lists, newest first",
		Long: `Delete what "hybridcni up" created for NAME, as its ledger in the state directory
lists it, newest first. Without a ledger (another machine, a lost state
directory) it removes the objects carrying the run's label instead, as gc does.
A second SIGINT/SIGTERM stops at once and prints what is left.`,
		Example: `  hybridcni down hcni-cilium-1-16-19-3f9a2c`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) != 1 {
				return invalidf("hybridcni down takes one NAME, got %d (fix: pass a name 'hybridcni get clusters' lists)", len(args))
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			name := args[0]
			if filepath.Base(name) != name || name == "." || name == ".." {
				return invalidf("NAME %q: not a topology name (fix: pass a name 'hybridcni get clusters' lists)", name)
			}
			ctx := cmd.Context()
			stderr := cmd.ErrOrStderr()
			dc, err := engine(ctx)
			if err != nil {
				return err
			}
			defer dc.Close()
			abort, stop := secondSignal(stderr)
			defer stop()
			logger := log.New(stderr, "down: ", log.Ltime)
			dir := stateDir(state)
			l, err := topologies.LoadLedger(filepath.Join(dir, name, "ledger.json"))
			if errors.Is(err, os.ErrNotExist) {
				logger.Printf("no ledger for %s in %s: removing what carries its label", name, dir)
				removed, err := topologies.GC(ctx, dc, topologies.GCOptions{Run: name, StateDir: dir}, topologies.WithLogf(logger.Printf))
				if err == nil && len(removed) == 0 {
					return fmt.Errorf("nothing named %s found: no ledger in %s and no object labelled %s=%s", name, dir, topologies.LabelRun, name)
				}
				return err
			} else if err != nil {
				return err
			}
			if err := topologies.Down(ctx, dc, l, topologies.WithLogf(logger.Printf), topologies.WithAbort(abort)); err != nil {
				leftBehind(stderr, err)
				return err
			}
			_ = os.RemoveAll(filepath.Join(dir, name))
			fmt.Fprintf(cmd.OutOrStdout(), "topology %s deleted\n", name)
			return nil
		},
	}
	cmd.Flags().StringVar(&state, "state-dir", "", "where runs keep their ledger and kubeconfig (default $HYBRIDCNI_STATE_DIR or ~/.local/state/hybridcni)")
	return cmd
}
