package config

import (
	"fmt"
	"math/big"
	"net/netip"
	"os"
	"slices"
	"strings"

	"github.com/Masterminds/semver/v3"
)

// Reserved ASNs a run may not use (RFC 7607, RFC 6793, RFC 7300).
var reservedASNs = map[int64]string{
	0:          "reserved (RFC 7607)",
	23456:      "AS_TRANS (RFC 6793)",
	65535:      "reserved (RFC 7300)",
	4294967295: "reserved (RFC 7300)",
}

// Limits on a node's pod block.
const (
	minBlocks        = 2
	minAddrsPerBlock = 8
)

// Validate checks a completed run and returns an *Error listing every problem,
// each naming its field and the fix, or nil.
func (r *Run) Validate() error {
	var ps []Problem
	add := func(field, fix, format string, args ...any) {
		ps = append(ps, Problem{Field: field, Message: fmt.Sprintf(format, args...), Fix: fix})
	}

	if r.APIVersion != APIVersion {
		add("apiVersion", "set apiVersion: "+APIVersion, "is %q, want %q", r.APIVersion, APIVersion)
	}
	if r.Name != "" && r.Name != sanitizeName(r.Name) {
		add("name", "use lower-case letters, digits and '-', at most 40 characters", "%q is not a valid run name", r.Name)
	}

	// CNI and versions.
	if !slices.Contains(KnownCNIs, r.CNI.Name) {
		add("cni.name", "use one of: "+strings.Join(KnownCNIs, ", "), "unknown CNI %q", r.CNI.Name)
	}
	from, err := semver.NewVersion(r.CNI.Version)
	// An unknown CNI has no default version: one problem, not a second made-up one.
	if err != nil && (r.CNI.Version != "" || slices.Contains(KnownCNIs, r.CNI.Name)) {
		add("cni.version", "write a version such as 1.16.19 (Cilium) or v3.29.7 (Calico)", "%q is not a version", r.CNI.Version)
	}
	if r.CNI.UpgradeTo != "" {
		to, err := semver.NewVersion(r.CNI.UpgradeTo)
		switch {
		case err != nil:
			add("cni.upgradeTo", "write a version such as 1.17.18", "%q is not a version", r.CNI.UpgradeTo)
		case from != nil && !to.GreaterThan(from):
			add("cni.upgradeTo", "pick a version newer than cni.version, or drop upgradeTo",
				"%s is not newer than cni.version %s", r.CNI.UpgradeTo, r.CNI.Version)
		}
	}
	switch {
	case r.CNI.RepeatHops < 0 || r.CNI.RepeatHops > MaxRepeatHops:
		add("cni.repeatHops", fmt.Sprintf("use 0 (each hop once) to %d", MaxRepeatHops), "%d is out of range", r.CNI.RepeatHops)
	case r.CNI.RepeatHops > 0 && r.CNI.UpgradeTo == "":
		add("cni.repeatHops", "set cni.upgradeTo, or drop repeatHops", "repeats upgrades, but the run has no upgrade target")
	}
	if r.CNI.RepeatBudgetOn != "median" && r.CNI.RepeatBudgetOn != "worst" {
		add("cni.repeatBudgetOn", "use median or worst", "%q is not a figure of repeated hops", r.CNI.RepeatBudgetOn)
	}
	if strings.TrimSpace(r.CNI.ChartSource) == "" && slices.Contains(KnownCNIs, r.CNI.Name) {
		add("cni.chartSource", "set a Helm repository URL, a folder with index.yaml, or a chart archive", "is empty")
	}
	for i, f := range r.CNI.ValuesFiles {
		if st, err := os.Stat(f); err != nil || st.IsDir() {
			add(fmt.Sprintf("cni.valuesFiles[%d]", i), "point it at an existing Helm values file", "%q is not a readable file", f)
		}
	}
	if _, err := semver.NewVersion(r.Kubernetes.Version); err != nil {
		add("kubernetes.version", "write a version such as 1.37.0", "%q is not a version", r.Kubernetes.Version)
	}

	// Address plan.
	node := r.prefix(&ps, "network.nodeCIDR", r.Network.NodeCIDR)
	pod := r.prefix(&ps, "network.podCIDR", r.Network.PodCIDR)
	svc := r.prefix(&ps, "network.serviceCIDR", r.Network.ServiceCIDR)
	ranges := []struct {
		field string
		p     netip.Prefix
	}{{"network.podCIDR", pod}, {"network.nodeCIDR", node}, {"network.serviceCIDR", svc}}
	for i := range ranges {
		for j := i + 1; j < len(ranges); j++ {
			a, b := ranges[i], ranges[j]
			if a.p.IsValid() && b.p.IsValid() && a.p.Overlaps(b.p) {
				add(a.field, overlapFix(a.field, b.field), "%s overlaps %s %s", a.p, b.field, b.p)
			}
		}
	}
	// The BGP checks' LoadBalancer and external service addresses.
	for _, a := range ranges {
		if a.p.IsValid() && a.p.Overlaps(ServiceTestRange) {
			add(a.field, "choose a range outside "+ServiceTestRange.String(), "%s overlaps %s, the LoadBalancer and external IPs the BGP checks give services", a.p, ServiceTestRange)
		}
	}
	if pod.IsValid() {
		r.checkBlocks(pod, add)
	}
	if r.Nodes.Hybrid < 1 {
		add("nodes.hybrid", "set at least 1 hybrid node", "is %d", r.Nodes.Hybrid)
	}
	if r.Nodes.Cloud < 0 {
		add("nodes.cloud", "set 0 or more cloud nodes", "is %d", r.Nodes.Cloud)
	}
	if node.IsValid() {
		// Gateway, router and on-prem host, the control plane, then the workers.
		need := 3 + 1 + r.Nodes.Hybrid + r.Nodes.Cloud
		if have := usableHosts(node); have < int64(need) {
			add("network.nodeCIDR", "use a larger node CIDR or fewer nodes",
				"%s has %d usable addresses, the topology needs %d", node, have, need)
		}
	}

	// Masquerading and BGP.
	if !r.Network.Masquerade && !r.BGP.Enabled && !r.Network.AllowUnroutablePods {
		add("network.masquerade", "enable bgp (bgp.enabled: true) so pod CIDRs are advertised, or set network.allowUnroutablePods: true",
			"is off without BGP: pod CIDRs would not be routable on-prem")
	}
	checkASN("bgp.routerASN", r.BGP.RouterASN, add)
	checkASN("bgp.nodeASN", r.BGP.NodeASN, add)
	if a, err := netip.ParseAddr(r.BGP.RouterAddress); err != nil || !a.Is4() {
		add("bgp.routerAddress", "write an IPv4 address inside network.nodeCIDR", "%q is not an IPv4 address", r.BGP.RouterAddress)
	} else if node.IsValid() {
		switch {
		case !node.Contains(a):
			add("bgp.routerAddress", "pick an address inside network.nodeCIDR "+node.String(),
				"%s is outside the node CIDR %s", a, node)
		case a == node.Addr() || a == lastAddr(node):
			add("bgp.routerAddress", "pick a host address, not the network or broadcast address",
				"%s is not a host address of %s", a, node)
		}
	}

	if len(ps) > 0 {
		return &Error{Problems: ps}
	}
	return nil
}

func (r *Run) prefix(ps *[]Problem, field, s string) netip.Prefix {
	p, err := netip.ParsePrefix(strings.TrimSpace(s))
	switch {
	case err != nil:
		*ps = append(*ps, Problem{Field: field, Message: fmt.Sprintf("%q is not a CIDR", s), Fix: "write an IPv4 CIDR such as 10.85.0.0/16"})
		return netip.Prefix{}
	case !p.Addr().Is4():
		*ps = append(*ps, Problem{Field: field, Message: fmt.Sprintf("%s is not IPv4", p), Fix: "hybrid nodes support IPv4 only: write an IPv4 CIDR"})
		return netip.Prefix{}
	case p.Masked() != p:
		*ps = append(*ps, Problem{Field: field, Message: fmt.Sprintf("%s has host bits set", p), Fix: "write " + p.Masked().String()})
		return netip.Prefix{}
	}
	return p
}

func (r *Run) checkBlocks(pod netip.Prefix, add func(field, fix, format string, args ...any)) {
	bs := r.Network.BlockSize
	const field = "network.blockSize"
	switch {
	case bs < pod.Bits() || bs > 32:
		add(field, fmt.Sprintf("use a prefix length between %d and %d", pod.Bits(), 32-3),
			"/%d does not fit inside the pod CIDR %s", bs, pod)
		return
	case bs-pod.Bits() < 1:
		add(field, fmt.Sprintf("use a longer prefix than /%d", pod.Bits()), "/%d leaves fewer than %d blocks in %s", bs, minBlocks, pod)
		return
	case 32-bs < 3:
		add(field, "use /29 or shorter (25 gives 128 addresses per node)", "/%d leaves fewer than %d addresses per node", bs, minAddrsPerBlock)
		return
	}
	blocks := int64(1) << min(bs-pod.Bits(), 62)
	if blocks < int64(r.Nodes.Hybrid) {
		add(field, "use a longer prefix or a larger pod CIDR",
			"/%d gives %d blocks in %s, fewer than the %d hybrid nodes", bs, blocks, pod, r.Nodes.Hybrid)
	}
}

func checkASN(field string, asn int64, add func(field, fix, format string, args ...any)) {
	const fix = "use a private ASN, 64512-65534 or 4200000000-4294967294"
	switch {
	case asn < 0 || asn > 4294967295:
		add(field, fix, "%d is out of range (1-4294967294)", asn)
	default:
		if why, ok := reservedASNs[asn]; ok {
			add(field, fix, "%d is %s", asn, why)
		}
	}
}

func usableHosts(p netip.Prefix) int64 {
	n := new(big.Int).Lsh(big.NewInt(1), uint(32-p.Bits())).Int64()
	if n <= 2 {
		return 0
	}
	return n - 2
}

func lastAddr(p netip.Prefix) netip.Addr {
	a := p.Masked().Addr().As4()
	host := uint32(1)<<(32-p.Bits()) - 1
	v := uint32(a[0])<<24 | uint32(a[1])<<16 | uint32(a[2])<<8 | uint32(a[3])
	v |= host
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
}

// lastHost is the last usable address of a CIDR (the default router address).
func lastHost(cidr string) (netip.Addr, error) {
	p, err := netip.ParsePrefix(cidr)
	if err != nil || !p.Addr().Is4() || p.Bits() > 30 {
		return netip.Addr{}, fmt.Errorf("no host address in %q", cidr)
	}
	return lastAddr(p.Masked()).Prev(), nil
}

// ServiceTestRange holds the LoadBalancer pool and external IPs the BGP
// checks give services (cni.LoadBalancerPoolCIDR, cni.ExternalIPCIDR):
// RFC 2544's benchmarking range, never a real network's.
var ServiceTestRange = netip.MustParsePrefix("198.18.0.0/23")

// overlapFix is the fix for two overlapping ranges, naming the pair.
func overlapFix(a, b string) string {
	switch {
	case a == "network.podCIDR" && b == "network.nodeCIDR":
		return "choose a pod CIDR outside the on-prem node CIDR (--pod-cidr); the guide requires them apart"
	case a == "network.podCIDR" && b == "network.serviceCIDR":
		return "choose a service CIDR outside the pod CIDR (--service-cidr or --pod-cidr)"
	case b == "network.serviceCIDR":
		return "choose a service CIDR outside the on-prem node CIDR (--service-cidr); service addresses must not be routed to the nodes"
	}
	return "choose non-overlapping ranges"
}
