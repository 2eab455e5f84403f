package main

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/hybridcni/hybridcni/framework/config"
	"github.com/hybridcni/hybridcni/framework/probe"
	"github.com/hybridcni/hybridcni/suites"
	"github.com/hybridcni/hybridcni/suites/providers/existing"
	_ "github.com/hybridcni/hybridcni/suites/providers/kind"
	_ "github.com/hybridcni/hybridcni/suites/providers/simulated"
)

func init() { register(newRunCmd) }

// suiteFlags are how a run of the suites is carried out (not what it qualifies).
type suiteFlags struct {
	provider    string
	topology    string
	nodeImage   string
	results     string
	labelFilter string
	dryRun      bool
	keep        bool
	verbose     bool
	maxGap      time.Duration
	maxLoss     float64
	timeout     time.Duration
	waitTimeout time.Duration
}

func (s *suiteFlags) add(fs *pflag.FlagSet) {
	fs.StringVar(&s.provider, "provider", "kind", "environment: kind (clusters on Docker), simulated (API server + kwok: lifecycle only) or existing (a cluster you have: --kubeconfig)")
	fs.StringVar(&s.topology, "topology", "default", "kind provider: built-in topology (default, isolated-pods, minimal) or a topology file")
	fs.StringVar(&s.nodeImage, "node-image", "", "kind provider: node image (default: the one pinned for the Kubernetes version)")
	fs.StringVar(&s.results, "results", "results", "folder for junit.xml, report.json, diagnostics and the matrix")
	fs.StringVar(&s.labelFilter, "label-filter", "", "run only specs matching this Ginkgo label filter, e.g. 'feature:bgp && !feature:upgrade'")
	fs.BoolVar(&s.dryRun, "dry-run", false, "list the specs with their labels, run nothing")
	fs.BoolVar(&s.keep, "keep", false, "leave the environment up after the run, for debugging")
	fs.BoolVarP(&s.verbose, "verbose", "v", false, "stream spec progress")
	fs.DurationVar(&s.maxGap, "disruption-max-gap", 2*time.Second, "upgrade budget: longest traffic gap per pair")
	fs.Float64Var(&s.maxLoss, "disruption-max-loss", 1, "upgrade budget: lost probes per pair, in percent")
	fs.DurationVar(&s.timeout, "timeout", 2*time.Hour, "bound of the whole run")
	fs.DurationVar(&s.waitTimeout, "wait-timeout", 10*time.Minute, "bound of each wait for the cluster (readiness, pre-flight, deletion)")
}

func (s *suiteFlags) options(runs []config.Run, results string) suites.Options {
	return suites.Options{
		Runs: runs, Provider: s.provider, Topology: s.topology, NodeImage: s.nodeImage, ResultsDir: results, LabelFilter: s.labelFilter,
		DryRun: s.dryRun, Keep: s.keep, Verbose: s.verbose, Timeout: s.timeout, WaitTimeout: s.waitTimeout,
		Disruption: probe.Budget{MaxGap: s.maxGap, MaxLossPct: s.maxLoss},
	}
}

func newRunCmd() *cobra.Command {
	var sf suiteFlags
	var rf *runFlags
	var withFaults bool   // --faults (faults.go)
	var ef *existingFlags // --provider existing (existing.go)
	cmd := &cobra.Command{
		Use:   "run",
		Short: "Qualify one CNI version: cluster, install, checks, upgrade, rollback, delete; JUnit and a matrix report",
		Long: `Qualify one CNI version on EKS hybrid nodes, as the hybrid-nodes guide describes it.

A run builds its environment (--provider kind: a kind cluster whose workers carry
eks.amazonaws.com/compute-type=hybrid, a GoBGP router in front of them and an
on-prem host; --provider simulated: a real API server with kwok nodes, lifecycle
only), installs the CNI with the guide's values, checks node readiness,
placement, IPAM, connectivity, masquerading and BGP, upgrades hop by hop to
--upgrade-to with the disruption meter running, rolls back, deletes, and tears
the environment down (unless --keep).

The run is described by a run file (-f, kind: Run; every field has a default)
and flags, which override the file's fields. Invalid input exits 2 before
anything is created, naming the field or flag and the fix; a failed run exits 1.
Results go to --results: junit.xml and report.json, which "hybridcni report"
turns into the compatibility matrix. SIGINT/SIGTERM tears down what the run
created; "hybridcni gc" removes what a killed run left.

--provider existing runs the checks on a cluster you already have (--kubeconfig,
--context): hybrid nodes by their label, the CNI's Helm release and version,
its pod CIDR, block size and masquerading read from the cluster (a run file's
values are then what the checks expect). --lifecycle none (the default) changes
nothing outside the harness's namespace, which is deleted on exit;
--lifecycle upgrade|full change the CNI and need --yes or --expect-context.
Checks that need the router, an on-prem host or node commands skip naming
--router-api, --on-prem-host or --node-shell.`,
		Example: `  hybridcni run --cni cilium --version 1.16.18 --upgrade-to 1.17.18 --bgp --masquerade=false
  hybridcni run -f run.yaml --label-filter 'feature:bgp' --keep
  hybridcni run --provider simulated --chart-repo ../shared/charts --cni calico --version v3.29.6 --upgrade-to v3.30.7
  hybridcni run --provider existing --kubeconfig staging.kubeconfig --router-api 192.168.10.1:50051 --node-shell`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := ef.check(sf.provider, rf, withFaults); err != nil {
				return err
			}
			var (
				r   config.Run
				eo  existing.Options
				err error
			)
			if sf.provider == existing.Name { // the cluster says what runs (existing.go)
				r, eo, err = ef.prepare(cmd.Context(), cmd.OutOrStdout(), rf)
			} else {
				r, err = rf.run()
			}
			if err != nil {
				return err
			}
			opts := sf.options([]config.Run{r}, sf.results)
			opts.Faults = withFaults
			if sf.provider == existing.Name {
				opts.Lifecycle, opts.Rollback, opts.ProviderOptions = ef.lifecycle, ef.rollback, eo
			}
			if err := suites.Run(cmd.Context(), opts); err != nil {
				return err
			}
			if !sf.dryRun {
				fmt.Fprintf(cmd.OutOrStdout(), "results in %s (junit.xml, report.json); `hybridcni report %s` prints the matrix\n", sf.results, sf.results)
			}
			return nil
		},
	}
	rf = addRunFlags(cmd).withUpgradeTo()
	sf.add(cmd.Flags())
	addFaultsFlag(cmd, &withFaults)
	ef = addExistingFlags(cmd)
	return cmd
}
