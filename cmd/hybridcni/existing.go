package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/hybridcni/hybridcni/framework/config"
	"github.com/hybridcni/hybridcni/suites"
	"github.com/hybridcni/hybridcni/suites/providers/existing"
)

// existingFlags are `run --provider existing`'s own flags: the cluster,
// what the run may do to its CNI, and the capabilities the user provides.
type existingFlags struct {
	fs             *pflag.FlagSet
	kubeconfig     string
	context        string
	lifecycle      string
	rollback       bool
	routerAPI      string
	onPremHost     string
	nodeShell      bool
	nodeShellImage string
	echoImage      string
	podsRoutable   bool
	yes            bool
	expectContext  string
}

// existingOnly are the flags that mean something only on an existing cluster.
var existingOnly = []string{"kubeconfig", "context", "lifecycle", "rollback", "router-api", "on-prem-host", "node-shell",
	"node-shell-image", "echo-image", "pods-routable", "yes", "expect-context"}

func addExistingFlags(cmd *cobra.Command) *existingFlags {
	e := &existingFlags{fs: cmd.Flags()}
	fs := e.fs
	fs.StringVar(&e.kubeconfig, "kubeconfig", "", "existing provider: kubeconfig of the cluster (default $KUBECONFIG or ~/.kube/config)")
	fs.StringVar(&e.context, "context", "", "existing provider: kubeconfig context (default: the current one)")
	fs.StringVar(&e.lifecycle, "lifecycle", suites.LifecycleNone, "existing provider: none (checks only), upgrade (checks, upgrade to --upgrade-to, checks), full (install through delete)")
	fs.BoolVar(&e.rollback, "rollback", false, "existing provider, --lifecycle upgrade: roll back to the revision found and check again")
	fs.StringVar(&e.routerAPI, "router-api", "", "existing provider: the on-prem router's GoBGP gRPC API, HOST:PORT (without it the router's BGP checks skip)")
	fs.StringVar(&e.onPremHost, "on-prem-host", "", "existing provider: ADDR[:PORT] of an on-prem host running hybridcni echo (without it the on-prem checks skip)")
	fs.BoolVar(&e.nodeShell, "node-shell", false, "existing provider: run node commands through a short-lived privileged pod per node (without it node checks skip)")
	fs.StringVar(&e.nodeShellImage, "node-shell-image", "", "existing provider: image of the node shell pods, with nsenter (default: the harness's echo image)")
	fs.StringVar(&e.echoImage, "echo-image", "", "existing provider: the echo workload's image, pullable by the nodes (default: the harness's echo image of this build)")
	fs.BoolVar(&e.podsRoutable, "pods-routable", false, "existing provider: the control plane reaches pod addresses (EKS remote pod networks) (default: when BGP is on)")
	fs.BoolVar(&e.yes, "yes", false, "existing provider: allow --lifecycle upgrade|full to change the cluster's CNI")
	fs.StringVar(&e.expectContext, "expect-context", "", "existing provider: refuse unless the kubeconfig context is this one (also allows changing the CNI)")
	return e
}

// check judges the flag combinations before anything is read or created.
func (e *existingFlags) check(provider string, rf *runFlags, faults bool) error {
	if provider != existing.Name {
		for _, n := range existingOnly {
			if e.fs.Changed(n) {
				return invalidf("--%s applies to --provider existing only (fix: add --provider existing, or drop --%s)", n, n)
			}
		}
		return nil
	}
	for _, n := range []string{"topology", "node-image", "hybrid-nodes", "cloud-nodes", "kubernetes-version"} {
		if e.fs.Changed(n) {
			return invalidf("--%s: --provider existing runs on the cluster as it is (fix: drop --%s; the nodes are discovered by the hybrid label)", n, n)
		}
	}
	if faults {
		return invalidf("--faults: faults break nodes and the CNI on purpose, which --provider existing never does (fix: run the fault phases with --provider kind)")
	}
	upgradeTo := e.fs.Changed("upgrade-to") || (rf.file != "" && rfUpgradeTo(rf) != "")
	switch e.lifecycle {
	case suites.LifecycleNone:
		if e.fs.Changed("upgrade-to") {
			return invalidf("--upgrade-to: --lifecycle none changes no CNI (fix: add --lifecycle upgrade, or drop --upgrade-to)")
		}
	case suites.LifecycleUpgrade:
		if !upgradeTo {
			return invalidf("--lifecycle upgrade needs the version to upgrade to (fix: pass --upgrade-to VERSION)")
		}
	case suites.LifecycleFull:
	default:
		return invalidf("--lifecycle %q: want none, upgrade or full (fix: pass --lifecycle none to check the cluster as it is)", e.lifecycle)
	}
	if e.rollback && e.lifecycle != suites.LifecycleUpgrade {
		return invalidf("--rollback applies to --lifecycle upgrade (fix: add --lifecycle upgrade --upgrade-to VERSION, or drop --rollback)")
	}
	if e.fs.Changed("node-shell-image") && !e.nodeShell {
		return invalidf("--node-shell-image without --node-shell: no node shell runs (fix: add --node-shell)")
	}
	if e.fs.Changed("repeat-hops") && e.lifecycle != suites.LifecycleFull {
		return invalidf("--repeat-hops needs the install's rollback target (fix: use --lifecycle full, or drop --repeat-hops)")
	}
	return nil
}

// rfUpgradeTo reads cni.upgradeTo from the run file, ignoring errors
// (rf.run reports them).
func rfUpgradeTo(rf *runFlags) string {
	r, err := config.Load(rf.file)
	if err != nil {
		return ""
	}
	return r.CNI.UpgradeTo
}

// changesCNI: the lifecycle mode installs, upgrades or deletes the CNI.
func (e *existingFlags) changesCNI() bool { return e.lifecycle != suites.LifecycleNone }

// prepare connects to the cluster, prints which one it is, refuses unsafe
// runs, discovers the nodes and the CNI release, and returns the run (the
// cluster's CNI, version, nodes and, without a run file, its network modes)
// and the provider's options.
func (e *existingFlags) prepare(ctx context.Context, out io.Writer, rf *runFlags) (config.Run, existing.Options, error) {
	eo := existing.Options{Kubeconfig: e.kubeconfig, Context: e.context, RouterAPI: e.routerAPI, OnPremHost: e.onPremHost,
		NodeShell: e.nodeShell, NodeShellImage: e.nodeShellImage, EchoImage: e.echoImage}
	if e.fs.Changed("pods-routable") {
		eo.PodsRoutable = &e.podsRoutable
	}
	if e.onPremHost != "" {
		if _, _, err := existing.OnPremAddress(e.onPremHost); err != nil {
			return config.Run{}, eo, err
		}
	}
	if e.kubeconfig != "" {
		if _, err := os.Stat(e.kubeconfig); err != nil {
			return config.Run{}, eo, config.Invalid("--kubeconfig", fmt.Sprintf("%q: %v", e.kubeconfig, errors.Unwrap(err)), "pass --kubeconfig with the path of a kubeconfig file")
		}
	}
	rc, endpoint, kctx, err := existing.Connect(e.kubeconfig, e.context)
	if err != nil {
		return config.Run{}, eo, kubeconfigError(e.kubeconfig, e.context, err)
	}
	fmt.Fprintf(out, "cluster: %s (context %s), lifecycle %s\n", endpoint, orNone(kctx), e.lifecycle)
	if e.expectContext != "" && e.expectContext != kctx {
		return config.Run{}, eo, invalidf("--expect-context %s: the kubeconfig's context is %s (%s) (fix: pass --context %s, or the kubeconfig of that cluster)",
			e.expectContext, orNone(kctx), endpoint, e.expectContext)
	}
	if e.changesCNI() && !e.yes && e.expectContext == "" {
		return config.Run{}, eo, invalidf("--lifecycle %s changes the CNI of cluster %s (context %s); refusing without confirmation (fix: pass --expect-context %s, or --yes)",
			e.lifecycle, endpoint, orNone(kctx), kctx)
	}
	if e.lifecycle == suites.LifecycleFull {
		hybrid, cloud, err := existing.Nodes(ctx, mustKube(rc))
		if err != nil {
			return config.Run{}, eo, fmt.Errorf("cluster %s: %w", endpoint, err)
		}
		r, err := runWith(rf, nil, func(r *config.Run) { r.Nodes.Hybrid, r.Nodes.Cloud = len(hybrid), len(cloud) })
		return r, eo, err
	}
	d, err := existing.Discover(ctx, rc)
	if err != nil {
		return config.Run{}, eo, fmt.Errorf("cluster %s: %w", endpoint, err)
	}
	if rf.fs.Changed("cni") && rf.r.CNI.Name != d.CNI {
		return config.Run{}, eo, config.Invalid("--cni", fmt.Sprintf("%s, but the cluster runs %s (release %s)", rf.r.CNI.Name, d.CNI, d.Release),
			"drop --cni: the existing provider checks the CNI the cluster runs")
	}
	if rf.fs.Changed("version") && strings.TrimPrefix(rf.r.CNI.Version, "v") != strings.TrimPrefix(d.Version(), "v") {
		return config.Run{}, eo, config.Invalid("--version", fmt.Sprintf("%s, but the cluster runs %s %s", rf.r.CNI.Version, d.CNI, d.Version()),
			"drop --version: the existing provider checks the version the cluster runs")
	}
	printDiscovery(out, d)
	var fromCluster config.Override
	if rf.file == "" {
		// No run file: the cluster's own modes are what the checks expect.
		fromCluster = func(r *config.Run) {
			if d.PodCIDR != "" {
				r.Network.PodCIDR = d.PodCIDR
			}
			if d.BlockSize != 0 {
				r.Network.BlockSize = d.BlockSize
			}
			if d.SettingsKnown {
				r.Network.Masquerade, r.BGP.Enabled = d.Settings.Masquerade, d.Settings.BGP
			}
		}
	}
	r, err := runWith(rf, fromCluster, func(r *config.Run) {
		r.CNI.Name, r.CNI.Version = d.CNI, d.Version()
		r.Nodes.Hybrid, r.Nodes.Cloud = len(d.Hybrid), len(d.Cloud)
		if !r.Network.Masquerade && !r.BGP.Enabled {
			r.Network.AllowUnroutablePods = true // as the cluster is
		}
	})
	if err != nil {
		return r, eo, err
	}
	if rf.file != "" {
		for _, diff := range differences(r, d) {
			fmt.Fprintf(out, "  the run file says %s (the checks judge the cluster against the file)\n", diff)
		}
	}
	return r, eo, nil
}

// runWith reads the run as runFlags.run does, with before applied before
// the flags (values a file or flag may override) and after last.
func runWith(rf *runFlags, before, after config.Override) (config.Run, error) {
	overrides := append(append([]config.Override{before}, rf.overrides()...), after)
	var (
		r   config.Run
		err error
	)
	if rf.file != "" {
		r, err = config.Load(rf.file, overrides...)
	} else {
		r, err = config.Parse(nil, overrides...)
	}
	if err == nil {
		err = r.Validate()
	}
	if err != nil {
		return config.Run{}, config.Locate(rf.annotate(err), rf.file)
	}
	return r, nil
}

// differences lists where the run (file) and the cluster disagree.
func differences(r config.Run, d *existing.Discovery) []string {
	var out []string
	if d.PodCIDR != "" && d.PodCIDR != r.Network.PodCIDR {
		out = append(out, fmt.Sprintf("network.podCIDR %s, the cluster %s", r.Network.PodCIDR, d.PodCIDR))
	}
	if d.BlockSize != 0 && d.BlockSize != r.Network.BlockSize {
		out = append(out, fmt.Sprintf("network.blockSize %d, the cluster /%d", r.Network.BlockSize, d.BlockSize))
	}
	if d.SettingsKnown && d.Settings.Masquerade != r.Network.Masquerade {
		out = append(out, fmt.Sprintf("network.masquerade %v, the release %v", r.Network.Masquerade, d.Settings.Masquerade))
	}
	if d.SettingsKnown && d.Settings.BGP != r.BGP.Enabled {
		out = append(out, fmt.Sprintf("bgp.enabled %v, the release %v", r.BGP.Enabled, d.Settings.BGP))
	}
	return out
}

func printDiscovery(w io.Writer, d *existing.Discovery) {
	names := func(ns []suites.Node) string {
		var out []string
		for _, n := range ns {
			out = append(out, n.Name+" "+n.Address)
		}
		if len(out) == 0 {
			return "none"
		}
		return strings.Join(out, ", ")
	}
	fmt.Fprintf(w, "  hybrid nodes: %s\n  cloud nodes:  %s\n  CNI: %s %s (release %s)\n", names(d.Hybrid), names(d.Cloud), d.CNI, d.Version(), d.Release)
	cidr, block := d.PodCIDR, "unknown"
	if cidr == "" {
		cidr = "unknown (the run's network.podCIDR stands; set it with --pod-cidr)"
	}
	if d.BlockSize != 0 {
		block = fmt.Sprintf("/%d", d.BlockSize)
	}
	fmt.Fprintf(w, "  pod CIDR %s, block size %s", cidr, block)
	if d.SettingsKnown {
		fmt.Fprintf(w, ", masquerading %v, BGP %v", d.Settings.Masquerade, d.Settings.BGP)
	}
	fmt.Fprintln(w)
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}

// mustKube builds a client; NewForConfig fails only on a malformed config,
// which Connect has already loaded.
func mustKube(rc *rest.Config) kubernetes.Interface {
	k, err := kubernetes.NewForConfig(rc)
	if err != nil {
		panic(err)
	}
	return k
}
