package config

import (
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strings"
)

// Matrix expands into runs: each entry is merged over base (maps merge
// key by key, anything else replaces).
//
// Kubernetes is the matrix's Kubernetes axis: every entry that does not set
// kubernetes.version itself runs once on each of these versions. The first
// keeps the entry's name; the others add "-k<major><minor>" to a derived
// name (cilium-1-18-0-bgp-nomasq-k133 is the same entry on Kubernetes
// 1.33). Which CNI version x Kubernetes pairs then run is the CNI's own
// declaration, not the file's (hybridcni matrix drops the pairs a CNI
// declares unsupported, saying why).
type Matrix struct {
	APIVersion string           `json:"apiVersion,omitempty"`
	Kind       string           `json:"kind,omitempty"`
	Name       string           `json:"name,omitempty"`
	Base       map[string]any   `json:"base,omitempty"`
	Kubernetes []string         `json:"kubernetes,omitempty"`
	Entries    []map[string]any `json:"entries"`
}

// axisEntries are the entries with the Kubernetes axis expanded, each with
// the index of the entry it came from.
func (m Matrix) axisEntries() (entries []map[string]any, from []int) {
	for i, e := range m.Entries {
		if len(m.Kubernetes) == 0 || entrySetsKubernetes(e) {
			entries, from = append(entries, e), append(from, i)
			continue
		}
		for j, v := range m.Kubernetes {
			c := mergeMaps(e, map[string]any{"kubernetes": map[string]any{"version": v}})
			if j > 0 {
				c[axisSuffixKey] = kubernetesSuffix(v)
			}
			entries, from = append(entries, c), append(from, i)
		}
	}
	return entries, from
}

// axisSuffixKey carries an axis copy's name suffix from the expansion to
// ParseMatrix (removed before the entry is decoded).
const axisSuffixKey = "\x00kubernetes-suffix"

func entrySetsKubernetes(e map[string]any) bool {
	k, ok := e["kubernetes"].(map[string]any)
	if !ok {
		return false
	}
	_, ok = k["version"]
	return ok
}

// kubernetesSuffix is "-k133" for 1.33.13 (or v1.33).
func kubernetesSuffix(v string) string {
	parts := strings.SplitN(strings.TrimPrefix(strings.TrimSpace(v), "v"), ".", 3)
	if len(parts) < 2 {
		return "-k" + sanitizeName(v)
	}
	return "-k" + parts[0] + parts[1]
}

// ParseMatrix reads a matrix file and expands it into completed runs. Every
// entry is validated; problems name the entry (entries[i].field).
func ParseMatrix(data []byte) ([]Run, error) {
	var m Matrix
	if err := decodeStrict(data, &m); err != nil {
		return nil, &Error{Problems: []Problem{yamlProblem(err)}}
	}
	var ps []Problem
	if m.APIVersion != "" && m.APIVersion != APIVersion {
		ps = append(ps, Problem{Field: "apiVersion", Message: fmt.Sprintf("is %q, want %q", m.APIVersion, APIVersion), Fix: "set apiVersion: " + APIVersion})
	}
	if m.Kind != "Matrix" {
		ps = append(ps, Problem{Field: "kind", Message: fmt.Sprintf("is %q, want Matrix", m.Kind), Fix: "set kind: Matrix"})
	}
	if len(m.Entries) == 0 {
		ps = append(ps, Problem{Field: "entries", Message: "is empty", Fix: "list at least one entry, e.g. - cni: {name: cilium, version: 1.16.19}"})
	}
	if len(ps) > 0 {
		return nil, &Error{Problems: ps}
	}

	for i, v := range m.Kubernetes {
		if strings.TrimSpace(v) == "" {
			ps = append(ps, Problem{Field: fmt.Sprintf("kubernetes[%d]", i), Message: "is empty", Fix: "list Kubernetes versions, e.g. kubernetes: [1.37.2, 1.33.13]"})
		}
	}
	if len(ps) > 0 {
		return nil, &Error{Problems: ps}
	}

	entries, from := m.axisEntries()
	runs := make([]Run, 0, len(entries))
	seen := map[string]int{}
	for n, entry := range entries {
		i := from[n]
		field := fmt.Sprintf("entries[%d]", i)
		suffix, _ := entry[axisSuffixKey].(string)
		delete(entry, axisSuffixKey)
		merged := mergeMaps(m.Base, entry)
		doc, err := json.Marshal(merged)
		if err != nil {
			ps = append(ps, Problem{Field: field, Message: err.Error()})
			continue
		}
		r, err := Parse(doc)
		if err == nil && suffix != "" {
			if _, named := entry["name"]; named {
				r.Name += suffix
			} else {
				r.Name = r.DefaultName() + suffix
			}
			if len(r.Name) > 40 {
				r.Name = strings.TrimRight(r.Name[:40-len(suffix)], "-") + suffix
			}
		}
		if err == nil {
			err = r.Validate()
		}
		if err != nil {
			// An entry expanded over the Kubernetes axis has the same
			// problem once per version: say it once.
			for _, p := range prefixProblems(err, field) {
				if !slices.Contains(ps, p) {
					ps = append(ps, p)
				}
			}
			continue
		}
		if j, dup := seen[r.Name]; dup {
			ps = append(ps, Problem{Field: field + ".name", Message: fmt.Sprintf("%q is also the name of entries[%d]", r.Name, j),
				Fix: "give each entry a distinct name"})
			continue
		}
		seen[r.Name] = i
		runs = append(runs, r)
	}
	if len(ps) > 0 {
		return nil, &Error{Problems: ps}
	}
	return runs, nil
}

// LoadMatrix reads and expands a matrix file.
func LoadMatrix(path string) ([]Run, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, Invalid("file", err.Error(), "pass -f with the path of an existing matrix file")
	}
	runs, err := ParseMatrix(data)
	return runs, withFile(err, path)
}

func prefixProblems(err error, prefix string) []Problem {
	e, ok := err.(*Error)
	if !ok {
		return []Problem{{Field: prefix, Message: err.Error()}}
	}
	out := make([]Problem, len(e.Problems))
	for i, p := range e.Problems {
		p.Field = prefix + "." + strings.TrimPrefix(p.Field, ".")
		out[i] = p
	}
	return out
}

func mergeMaps(base, over map[string]any) map[string]any {
	out := make(map[string]any, len(base)+len(over))
	for k, v := range base {
		out[k] = v
	}
	for k, v := range over {
		if bm, ok := out[k].(map[string]any); ok {
			if om, ok := v.(map[string]any); ok {
				out[k] = mergeMaps(bm, om)
				continue
			}
		}
		out[k] = v
	}
	return out
}
