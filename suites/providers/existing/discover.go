package existing

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/hybridcni/hybridcni/framework/chart"
	"github.com/hybridcni/hybridcni/framework/cni"
	"github.com/hybridcni/hybridcni/suites"
)

// Discovery is what a cluster says of itself: its nodes, the CNI release
// installed and the network modes it runs with.
type Discovery struct {
	Hybrid, Cloud []suites.Node
	// CNI is the CNI whose release was found, Release that release.
	CNI     string
	Release *chart.Release
	// PodCIDR and BlockSize as the CNI's IPAM reader gives them ("" and 0:
	// the reader could not tell).
	PodCIDR   string
	BlockSize int
	// Settings are the release's masquerading and BGP (SettingsKnown
	// false: the CNI has no settings reader).
	Settings      cni.Settings
	SettingsKnown bool
}

// Version is the chart version the release runs.
func (d *Discovery) Version() string { return d.Release.ChartVersion }

// Nodes lists the cluster's nodes, hybrid (cni.HybridLabel) and cloud, in
// name order, each with its InternalIP.
func Nodes(ctx context.Context, kube kubernetes.Interface) (hybrid, cloud []suites.Node, err error) {
	list, err := kube.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, nil, fmt.Errorf("list nodes: %w", err)
	}
	for _, n := range list.Items {
		sn := suites.Node{Name: n.Name, Hybrid: n.Labels[cni.HybridLabel] == cni.HybridValue}
		for _, a := range n.Status.Addresses {
			if a.Type == corev1.NodeInternalIP && sn.Address == "" {
				sn.Address = a.Address
			}
		}
		if sn.Hybrid {
			hybrid = append(hybrid, sn)
		} else if !controlPlane(&n) {
			cloud = append(cloud, sn)
		}
	}
	byName := func(a, b suites.Node) int { return strings.Compare(a.Name, b.Name) }
	slices.SortFunc(hybrid, byName)
	slices.SortFunc(cloud, byName)
	return hybrid, cloud, nil
}

// controlPlane: a node of the control plane (kind's, or a self-managed
// one); EKS has none in the cluster.
func controlPlane(n *corev1.Node) bool {
	_, ok := n.Labels["node-role.kubernetes.io/control-plane"]
	return ok
}

// Discover reads the cluster: nodes, the one CNI release of a known CNI,
// its IPAM state and modes. No hybrid node, or no release (or two), is an
// error that says what was looked for.
func Discover(ctx context.Context, rc *rest.Config) (*Discovery, error) {
	c, err := cni.NewCluster(rc)
	if err != nil {
		return nil, err
	}
	d := &Discovery{}
	if d.Hybrid, d.Cloud, err = Nodes(ctx, c.Kube); err != nil {
		return nil, err
	}
	if len(d.Hybrid) == 0 {
		return nil, fmt.Errorf("no node carries %s=%s: the checks need hybrid nodes (fix: label the hybrid nodes, as EKS does)", cni.HybridLabel, cni.HybridValue)
	}
	var found []string
	var looked []string
	for _, name := range cni.Names() {
		p, err := cni.Lookup(name)
		if err != nil {
			return nil, err
		}
		looked = append(looked, p.Namespace()+"/"+p.ReleaseName())
		ok, err := c.Helm.Exists(ctx, p.ReleaseName(), p.Namespace())
		if err != nil {
			return nil, fmt.Errorf("read helm release %s/%s: %w", p.Namespace(), p.ReleaseName(), err)
		}
		if !ok {
			continue
		}
		rel, err := c.Helm.Get(ctx, p.ReleaseName(), p.Namespace())
		if err != nil {
			return nil, fmt.Errorf("read helm release %s/%s: %w", p.Namespace(), p.ReleaseName(), err)
		}
		if rel.Chart != p.ChartName() {
			continue // a release of that name from another chart
		}
		found = append(found, name)
		d.CNI, d.Release = name, rel
	}
	switch {
	case len(found) == 0:
		return nil, fmt.Errorf("no CNI release in the cluster (looked for helm releases %s) (fix: install one with `hybridcni cni install`, or run the whole lifecycle with --lifecycle full)",
			strings.Join(looked, ", "))
	case len(found) > 1:
		return nil, fmt.Errorf("releases of %s are all installed; the checks judge one CNI (fix: uninstall all but one)", strings.Join(found, " and "))
	}
	p, _ := cni.Lookup(d.CNI)
	if ipam, err := cni.ReadIPAM(ctx, p, c); err == nil {
		for _, cidr := range ipam.PodCIDRs {
			if cidr != "" {
				d.PodCIDR = cidr
				break
			}
		}
		d.BlockSize = ipam.BlockSize
		if d.BlockSize == 0 {
			d.BlockSize = commonBits(ipam.Blocks)
		}
	}
	if r, ok := p.(cni.SettingsReader); ok {
		d.Settings, d.SettingsKnown = r.ReadSettings(d.Release.Values), true
	}
	return d, nil
}

// commonBits is the prefix length every node block shares (0: none, or
// they differ).
func commonBits(blocks map[string][]string) int {
	bits := 0
	for _, cidrs := range blocks {
		for _, b := range cidrs {
			p, err := netip.ParsePrefix(b)
			if err != nil || !p.Addr().Is4() || (bits != 0 && p.Bits() != bits) {
				return 0
			}
			bits = p.Bits()
		}
	}
	return bits
}
