// Command needs prints the Cilium versions a matrix needs built offline:
// reading `hybridcni matrix --list -o json` on stdin, each Cilium entry's
// version, its upgrade target, and every version given as an argument (the
// versions hack/cilium-image.sh builds) between them, as the hops of the
// upgrade path go through them. Sorted, space-separated, each once:
//
//	hybridcni matrix -f fixtures/matrix/offline.yaml --list -o json |
//	  go run ./hack/cilium/needs 1.16.19 1.17.0 1.18.0 1.19.6 1.20.2
//
// The Makefile's e2e-offline-matrix builds only these (make cilium-images).
package main

import (
	"encoding/json"
	"fmt"
	"os"
	"sort"
	"strings"

	"github.com/Masterminds/semver/v3"
)

type entry struct {
	CNI       string `json:"cni"`
	Version   string `json:"version"`
	UpgradeTo string `json:"upgradeTo"`
}

func main() {
	var entries []entry
	if err := json.NewDecoder(os.Stdin).Decode(&entries); err != nil {
		fmt.Fprintln(os.Stderr, "needs: stdin is not `hybridcni matrix --list -o json`:", err)
		os.Exit(2)
	}
	out, err := needs(entries, os.Args[1:])
	if err != nil {
		fmt.Fprintln(os.Stderr, "needs:", err)
		os.Exit(2)
	}
	fmt.Println(strings.Join(out, " "))
}

func needs(entries []entry, built []string) ([]string, error) {
	set := map[string]*semver.Version{}
	add := func(v string) error {
		sv, err := semver.NewVersion(v)
		if err != nil {
			return fmt.Errorf("cilium version %q: %w", v, err)
		}
		set[strings.TrimPrefix(v, "v")] = sv
		return nil
	}
	for _, e := range entries {
		if e.CNI != "cilium" {
			continue
		}
		to := e.UpgradeTo
		if to == "" {
			to = e.Version
		}
		if err := add(e.Version); err != nil {
			return nil, err
		}
		if err := add(to); err != nil {
			return nil, err
		}
		lo, hi := set[strings.TrimPrefix(e.Version, "v")], set[strings.TrimPrefix(to, "v")]
		for _, b := range built {
			sv, err := semver.NewVersion(b)
			if err != nil {
				return nil, fmt.Errorf("built version %q: %w", b, err)
			}
			if !sv.LessThan(lo) && !sv.GreaterThan(hi) {
				set[strings.TrimPrefix(b, "v")] = sv
			}
		}
	}
	out := make([]string, 0, len(set))
	for v := range set {
		out = append(out, v)
	}
	sort.Slice(out, func(i, j int) bool { return set[out[i]].LessThan(set[out[j]]) })
	return out, nil
}
