package config

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"
)

// Matrix expands into runs: each entry is merged over base (maps merge
// key by key, anything else replaces).
type Matrix struct {
	APIVersion string           `json:"apiVersion,omitempty"`
	Kind       string           `json:"kind,omitempty"`
	Name       string           `json:"name,omitempty"`
	Base       map[string]any   `json:"base,omitempty"`
	Entries    []map[string]any `json:"entries"`
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

	runs := make([]Run, 0, len(m.Entries))
	seen := map[string]int{}
	for i, entry := range m.Entries {
		field := fmt.Sprintf("entries[%d]", i)
		merged := mergeMaps(m.Base, entry)
		doc, err := json.Marshal(merged)
		if err != nil {
			ps = append(ps, Problem{Field: field, Message: err.Error()})
			continue
		}
		r, err := Parse(doc)
		if err == nil {
			err = r.Validate()
		}
		if err != nil {
			for _, p := range prefixProblems(err, field) {
				ps = append(ps, p)
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
