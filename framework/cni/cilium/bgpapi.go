package cilium

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/Masterminds/semver/v3"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/e2e-framework/klient/wait"

	"github.com/hybridcni/hybridcni/framework/cni"
	"github.com/hybridcni/hybridcni/framework/config"
	"github.com/hybridcni/hybridcni/framework/plan"
)

// The BGP kinds of cilium.io: the BGP v2 control plane's (the profile
// writes the first three, the agent and operator the node configs) and
// BGP v1's CiliumBGPPeeringPolicy.
const (
	KindClusterConfig      = "CiliumBGPClusterConfig"
	KindPeerConfig         = "CiliumBGPPeerConfig"
	KindAdvertisement      = "CiliumBGPAdvertisement"
	KindNodeConfig         = "CiliumBGPNodeConfig"
	KindNodeConfigOverride = "CiliumBGPNodeConfigOverride"
	KindPeeringPolicy      = "CiliumBGPPeeringPolicy"
)

// AllBGPKinds are every BGP kind, in the order findings name them.
var AllBGPKinds = []string{KindClusterConfig, KindPeerConfig, KindAdvertisement, KindNodeConfig, KindNodeConfigOverride, KindPeeringPolicy}

// BGPServed is how one Cilium minor serves one BGP kind.
type BGPServed struct {
	// Versions are the served API versions of cilium.io, the stored one first.
	Versions []string
	// Deprecated are the served versions the CRD marks deprecated.
	Deprecated []string
}

// Storage is the version objects of the kind are stored in.
func (s BGPServed) Storage() string {
	if len(s.Versions) == 0 {
		return ""
	}
	return s.Versions[0]
}

// BGPAPI is what one Cilium minor's own CRDs serve of the BGP kinds (a kind
// absent from Kinds is not served).
type BGPAPI struct {
	Minor string
	Kinds map[string]BGPServed
}

var (
	alphaOnly       = BGPServed{Versions: []string{"v2alpha1"}}
	alphaDeprecated = BGPServed{Versions: []string{"v2alpha1"}, Deprecated: []string{"v2alpha1"}}
	v2OverAlpha     = BGPServed{Versions: []string{"v2", "v2alpha1"}, Deprecated: []string{"v2alpha1"}}
)

func bgpRow(minor string, v2 BGPServed, peeringPolicy *BGPServed) BGPAPI {
	k := map[string]BGPServed{}
	for _, kind := range AllBGPKinds[:5] {
		k[kind] = v2
	}
	if peeringPolicy != nil {
		k[KindPeeringPolicy] = *peeringPolicy
	}
	return BGPAPI{Minor: minor, Kinds: k}
}

// BGPAPIs is the BGP API of every Cilium minor the harness knows, read from
// each module's CRDs (pkg/k8s/apis/cilium.io/client/crds/{v2,v2alpha1}; the
// operator registers them, the chart does not carry them) and checked
// against them by TestBGPAPIsMatchTheModulesCRDs:
//
//	1.16, 1.17  every kind v2alpha1 only
//	1.18        BGP v2 kinds as v2 (stored) and v2alpha1 (deprecated);
//	            CiliumBGPPeeringPolicy v2alpha1, deprecated
//	1.19, 1.20  as 1.18, without CiliumBGPPeeringPolicy (BGP v1 is gone)
var BGPAPIs = []BGPAPI{
	bgpRow("1.16", alphaOnly, &alphaOnly),
	bgpRow("1.17", alphaOnly, &alphaOnly),
	bgpRow("1.18", v2OverAlpha, &alphaDeprecated),
	bgpRow("1.19", v2OverAlpha, nil),
	bgpRow("1.20", v2OverAlpha, nil),
}

// BGPAPIOf is the BGP API of Cilium version (a version or a minor). A
// minor newer than the table gets the newest row with exact false, as does
// one older than it (the oldest row); an unparsable version gets ok false.
func BGPAPIOf(version string) (api BGPAPI, exact, ok bool) {
	v, err := semver.NewVersion(version)
	if err != nil {
		return BGPAPI{}, false, false
	}
	minor := fmt.Sprintf("%d.%d", v.Major(), v.Minor())
	for _, r := range BGPAPIs {
		if r.Minor == minor {
			return r, true, true
		}
	}
	first := semver.MustParse(BGPAPIs[0].Minor)
	if v.LessThan(first) {
		return BGPAPIs[0], false, true
	}
	return BGPAPIs[len(BGPAPIs)-1], false, true
}

// BGPAPIVersionFor is the API version the profile writes its BGP resources
// in on Cilium version: the version the CRDs store (cilium.io/v2 from 1.18,
// cilium.io/v2alpha1 before, as in the guide).
func BGPAPIVersionFor(version string) string {
	api, _, ok := BGPAPIOf(version)
	if !ok {
		return DefaultBGPAPIVersion
	}
	return BGPGroup + "/" + api.Kinds[KindClusterConfig].Storage()
}

// UpgradeFindings are what a user must know before the hop from Cilium
// from to Cilium to about the BGP API: a kind or version the target stops
// serving (objects of it stop taking effect), the stored version moving
// (the harness re-applies its BGP resources in it after the hop), and
// versions the target newly deprecates. Empty when nothing changes.
func UpgradeFindings(from, to string) []string {
	a, aExact, okA := BGPAPIOf(from)
	b, bExact, okB := BGPAPIOf(to)
	if !okA || !okB {
		return nil
	}
	var out []string
	if !aExact || !bExact {
		out = append(out, fmt.Sprintf("BGP API of Cilium %s -> %s assumed from the table for %s -> %s (framework/cni/cilium BGPAPIs); check the CRDs of the target", from, to, a.Minor, b.Minor))
	}
	// Kinds or versions no longer served.
	for _, kind := range AllBGPKinds {
		sa, inA := a.Kinds[kind]
		if !inA {
			continue
		}
		sb, inB := b.Kinds[kind]
		var gone []string
		for _, v := range sa.Versions {
			if !inB || !slices.Contains(sb.Versions, v) {
				gone = append(gone, BGPGroup+"/"+v)
			}
		}
		if len(gone) == 0 {
			continue
		}
		switch {
		case !inB && kind == KindPeeringPolicy:
			out = append(out, fmt.Sprintf("%s (BGP v1, %s) is not served by Cilium %s: its operator no longer registers the CRD and the agent ignores these objects, so their sessions and advertisements end at the hop; move them to %s, %s and %s before upgrading",
				kind, strings.Join(gone, ", "), to, KindClusterConfig, KindPeerConfig, KindAdvertisement))
		case !inB:
			out = append(out, fmt.Sprintf("%s (%s) is not served by Cilium %s: objects of it stop taking effect at the hop", kind, strings.Join(gone, ", "), to))
		case slices.Contains(BGPKinds, kind):
			out = append(out, fmt.Sprintf("%s %s is not served by Cilium %s: the harness re-applies its %s as %s/%s after the hop; convert objects of yours before upgrading",
				kind, strings.Join(gone, ", "), to, kind, BGPGroup, sb.Storage()))
		default:
			out = append(out, fmt.Sprintf("%s %s is not served by Cilium %s (served: %s)", kind, strings.Join(gone, ", "), to, strings.Join(sb.Versions, ", ")))
		}
	}
	// The stored version of the profile's kinds moves.
	if va, vb := BGPAPIVersionFor(from), BGPAPIVersionFor(to); va != vb {
		out = append(out, fmt.Sprintf("%s, %s and %s are stored as %s from Cilium %s (%s until %s): %s as %s after the hop",
			KindClusterConfig, KindPeerConfig, KindAdvertisement, vb, b.Minor, va, a.Minor, reapplyNote, vb))
	}
	// Versions the target newly deprecates (still served).
	var deprecated []string
	for _, kind := range AllBGPKinds {
		sa, sb := a.Kinds[kind], b.Kinds[kind]
		for _, v := range sb.Deprecated {
			if slices.Contains(sa.Versions, v) && !slices.Contains(sa.Deprecated, v) {
				deprecated = append(deprecated, kind+" "+BGPGroup+"/"+v)
			}
		}
	}
	if len(deprecated) > 0 {
		out = append(out, fmt.Sprintf("deprecated in Cilium %s (still served): %s", b.Minor, strings.Join(deprecated, ", ")))
	}
	return out
}

// UpgradeFindings implements plan.UpgradeFinder: the package function's
// findings, without the line about re-applying the harness's own BGP
// resources when the run has BGP off (they are not applied then).
func (*Profile) UpgradeFindings(run config.Run, from, to string) []string {
	all := UpgradeFindings(from, to)
	if run.BGP.Enabled {
		return all
	}
	var out []string
	for _, f := range all {
		if !strings.Contains(f, reapplyNote) {
			out = append(out, f)
		}
	}
	return out
}

const reapplyNote = "the harness re-applies its BGP resources"

// HopFindings are UpgradeFindings for the hop from -> to, plus the objects
// the cluster holds now of a kind or version the target will not serve,
// by name: the finding a user with their own BGP objects needs before the hop.
func (d *Driver) HopFindings(ctx context.Context, from, to string) ([]string, error) {
	out := UpgradeFindings(from, to)
	b, _, ok := BGPAPIOf(to)
	if !ok {
		return out, nil
	}
	m, err := d.Cluster.Mapper()
	if err != nil {
		return out, err
	}
	for _, kind := range AllBGPKinds {
		served := b.Kinds[kind].Versions
		v, ok, err := cni.ServedVersion(d.Cluster.Discovery, BGPGroup, kind)
		if err != nil {
			return out, err
		}
		if !ok || slices.Contains(served, v) {
			continue
		}
		probe := &unstructured.Unstructured{}
		probe.SetAPIVersion(BGPGroup + "/" + v)
		probe.SetKind(kind)
		ri, err := d.Cluster.ResourceFor(m, probe)
		if err != nil {
			return out, err
		}
		list, err := ri.List(ctx, metav1.ListOptions{})
		if apierrors.IsNotFound(err) {
			continue
		}
		if err != nil {
			return out, fmt.Errorf("list %s: %w", kind, err)
		}
		var names []string
		for _, o := range list.Items {
			names = append(names, o.GetName())
		}
		if len(names) > 0 {
			out = append(out, fmt.Sprintf("the cluster holds %s %s (%s/%s), which Cilium %s does not serve", kind, strings.Join(names, ", "), BGPGroup, v, to))
		}
	}
	return out, nil
}

// ReapplyBGP re-applies the profile's BGP resources after a hop to Cilium
// to, in the version that release stores (BGPAPIVersionFor), once the new
// operator serves it for every kind the profile writes. A hop that keeps the
// stored version (from's) changes nothing and applies nothing.
func (d *Driver) ReapplyBGP(ctx context.Context, run config.Run, from, to string) ([]*unstructured.Unstructured, error) {
	want := BGPAPIVersionFor(to)
	if from != "" && BGPAPIVersionFor(from) == want {
		return nil, nil
	}
	sw := cni.StartStopwatch()
	var last string
	cond := func(ctx context.Context) (bool, error) {
		res, err := d.Cluster.Discovery.ServerResourcesForGroupVersion(want)
		if err != nil {
			last = err.Error()
			return false, nil
		}
		for _, k := range BGPKinds {
			if !slices.ContainsFunc(res.APIResources, func(r metav1.APIResource) bool { return r.Kind == k }) {
				last = k + " not served as " + want
				return false, nil
			}
		}
		return true, nil
	}
	err := sw.Wait(func() error {
		wctx, cancel := context.WithTimeout(ctx, d.Options.WaitTimeout())
		defer cancel()
		return wait.For(cond, wait.WithContext(wctx), wait.WithInterval(200*time.Millisecond), wait.WithImmediate())
	})
	if err != nil {
		return nil, fmt.Errorf("after the hop to Cilium %s the cluster does not serve the BGP resources as %s (%s) after %s: its cilium-operator registers the CRDs at start-up; check that it runs", to, want, last, d.Options.WaitTimeout())
	}
	objs := New(WithBGPAPIVersion(want)).BGPResources(run)
	d.Logf("re-applying %d BGP resources as %s after the hop %s -> %s", len(objs), want, from, to)
	d.ForgetReady() // the agents take the new resources: the next wait watches a whole window
	out, err := d.Cluster.Apply(ctx, objs)
	d.Options.Recorded("bgp re-apply "+to, sw.Timings())
	return out, err
}

var _ plan.UpgradeFinder = (*Profile)(nil)
