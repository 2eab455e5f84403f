package topologies

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/hybridcni/hybridcni/framework/docker"
)

// GCOptions selects what `hybridcni gc` removes.
type GCOptions struct {
	// OlderThan keeps objects younger than this (0: remove all).
	OlderThan time.Duration
	// Run limits removal to one run's objects ("": every run).
	Run string
	// DryRun lists without removing.
	DryRun bool
	// StateDir, when set, also loses the state (ledger, kubeconfig) of
	// removed runs.
	StateDir string
}

// GC removes leftover kind clusters (named hcni-...), then containers,
// networks and volumes carrying the run label, that are older than
// o.OlderThan. It returns what it removed (or would remove, on a dry run).
func GC(ctx context.Context, dc *docker.Client, o GCOptions, opts ...Option) ([]Entry, error) {
	op := buildOptions(opts)
	now := op.now()
	old := func(t time.Time) bool { return now.Sub(t) >= o.OlderThan }
	var found []Entry
	var errs []error

	// kind clusters: their node containers carry kind's label, not ours.
	clusters, err := kindProvider(op.logf).List()
	if err != nil {
		errs = append(errs, err)
	}
	for _, c := range clusters {
		if !strings.HasPrefix(c, NamePrefix) || (o.Run != "" && c != o.Run) {
			continue
		}
		nodes, err := dc.ListLabelled(ctx, KindClusterLabel+"="+c)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		created := now
		for _, n := range nodes {
			if n.Created.Before(created) {
				created = n.Created
			}
		}
		if old(created) {
			found = append(found, Entry{Kind: ObjCluster, Name: c, Created: created})
		}
	}

	sel := LabelRun
	if o.Run != "" {
		sel += "=" + o.Run
	}
	objs, err := dc.ListLabelled(ctx, sel)
	if err != nil {
		errs = append(errs, err)
	}
	rank := map[string]int{"container": 0, "network": 1, "volume": 2}
	sort.SliceStable(objs, func(i, j int) bool { return rank[objs[i].Kind] < rank[objs[j].Kind] })
	var dockerObjs []docker.Object
	for _, x := range objs {
		created := x.Created
		if t, err := time.Parse(time.RFC3339, x.Labels[LabelCreated]); err == nil {
			created = t
		}
		if old(created) {
			dockerObjs = append(dockerObjs, x)
			found = append(found, Entry{Kind: x.Kind, Name: x.Name, Created: created})
		}
	}
	if o.DryRun {
		return found, errors.Join(errs...)
	}

	var removed []Entry
	runs := map[string]bool{}
	for _, e := range found {
		if e.Kind != ObjCluster {
			continue
		}
		kubeconfig := ""
		if o.StateDir != "" {
			if p := filepath.Join(o.StateDir, e.Name, "kubeconfig"); fileExists(p) {
				kubeconfig = p
			}
		}
		if err := deleteKindCluster(e.Name, kubeconfig, op.logf); err != nil {
			errs = append(errs, err)
			continue
		}
		removed = append(removed, e)
		runs[e.Name] = true
		op.logf("removed %s", e)
	}
	for _, x := range dockerObjs {
		if err := dc.Remove(ctx, x); err != nil {
			errs = append(errs, err)
			continue
		}
		removed = append(removed, Entry{Kind: x.Kind, Name: x.Name})
		runs[x.Labels[LabelRun]] = true
		op.logf("removed %s %s", x.Kind, x.Name)
	}
	if o.StateDir != "" {
		for run := range runs {
			if run == "" || strings.ContainsAny(run, `/\`) || run == "." || run == ".." {
				continue
			}
			if err := os.RemoveAll(filepath.Join(o.StateDir, run)); err != nil {
				errs = append(errs, err)
			}
		}
	}
	if len(errs) > 0 {
		return removed, fmt.Errorf("gc: %w", errors.Join(errs...))
	}
	return removed, nil
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}
