package main

import (
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/hybridcni/hybridcni/framework/cni"
	"github.com/hybridcni/hybridcni/framework/config"
)

// runFlags are the flags of commands that act on one run: -f FILE and
// per-field overrides, applied only when given.
type runFlags struct {
	fs   *pflag.FlagSet
	file string
	r    config.Run // flag values; copied into the run only for flags that are set
	// flagOf maps a set flag's configuration field to the flag, for messages.
	flagOf map[string]string
	sets   map[string]func(*config.Run)
}

// addRunFlags registers the run flags on cmd.
func addRunFlags(cmd *cobra.Command) *runFlags {
	f := &runFlags{fs: cmd.Flags(), r: config.Default(), flagOf: map[string]string{}, sets: map[string]func(*config.Run){}}
	d := config.Default()
	fs := f.fs
	fs.StringVarP(&f.file, "file", "f", "", "run configuration file (kind: Run); flags override its fields")

	f.str("run-name", "name", &f.r.Name, "run name: names its cluster, containers and results (default: from the CNI, versions and modes)",
		func(r *config.Run) { r.Name = f.r.Name })
	f.str("cni", "cni.name", &f.r.CNI.Name, "CNI: "+strings.Join(cni.Names(), ", "), func(r *config.Run) { r.CNI.Name = f.r.CNI.Name })
	f.str("version", "cni.version", &f.r.CNI.Version, "CNI chart version (default: the version the hybrid-nodes guide was written for)",
		func(r *config.Run) { r.CNI.Version = f.r.CNI.Version })
	f.str("chart-repo", "cni.chartSource", &f.r.CNI.ChartSource,
		"chart source: Helm repository URL, folder with index.yaml and archives, chart archive, or chart folder",
		func(r *config.Run) { r.CNI.ChartSource = f.r.CNI.ChartSource })
	f.str("kubernetes-version", "kubernetes.version", &f.r.Kubernetes.Version, "cluster Kubernetes version (default "+d.Kubernetes.Version+")",
		func(r *config.Run) { r.Kubernetes.Version = f.r.Kubernetes.Version })
	f.str("node-cidr", "network.nodeCIDR", &f.r.Network.NodeCIDR, "on-prem node CIDR (default "+d.Network.NodeCIDR+")",
		func(r *config.Run) { r.Network.NodeCIDR = f.r.Network.NodeCIDR })
	f.str("pod-cidr", "network.podCIDR", &f.r.Network.PodCIDR, "pod CIDR (default "+d.Network.PodCIDR+")",
		func(r *config.Run) { r.Network.PodCIDR = f.r.Network.PodCIDR })
	f.str("service-cidr", "network.serviceCIDR", &f.r.Network.ServiceCIDR, "service CIDR (default "+d.Network.ServiceCIDR+")",
		func(r *config.Run) { r.Network.ServiceCIDR = f.r.Network.ServiceCIDR })
	f.str("router-address", "bgp.routerAddress", &f.r.BGP.RouterAddress, "on-prem router address (default: last host of the node CIDR)",
		func(r *config.Run) { r.BGP.RouterAddress = f.r.BGP.RouterAddress })

	fs.IntVar(&f.r.Network.BlockSize, "block-size", d.Network.BlockSize, "prefix length of each node's pod block (25 = 128 addresses)")
	f.set("block-size", "network.blockSize", func(r *config.Run) { r.Network.BlockSize = f.r.Network.BlockSize })
	fs.BoolVar(&f.r.Network.Masquerade, "masquerade", d.Network.Masquerade, "masquerade pod traffic leaving the cluster (Calico natOutgoing)")
	f.set("masquerade", "network.masquerade", func(r *config.Run) { r.Network.Masquerade = f.r.Network.Masquerade })
	fs.BoolVar(&f.r.Network.AllowUnroutablePods, "allow-unroutable-pods", false, "accept masquerading off without BGP")
	f.set("allow-unroutable-pods", "network.allowUnroutablePods", func(r *config.Run) { r.Network.AllowUnroutablePods = f.r.Network.AllowUnroutablePods })
	fs.BoolVar(&f.r.BGP.Enabled, "bgp", d.BGP.Enabled, "peer the hybrid nodes with the on-prem router over BGP")
	f.set("bgp", "bgp.enabled", func(r *config.Run) { r.BGP.Enabled = f.r.BGP.Enabled })
	fs.Int64Var(&f.r.BGP.RouterASN, "router-asn", d.BGP.RouterASN, "on-prem router ASN")
	f.set("router-asn", "bgp.routerASN", func(r *config.Run) { r.BGP.RouterASN = f.r.BGP.RouterASN })
	fs.Int64Var(&f.r.BGP.NodeASN, "node-asn", d.BGP.NodeASN, "hybrid nodes' ASN")
	f.set("node-asn", "bgp.nodeASN", func(r *config.Run) { r.BGP.NodeASN = f.r.BGP.NodeASN })
	fs.IntVar(&f.r.Nodes.Hybrid, "hybrid-nodes", d.Nodes.Hybrid, "number of hybrid nodes")
	f.set("hybrid-nodes", "nodes.hybrid", func(r *config.Run) { r.Nodes.Hybrid = f.r.Nodes.Hybrid })
	fs.IntVar(&f.r.Nodes.Cloud, "cloud-nodes", d.Nodes.Cloud, "number of cloud (non-hybrid) nodes")
	f.set("cloud-nodes", "nodes.cloud", func(r *config.Run) { r.Nodes.Cloud = f.r.Nodes.Cloud })
	fs.StringArrayVar(&f.r.CNI.ValuesFiles, "values", nil, "extra Helm values file, merged last (repeatable; added after the file's valuesFiles)")
	f.set("values", "cni.valuesFiles", func(r *config.Run) { r.CNI.ValuesFiles = append(r.CNI.ValuesFiles, f.r.CNI.ValuesFiles...) })
	return f
}

// withUpgradeTo adds --upgrade-to.
func (f *runFlags) withUpgradeTo() *runFlags {
	f.str("upgrade-to", "cni.upgradeTo", &f.r.CNI.UpgradeTo, "CNI version to upgrade to after install",
		func(r *config.Run) { r.CNI.UpgradeTo = f.r.CNI.UpgradeTo })
	f.fs.IntVar(&f.r.CNI.RepeatHops, "repeat-hops", 0, "upgrade and roll back N times on one cluster with the disruption meter; report median and worst per pair")
	f.set("repeat-hops", "cni.repeatHops", func(r *config.Run) { r.CNI.RepeatHops = f.r.CNI.RepeatHops })
	f.str("repeat-budget-on", "cni.repeatBudgetOn", &f.r.CNI.RepeatBudgetOn, "judge repeated hops' disruption budget on the median (default) or worst hop",
		func(r *config.Run) { r.CNI.RepeatBudgetOn = f.r.CNI.RepeatBudgetOn })
	return f
}

func (f *runFlags) str(name, field string, p *string, usage string, apply func(*config.Run)) {
	f.fs.StringVar(p, name, "", usage)
	f.set(name, field, apply)
}

func (f *runFlags) set(name, field string, apply func(*config.Run)) {
	f.sets[name] = apply
	f.flagOf[field] = name
}

// overrides are the config overrides of the flags given on the command line.
func (f *runFlags) overrides() []config.Override {
	var out []config.Override
	f.fs.Visit(func(fl *pflag.Flag) {
		if apply, ok := f.sets[fl.Name]; ok {
			out = append(out, apply)
		}
	})
	return out
}

// run reads -f (or the defaults), applies the flags, completes and validates
// the run. Invalid input is a *config.Error (exit 2) whose problems also
// name the flag that set the field.
func (f *runFlags) run() (config.Run, error) {
	var (
		r   config.Run
		err error
	)
	if f.file != "" {
		r, err = config.Load(f.file, f.overrides()...)
	} else {
		r, err = config.Parse(nil, f.overrides()...)
	}
	if err == nil {
		err = r.Validate()
	}
	if err != nil {
		return config.Run{}, config.Locate(f.annotate(err), f.file)
	}
	return r, nil
}

// annotate adds the flag to problems on fields given as flags.
func (f *runFlags) annotate(err error) error {
	var cfgErr *config.Error
	if !errors.As(err, &cfgErr) {
		return err
	}
	for i, p := range cfgErr.Problems {
		field := p.Field
		if j := strings.IndexByte(field, '['); j > 0 {
			field = field[:j]
		}
		if name, ok := f.flagOf[field]; ok && f.fs.Changed(name) {
			cfgErr.Problems[i].Message = fmt.Sprintf("%s (from --%s)", p.Message, name)
		}
	}
	return err
}

// noArgs rejects positional arguments as a usage error (exit 2).
func noArgs(cmd *cobra.Command, args []string) error {
	if err := cobra.NoArgs(cmd, args); err != nil {
		return usageError{fmt.Errorf("%w (fix: %s takes flags only, see --help)", err, cmd.CommandPath())}
	}
	return nil
}

// addRunFlagsOnly registers -f and only the named run flags on cmd (plus
// --upgrade-to and its kin when upgrade is set), for commands that read only
// part of a run: their --help lists only the flags they use.
func addRunFlagsOnly(cmd *cobra.Command, upgrade bool, names ...string) *runFlags {
	f := addRunFlags(&cobra.Command{})
	if upgrade {
		f.withUpgradeTo()
	}
	keep := map[string]bool{"file": true}
	for _, n := range names {
		keep[n] = true
	}
	f.fs.VisitAll(func(fl *pflag.Flag) {
		if keep[fl.Name] {
			cmd.Flags().AddFlag(fl)
		}
	})
	f.fs = cmd.Flags()
	return f
}
