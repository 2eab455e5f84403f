// Package versions matches CNI chart versions the way a user writes them:
// "3.29.7" and "v3.29.7" are the same version, and when a version is missing
// the nearest published ones are what the user wants to hear about.
package versions

import (
	"sort"

	"github.com/Masterminds/semver/v3"
)

// Version is one published chart version, as written in the chart source.
type Version struct {
	// Raw is the version exactly as the source spells it (e.g. v3.29.7).
	Raw string
	*semver.Version
}

// Parse returns the versions of list that are valid semantic versions, in
// ascending order. Unparsable entries are skipped.
func Parse(list []string) []Version {
	out := make([]Version, 0, len(list))
	seen := map[string]bool{}
	for _, s := range list {
		v, err := semver.NewVersion(s)
		if err != nil || seen[s] {
			continue
		}
		seen[s] = true
		out = append(out, Version{Raw: s, Version: v})
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].LessThan(out[j].Version) })
	return out
}

// Sorted returns the valid versions of list in ascending order, spelled as in list.
func Sorted(list []string) []string {
	vs := Parse(list)
	out := make([]string, len(vs))
	for i, v := range vs {
		out[i] = v.Raw
	}
	return out
}

// Find returns the entry of list equal to want, ignoring a leading "v" and
// build metadata.
func Find(list []string, want string) (string, bool) {
	w, err := semver.NewVersion(want)
	if err != nil {
		return "", false
	}
	for _, v := range Parse(list) {
		if v.Equal(w) {
			return v.Raw, true
		}
	}
	return "", false
}

// Nearest returns up to n entries of list closest to want in version order
// (the neighbours on either side of where want would sit), ascending.
func Nearest(list []string, want string, n int) []string {
	vs := Parse(list)
	if n <= 0 || len(vs) == 0 {
		return nil
	}
	w, err := semver.NewVersion(want)
	if err != nil {
		// Not a version: the newest ones are the most useful hint.
		return rawOf(vs[max(0, len(vs)-n):])
	}
	at := sort.Search(len(vs), func(i int) bool { return !vs[i].LessThan(w) })
	// Rank by: same minor as want first, then by distance from where want would sit.
	idx := make([]int, len(vs))
	for i := range idx {
		idx[i] = i
	}
	rank := func(i int) (int, int) {
		other := 1
		if sameMinor(vs[i].Version, w) {
			other = 0
		}
		if i < at {
			return other, at - i
		}
		return other, i - at + 1
	}
	sort.SliceStable(idx, func(a, b int) bool {
		oa, da := rank(idx[a])
		ob, db := rank(idx[b])
		if oa != ob {
			return oa < ob
		}
		return da < db
	})
	idx = idx[:min(n, len(idx))]
	sort.Ints(idx)
	out := make([]string, len(idx))
	for i, j := range idx {
		out[i] = vs[j].Raw
	}
	return out
}

// NewestPatch returns the newest stable (non-prerelease) entry of list with the
// given major and minor.
func NewestPatch(list []string, major, minor uint64) (string, bool) {
	vs := Parse(list)
	for i := len(vs) - 1; i >= 0; i-- {
		v := vs[i]
		if v.Major() == major && v.Minor() == minor && v.Prerelease() == "" {
			return v.Raw, true
		}
	}
	return "", false
}

func sameMinor(a, b *semver.Version) bool { return a.Major() == b.Major() && a.Minor() == b.Minor() }

func rawOf(vs []Version) []string {
	out := make([]string, len(vs))
	for i, v := range vs {
		out[i] = v.Raw
	}
	return out
}
