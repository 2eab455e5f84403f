package main

import (
	"fmt"
	"io"
	"log"
	"time"

	"github.com/spf13/cobra"

	"github.com/hybridcni/hybridcni/framework/buildinfo"
	"github.com/hybridcni/hybridcni/internal/table"
	"github.com/hybridcni/hybridcni/topologies"
)

func init() { register(newGCCmd) }

func newGCCmd() *cobra.Command {
	var (
		o     topologies.GCOptions
		state string
	)
	cmd := &cobra.Command{
		Use:   "gc",
		Short: "Delete leftover kind clusters (hcni-*), containers, networks and volumes carrying the harness labels, and stale harness images, older than an age",
		Long: `Delete what earlier runs left behind: kind clusters named hcni-*, then
containers, networks and volumes labelled ` + topologies.LabelRun + `, older than
--older-than (by their ` + topologies.LabelCreated + ` label, else the engine's
creation time). --run limits it to one run.

Without --run it then deletes images older than --older-than that no
container (running or stopped) uses: dangling images carrying a
hybridcni.dev/* or dev.hybridcni.* label, and router/echo images (label
hybridcni.dev/component) of another version than this binary's (` + buildinfo.Version + `).
The offline images (hybridcni/node, hybridcni/kube-router, hybridcni/cilium*)
keep their tags: they are caches tagged by content.

A container the engine cannot remove because runc left a cgroup frozen
(cgroup v1) is thawed (` + topologies.DefaultFreezerRoot + `/<id>/**/freezer.state)
and removed once more.`,
		Example: `  hybridcni gc                       # older than 2h
  hybridcni gc --older-than 0s --run hcni-cilium-1-16-19-3f9a2c
  hybridcni gc --dry-run`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if o.OlderThan < 0 {
				return invalidf("--older-than %s: negative (fix: pass 0s or more, e.g. --older-than 2h)", o.OlderThan)
			}
			ctx := cmd.Context()
			dc, err := engine(ctx)
			if err != nil {
				return err
			}
			defer dc.Close()
			o.StateDir = stateDir(state)
			logger := log.New(cmd.ErrOrStderr(), "gc: ", log.Ltime)
			removed, err := topologies.GC(ctx, dc, o, topologies.WithLogf(logger.Printf))
			writeRemoved(cmd.OutOrStdout(), removed, o.DryRun)
			fmt.Fprintf(cmd.ErrOrStderr(), "%d object(s)\n", len(removed))
			return err
		},
	}
	f := cmd.Flags()
	f.DurationVar(&o.OlderThan, "older-than", 2*time.Hour, "only objects at least this old")
	f.StringVar(&o.Run, "run", "", "only this run's objects (the name 'hybridcni up' printed); images are left alone")
	f.BoolVar(&o.DryRun, "dry-run", false, "list, do not remove")
	f.StringVar(&state, "state-dir", "", "state directory whose entries of removed runs go too")
	return cmd
}

// writeRemoved lists what gc removed (or, dry, would remove).
func writeRemoved(w io.Writer, removed []topologies.Entry, dry bool) {
	verb := "removed"
	if dry {
		verb = "would remove"
	}
	t := table.New(w, verb, "name", "created")
	for _, e := range removed {
		created := ""
		if !e.Created.IsZero() {
			created = e.Created.Format(time.RFC3339)
		}
		t.Row(e.Kind, e.Name, created)
	}
	t.Flush()
}
