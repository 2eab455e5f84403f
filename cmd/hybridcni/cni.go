package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/hybridcni/hybridcni/framework/chart"
	"github.com/hybridcni/hybridcni/framework/cni"
	_ "github.com/hybridcni/hybridcni/framework/cni/all" // registers every CNI profile and driver
	"github.com/hybridcni/hybridcni/framework/config"
	"github.com/hybridcni/hybridcni/internal/table"
)

func init() { register(newCNICmd) }

func newCNICmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "cni",
		Short: "Install, upgrade, roll back, uninstall a CNI on an existing cluster, or show its status",
		Long: "Drive the CNI lifecycle of the EKS hybrid-nodes guide against any kubeconfig (a staging\n" +
			"cluster before an upgrade, a kind cluster, the API test tier): Helm releases through the\n" +
			"Helm SDK, the Cilium pre-flight on every upgrade hop, Calico's CRDs applied server-side\n" +
			"before helm upgrade, readiness per hybrid node, CRD cleanup after uninstall.",
	}
	cmd.AddCommand(newCNIInstallCmd(), newCNIUpgradeCmd(), newCNIRollbackCmd(), newCNIUninstallCmd(), newCNIStatusCmd())
	return cmd
}

// cniFlags are the flags every `cni` subcommand shares.
type cniFlags struct {
	run        *runFlags
	kubeconfig string
	context    string
	timeout    time.Duration
}

func addCNIFlags(cmd *cobra.Command) *cniFlags {
	return addCNIFlagsWith(cmd, addRunFlags(cmd))
}

// addCNIClusterFlags registers only what a command that acts on the release
// already installed needs: which CNI, and the cluster (status, rollback,
// uninstall read nothing else of a run).
func addCNIClusterFlags(cmd *cobra.Command) *cniFlags {
	return addCNIFlagsWith(cmd, addRunFlagsOnly(cmd, false, "cni"))
}

func addCNIFlagsWith(cmd *cobra.Command, rf *runFlags) *cniFlags {
	f := &cniFlags{run: rf}
	cmd.Flags().StringVar(&f.kubeconfig, "kubeconfig", "", "kubeconfig of the cluster (default $KUBECONFIG or ~/.kube/config)")
	cmd.Flags().StringVar(&f.context, "context", "", "kubeconfig context (default: the current one)")
	cmd.Flags().DurationVar(&f.timeout, "timeout", 5*time.Minute, "bound of each wait for the cluster (readiness, pre-flight, deletion)")
	cmd.Flags().DurationVar(&f.timeout, "wait-timeout", 5*time.Minute, "bound of each wait for the cluster (readiness, pre-flight, deletion)")
	// --timeout bounds the whole run in `hybridcni run`; here it was each wait.
	_ = cmd.Flags().MarkDeprecated("timeout", "use --wait-timeout, as hybridcni run names the bound of each wait")
	return f
}

// session is what a `cni` subcommand works with.
type session struct {
	run     config.Run
	cluster *cni.Cluster
	driver  cni.Driver
	out     io.Writer
	// errOut takes verdicts and notes beside the lists on out.
	errOut io.Writer
}

// open validates the input, then connects: bad input exits 2 before any
// API call; an unreachable server exits 1 naming it.
// check names a chart version to find in the source before connecting.
type check struct{ field, version string }

func (f *cniFlags) open(cmd *cobra.Command, needSource bool, checks func(config.Run) []check, opts ...func(*cni.Options)) (*session, error) {
	run, err := f.run.run()
	if err != nil {
		return nil, err
	}
	p, err := cni.Lookup(run.CNI.Name)
	if err != nil {
		return nil, err
	}
	if f.timeout <= 0 {
		return nil, invalidf("--wait-timeout %s: not a positive duration (fix: pass e.g. --wait-timeout 5m)", f.timeout)
	}
	o := cni.Options{Timeout: f.timeout, Log: cmd.ErrOrStderr()}
	if needSource {
		src, err := chart.NewSource(run.CNI.ChartSource)
		if err != nil {
			return nil, err
		}
		o.Source = src
		var list []check
		if checks != nil {
			list = checks(run)
		}
		for _, c := range list {
			if _, err := src.ResolveField(cmd.Context(), c.field, p.ChartName(), c.version); err != nil {
				return nil, err
			}
		}
	}
	for _, fn := range opts {
		fn(&o)
	}
	path := f.kubeconfig
	if path != "" {
		if _, err := os.Stat(path); err != nil {
			return nil, config.Invalid("--kubeconfig", fmt.Sprintf("%q: %v", path, errors.Unwrap(err)), "pass --kubeconfig with the path of a kubeconfig file")
		}
	}
	rc, err := chart.LoadKubeconfig(path, f.context)
	if err != nil {
		return nil, kubeconfigError(path, f.context, err)
	}
	c, err := cni.NewCluster(rc)
	if err != nil {
		return nil, err
	}
	if err := c.Reachable(cmd.Context()); err != nil {
		return nil, err
	}
	d, err := cni.NewDriver(run.CNI.Name, c, o)
	if err != nil {
		return nil, err
	}
	return &session{run: run, cluster: c, driver: d, out: cmd.OutOrStdout(), errOut: cmd.ErrOrStderr()}, nil
}

func newCNIInstallCmd() *cobra.Command {
	var f *cniFlags
	cmd := &cobra.Command{
		Use:   "install",
		Short: "helm install the CNI with the guide's values, wait until ready, apply BGP resources when --bgp",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			s, err := f.open(cmd, true, func(r config.Run) []check { return []check{{"cni.version", r.CNI.Version}} })
			if err != nil {
				return err
			}
			rel, err := s.driver.Install(cmd.Context(), s.run)
			if err != nil {
				return err
			}
			fmt.Fprintf(s.out, "installed %s: release %s\n", s.run.CNI.Name, rel)
			return s.printReadiness(cmd.Context())
		},
	}
	f = addCNIFlags(cmd)
	return cmd
}

func newCNIUpgradeCmd() *cobra.Command {
	var f *cniFlags
	var to string
	var preflightImage string
	cmd := &cobra.Command{
		Use:   "upgrade --upgrade-to VERSION",
		Short: "Upgrade hop by hop (Cilium: pre-flight each hop; Calico: CRDs server-side first), keeping the release's values",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if to == "" {
				return invalidf("--upgrade-to is not set (fix: pass --upgrade-to VERSION, the chart version to upgrade to)")
			}
			s, err := f.open(cmd, true, func(config.Run) []check { return []check{{"cni.upgradeTo", to}} }, func(o *cni.Options) {
				if preflightImage != "" {
					o.PreflightValues = map[string]any{"preflight": map[string]any{"image": map[string]any{"override": preflightImage}}}
				}
			})
			if err != nil {
				return err
			}
			hops, err := s.driver.Upgrade(cmd.Context(), s.run, to)
			for _, h := range hops {
				printHop(s.out, h)
			}
			if err != nil {
				return err
			}
			return s.printReadiness(cmd.Context())
		},
	}
	f = addCNIFlags(cmd)
	cmd.Flags().StringVar(&to, "upgrade-to", "", "chart version to upgrade to (Cilium goes through the newest patch of each minor on the way)")
	cmd.Flags().StringVar(&to, "to", "", "chart version to upgrade to")
	_ = cmd.Flags().MarkDeprecated("to", "use --upgrade-to, as hybridcni run names it")
	cmd.Flags().StringVar(&preflightImage, "preflight-image", "", "Cilium pre-flight image override (e.g. a private registry copy)")
	return cmd
}

func printHop(w io.Writer, h cni.Hop) {
	line := fmt.Sprintf("upgraded %s -> %s", h.From, h.To)
	if h.Revision == 0 {
		line = fmt.Sprintf("NOT upgraded %s -> %s", h.From, h.To)
	} else {
		line += fmt.Sprintf(" (revision %d)", h.Revision)
	}
	if p := h.Preflight; p != nil {
		line += fmt.Sprintf("; pre-flight %s: DaemonSet READY %d (agent %d), Deployment %s, removed=%v",
			p.Release, p.DaemonSetReady, p.AgentReady, p.DeploymentReady, p.Removed)
	}
	if len(h.CRDs) > 0 {
		line += fmt.Sprintf("; %d CRDs applied server-side first", len(h.CRDs))
	}
	if h.Timings.Total > 0 {
		line += fmt.Sprintf("; %s (waiting %s)", h.Timings.Total.Round(time.Millisecond), h.Timings.Waiting.Round(time.Millisecond))
	}
	fmt.Fprintln(w, line)
}

func newCNIRollbackCmd() *cobra.Command {
	var f *cniFlags
	var revision int
	cmd := &cobra.Command{
		Use:   "rollback",
		Short: "helm rollback the CNI release to a revision (default: the previous one) and wait until ready",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if revision < 0 {
				return invalidf("--revision %d: not a revision (fix: pass a revision 'hybridcni cni status' lists, or 0 for the previous one)", revision)
			}
			s, err := f.open(cmd, false, nil)
			if err != nil {
				return err
			}
			rel, err := s.driver.Rollback(cmd.Context(), s.run, revision)
			if err != nil {
				return err
			}
			fmt.Fprintf(s.out, "rolled back: release %s\n", rel)
			return s.printReadiness(cmd.Context())
		},
	}
	f = addCNIClusterFlags(cmd)
	cmd.Flags().IntVar(&revision, "revision", 0, "revision to roll back to (0: the previous one)")
	return cmd
}

func newCNIUninstallCmd() *cobra.Command {
	var f *cniFlags
	var keepCRDs, removeFinalizers bool
	cmd := &cobra.Command{
		Use:   "uninstall",
		Short: "helm uninstall the CNI, then delete its CRDs (names containing cilium, or calico/tigera)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			s, err := f.open(cmd, false, nil, func(o *cni.Options) { o.RemoveFinalizers = removeFinalizers })
			if err != nil {
				return err
			}
			p := s.driver.Profile()
			if err := s.driver.Uninstall(cmd.Context()); err != nil {
				if !errors.Is(err, chart.ErrReleaseNotFound) || keepCRDs {
					return err
				}
				fmt.Fprintf(s.out, "release %s/%s not found; cleaning up what it left\n", p.Namespace(), p.ReleaseName())
			} else {
				fmt.Fprintf(s.out, "uninstalled release %s/%s\n", p.Namespace(), p.ReleaseName())
			}
			if keepCRDs {
				return nil
			}
			rep, err := s.driver.Cleanup(cmd.Context())
			if rep != nil {
				fmt.Fprintf(s.out, "deleted %d CRDs", len(rep.CRDs))
				if len(rep.Namespaces) > 0 {
					fmt.Fprintf(s.out, " and namespaces %s", strings.Join(rep.Namespaces, ", "))
				}
				fmt.Fprintln(s.out)
				for _, r := range rep.FinalizersRemoved {
					fmt.Fprintf(s.out, "removed finalizers: %s\n", r)
				}
			}
			return err
		},
	}
	f = addCNIClusterFlags(cmd)
	cmd.Flags().BoolVar(&keepCRDs, "keep-crds", false, "leave the CNI's CRDs (and the custom resources) in place")
	cmd.Flags().BoolVar(&removeFinalizers, "remove-finalizers", false, "strip finalizers that still hold objects after the wait (their controller is gone)")
	return cmd
}

func newCNIStatusCmd() *cobra.Command {
	var f *cniFlags
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Print the release, its revision history, readiness per node and the BGP resources; exit 1 when not ready",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			s, err := f.open(cmd, false, nil)
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			p := s.driver.Profile()
			hist, err := s.cluster.Helm.History(ctx, p.ReleaseName(), p.Namespace())
			if err != nil {
				return err
			}
			writeHistory(s.out, p.Namespace()+"/"+p.ReleaseName(), p.ChartName(), hist)
			fmt.Fprintln(s.out)
			if err := s.printReadiness(ctx); err != nil {
				fmt.Fprintln(s.out)
				s.printBGP(ctx)
				return err
			}
			fmt.Fprintln(s.out)
			s.printBGP(ctx)
			return nil
		},
	}
	f = addCNIClusterFlags(cmd)
	return cmd
}

// printReadiness prints readiness per node and workload; not ready is an error.
func (s *session) printReadiness(ctx context.Context) error {
	r, err := s.driver.Readiness(ctx)
	if err != nil {
		return err
	}
	writeReadiness(s.out, r)
	if !r.OK() {
		return fmt.Errorf("%s %w", s.run.CNI.Name, r.Err())
	}
	fmt.Fprintf(s.errOut, "%s ready on every hybrid node\n", s.run.CNI.Name)
	return nil
}

// writeHistory lists a release's revisions.
func writeHistory(w io.Writer, release, chartName string, hist []*chart.Release) {
	t := table.New(w, "release", "chart", "revision", "version", "status", "updated", "description")
	for _, r := range hist {
		t.Row(release, chartName, r.Revision, r.ChartVersion, r.Status, r.Updated.UTC().Format(time.RFC3339), r.Description)
	}
	t.Flush()
}

// writeReadiness lists readiness per node, then per workload (and
// tigerastatus), as two lists.
func writeReadiness(w io.Writer, r *cni.Readiness) {
	t := table.New(w, "node", "role", "ready", "agents")
	for _, n := range r.Nodes {
		role := "cloud"
		if n.Hybrid {
			role = "hybrid"
		}
		var agents []string
		for w, p := range n.Agents {
			agents = append(agents, w+"="+p)
		}
		sort.Strings(agents)
		t.Row(n.Name, role, n.Ready, strings.Join(agents, ","))
	}
	t.Flush()
	fmt.Fprintln(w)
	t = table.New(w, "workload", "ready", "ok")
	for _, wl := range r.Workloads {
		t.Row(wl.Workload, wl.Ready, wl.OK)
	}
	names := make([]string, 0, len(r.Tigera))
	for n := range r.Tigera {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		t.Row("tigerastatus "+n, r.Tigera[n], r.Tigera[n] == "Available")
	}
	t.Flush()
}

func (s *session) printBGP(ctx context.Context) {
	objs, err := s.driver.BGPResources(ctx)
	if err != nil {
		fmt.Fprintf(s.errOut, "BGP resources: %v\n", err)
		return
	}
	if len(objs) == 0 {
		fmt.Fprintln(s.errOut, "BGP resources: none")
		return
	}
	writeBGPResources(s.out, objs)
}

// writeBGPResources lists the CNI's BGP objects in the cluster.
func writeBGPResources(w io.Writer, objs []*unstructured.Unstructured) {
	t := table.New(w, "bgp resource", "name", "api version")
	for _, o := range objs {
		t.Row(o.GetKind(), o.GetName(), o.GetAPIVersion())
	}
	t.Flush()
}

// kubeconfigError says what is wrong with the kubeconfig, lists the contexts
// it has, and gives one fix (chart.LoadKubeconfig's own hint is dropped).
func kubeconfigError(path, context string, err error) error {
	cause := err
	if u := errors.Unwrap(err); u != nil {
		cause = u
	}
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	if path != "" {
		rules = &clientcmd.ClientConfigLoadingRules{ExplicitPath: path}
	}
	where := path
	if where == "" {
		where = "the default kubeconfig ($KUBECONFIG or ~/.kube/config)"
	}
	cfg, lerr := rules.Load()
	var names []string
	if lerr == nil {
		for n := range cfg.Contexts {
			names = append(names, n)
		}
		sort.Strings(names)
	}
	field, fix := "--kubeconfig", "pass --kubeconfig with the kubeconfig of the cluster"
	switch {
	case len(names) > 0 && context != "":
		field, fix = "--context", "pass --context with one of: "+strings.Join(names, ", ")
	case len(names) > 0:
		fix = "pass --context with one of: " + strings.Join(names, ", ")
	}
	msg := fmt.Sprintf("%s: %v", where, cause)
	if len(names) > 0 {
		msg += fmt.Sprintf(" (contexts in it: %s", strings.Join(names, ", "))
		if cfg.CurrentContext != "" {
			msg += "; current: " + cfg.CurrentContext
		}
		msg += ")"
	} else if lerr == nil {
		msg += " (it has no contexts)"
	}
	return config.Invalid(field, msg, fix)
}
