package plan_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/hybridcni/hybridcni/framework/config"
	"github.com/hybridcni/hybridcni/framework/plan"
)

var ciliumVersions = []string{"1.15.9", "1.16.0", "1.16.18", "1.16.19", "1.17.0", "1.17.17", "1.17.18", "1.18.0-rc.1", "1.18.3", "1.19.1", "2.0.0"}

func TestUpgradePath(t *testing.T) {
	cases := []struct {
		name, from, to string
		available      []string
		want           []string
	}{
		{"same minor", "1.16.0", "1.16.18", ciliumVersions, []string{"1.16.18"}},
		{"same minor, newest", "1.16.18", "1.16.19", ciliumVersions, []string{"1.16.19"}},
		{"next minor through the newest patch", "1.16.18", "1.17.18", ciliumVersions, []string{"1.16.19", "1.17.18"}},
		{"next minor from the newest patch", "1.16.19", "1.17.0", ciliumVersions, []string{"1.17.0"}},
		{"two minors ahead", "1.16.0", "1.18.3", ciliumVersions, []string{"1.16.19", "1.17.18", "1.18.3"}},
		{"three minors ahead, prerelease skipped", "1.15.9", "1.18.3", ciliumVersions, []string{"1.16.19", "1.17.18", "1.18.3"}},
		{"explicit prerelease target", "1.17.18", "1.18.0-rc.1", ciliumVersions, []string{"1.18.0-rc.1"}},
		{"calico spelling", "3.29.6", "3.30.7", []string{"v3.29.6", "v3.29.7", "v3.30.7"}, []string{"v3.29.7", "v3.30.7"}},
	}
	for _, c := range cases {
		got, err := plan.UpgradePath(c.from, c.to, c.available)
		if err != nil || !slices.Equal(got, c.want) {
			t.Errorf("%s: plan.UpgradePath(%s, %s) = %v, %v; want %v", c.name, c.from, c.to, got, err, c.want)
		}
	}
}

func TestImpossibleUpgradePaths(t *testing.T) {
	cases := []struct {
		name, from, to string
		available      []string
		field, says    string
	}{
		{"older target", "1.17.18", "1.16.19", ciliumVersions, "cni.upgradeTo", "not newer"},
		{"same version", "1.16.19", "v1.16.19", ciliumVersions, "cni.upgradeTo", "not newer"},
		{"missing target", "1.16.19", "1.17.99", ciliumVersions, "cni.upgradeTo", "1.17.18"},
		{"major change", "1.19.1", "2.0.0", ciliumVersions, "cni.upgradeTo", "major"},
		{"gap in minors", "1.16.19", "1.18.3", []string{"1.16.19", "1.18.3"}, "cni.upgradeTo", "no 1.17.x"},
		{"garbage from", "one", "1.17.18", ciliumVersions, "cni.version", "not a version"},
		{"garbage to", "1.16.19", "latest", ciliumVersions, "cni.upgradeTo", "not a version"},
	}
	for _, c := range cases {
		hops, err := plan.UpgradePath(c.from, c.to, c.available)
		if !slices.Contains(config.Fields(err), c.field) || !strings.Contains(err.Error(), c.says) {
			t.Errorf("%s: plan.UpgradePath(%s, %s) = %v, %v; want an error on %s saying %q", c.name, c.from, c.to, hops, err, c.field, c.says)
		}
	}
}
