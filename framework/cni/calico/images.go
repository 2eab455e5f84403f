package calico

import (
	"strings"

	"github.com/Masterminds/semver/v3"
)

// components are the images the tigera operator deploys itself: they are
// in the operator binary, not in the chart's manifests. The operator pulls
// Calico's open-source images from docker.io by default.
var components = []string{"node", "cni", "kube-controllers", "typha", "apiserver", "csi", "node-driver-registrar", "pod2daemon-flexvol"}

// components330 are added by Calico 3.30 (Goldmane, Whisker).
var components330 = []string{"goldmane", "whisker", "whisker-backend"}

// ExtraImages implements cni.ImageLister: the Calico images the operator
// of a version deploys.
func (*Profile) ExtraImages(version string) []string {
	v := "v" + strings.TrimPrefix(version, "v")
	names := components
	if sv, err := semver.NewVersion(v); err == nil && !sv.LessThan(semver.MustParse("3.30.0")) {
		names = append(append([]string(nil), names...), components330...)
	}
	out := make([]string, len(names))
	for i, n := range names {
		out[i] = "docker.io/calico/" + n + ":" + v
	}
	return out
}
