package cilium

import (
	"fmt"

	"github.com/Masterminds/semver/v3"
)

// KubernetesRange is the span of Kubernetes minors a Cilium minor's own
// documentation lists as e2e tested (Documentation/network/kubernetes/
// requirements.rst): "Older Kubernetes versions not listed here do not have
// Cilium support. Newer Kubernetes versions, while not listed, will depend
// on the backward compatibility offered by Kubernetes."
type KubernetesRange struct{ Oldest, Newest string }

// KubernetesTested is that range per Cilium minor, read from each module
// (TestKubernetesTestedMatchesTheModulesDocs checks it). It decides which
// Cilium x Kubernetes pairs a matrix runs: see KubernetesSupport.
var KubernetesTested = map[string]KubernetesRange{
	"1.16": {"1.27", "1.30"},
	"1.17": {"1.29", "1.32"},
	"1.18": {"1.30", "1.33"},
	"1.19": {"1.31", "1.34"},
	"1.20": {"1.33", "1.36"},
}

// Support of a Kubernetes version by a Cilium version.
type Support int

const (
	// SupportUnknown: the Cilium minor is not in KubernetesTested.
	SupportUnknown Support = iota
	// Tested: the Kubernetes minor is in Cilium's tested range.
	Tested
	// Newer: past the range; runs on Kubernetes' backward compatibility.
	Newer
	// Unsupported: older than the range; Cilium does not support it.
	Unsupported
)

func (s Support) String() string {
	return [...]string{"unknown", "tested", "newer than tested", "unsupported"}[s]
}

// KubernetesSupport says how Cilium version supports Kubernetes version
// (each "X.Y" or "X.Y.Z", with or without a leading v), and why, in one line.
// A matrix runs Tested and Newer pairs and never an Unsupported one.
func KubernetesSupport(ciliumVersion, kubernetesVersion string) (Support, string) {
	c, err := semver.NewVersion(ciliumVersion)
	if err != nil {
		return SupportUnknown, fmt.Sprintf("Cilium version %q: %v", ciliumVersion, err)
	}
	k, err := semver.NewVersion(kubernetesVersion)
	if err != nil {
		return SupportUnknown, fmt.Sprintf("Kubernetes version %q: %v", kubernetesVersion, err)
	}
	minor := fmt.Sprintf("%d.%d", c.Major(), c.Minor())
	r, ok := KubernetesTested[minor]
	if !ok {
		return SupportUnknown, fmt.Sprintf("Cilium %s: no Kubernetes range declared (framework/cni/cilium KubernetesTested)", minor)
	}
	kMinor := semver.MustParse(fmt.Sprintf("%d.%d", k.Major(), k.Minor()))
	switch {
	case kMinor.LessThan(semver.MustParse(r.Oldest)):
		return Unsupported, fmt.Sprintf("Cilium %s supports Kubernetes %s to %s; %d.%d is older", minor, r.Oldest, r.Newest, k.Major(), k.Minor())
	case kMinor.GreaterThan(semver.MustParse(r.Newest)):
		return Newer, fmt.Sprintf("Cilium %s is tested on Kubernetes %s to %s; %d.%d is newer (Kubernetes' backward compatibility)", minor, r.Oldest, r.Newest, k.Major(), k.Minor())
	}
	return Tested, fmt.Sprintf("Cilium %s is tested on Kubernetes %s to %s", minor, r.Oldest, r.Newest)
}

// RunsOnKubernetes says whether a matrix runs Cilium ciliumVersion on
// Kubernetes kubernetesVersion, and why, in one line: Tested and Newer pairs
// run, an Unsupported one does not, and a minor with no declared range runs
// with the reason saying so (KubernetesTested is the declaration).
func (*Profile) RunsOnKubernetes(ciliumVersion, kubernetesVersion string) (bool, string) {
	s, why := KubernetesSupport(ciliumVersion, kubernetesVersion)
	return s != Unsupported, why
}
