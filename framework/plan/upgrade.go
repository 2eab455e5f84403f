// Package plan lays out the ordered steps of a qualification run (topology,
// install, checks, upgrade hops, rollback point, delete, cleanup) and the
// upgrade path between two CNI versions.
package plan

import (
	"fmt"

	"github.com/Masterminds/semver/v3"

	"github.com/hybridcni/hybridcni/framework/config"
	"github.com/hybridcni/hybridcni/framework/versions"
)

// Fields of the run the upgrade path reports on.
const (
	fieldFrom = "cni.version"
	fieldTo   = "cni.upgradeTo"
)

// UpgradePath returns the versions to upgrade through, in order, from the
// installed version to the target (included), using only versions the chart
// source has: first the newest patch of the installed minor, then the newest
// patch of each following minor, one minor at a time, then the target.
// Impossible paths (target missing or not newer, a major version change, a
// minor with no published version in between) are *config.Error naming the field.
func UpgradePath(from, to string, available []string) ([]string, error) {
	f, err := semver.NewVersion(from)
	if err != nil {
		return nil, config.Invalid(fieldFrom, fmt.Sprintf("%q is not a version", from), "write a version such as 1.16.19")
	}
	t, err := semver.NewVersion(to)
	if err != nil {
		return nil, config.Invalid(fieldTo, fmt.Sprintf("%q is not a version", to), "write a version such as 1.17.18")
	}
	if !t.GreaterThan(f) {
		return nil, config.Invalid(fieldTo, fmt.Sprintf("%s is not newer than cni.version %s", to, from),
			"pick a version newer than cni.version, or drop upgradeTo")
	}
	target, ok := versions.Find(available, to)
	if !ok {
		near := versions.Nearest(available, to, 4)
		return nil, config.Invalid(fieldTo, fmt.Sprintf("%s is not in the chart source (nearest: %v)", to, near),
			"pick an upgrade target the chart source has")
	}
	if t.Major() != f.Major() {
		return nil, config.Invalid(fieldTo, fmt.Sprintf("%s changes the major version of %s", to, from),
			"upgrade within one major version")
	}

	var hops []string
	add := func(v string) {
		if len(hops) == 0 || hops[len(hops)-1] != v {
			hops = append(hops, v)
		}
	}
	if t.Minor() > f.Minor() {
		// Newest patch of the installed minor first, when newer than what runs.
		if v, ok := versions.NewestPatch(available, f.Major(), f.Minor()); ok && semver.MustParse(v).GreaterThan(f) {
			add(v)
		}
		for m := f.Minor() + 1; m < t.Minor(); m++ {
			v, ok := versions.NewestPatch(available, f.Major(), m)
			if !ok {
				return nil, config.Invalid(fieldTo,
					fmt.Sprintf("no %d.%d.x release in the chart source to step through from %s to %s", f.Major(), m, from, to),
					"upgrades go one minor at a time: use a chart source that has every minor in between, or a closer target")
			}
			add(v)
		}
	}
	add(target)
	return hops, nil
}
