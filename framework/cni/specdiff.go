package cni

import (
	"fmt"
	"reflect"
	"sort"
	"strconv"
)

// SpecDiff lists where got (an object as the cluster holds it) departs from
// want (as the guide gives it), one "path: cluster has X, want Y" per field.
// Only fields want sets are compared: what the API server adds (CRD
// defaults, such as a reference's group and kind) is not a difference.
// Lists must match in length and element by element; numbers compare by
// value whatever their Go type.
func SpecDiff(path string, want, got any) []string {
	switch w := want.(type) {
	case map[string]any:
		g, ok := got.(map[string]any)
		if !ok {
			return []string{fmt.Sprintf("%s: cluster has %s, want an object", path, show(got))}
		}
		keys := make([]string, 0, len(w))
		for k := range w {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		var out []string
		for _, k := range keys {
			gv, present := g[k]
			if !present {
				out = append(out, fmt.Sprintf("%s.%s: missing in the cluster, want %s", path, k, show(w[k])))
				continue
			}
			out = append(out, SpecDiff(path+"."+k, w[k], gv)...)
		}
		return out
	case []any:
		g, ok := got.([]any)
		if !ok || len(g) != len(w) {
			return []string{fmt.Sprintf("%s: cluster has %s, want %s", path, show(got), show(want))}
		}
		var out []string
		for i := range w {
			out = append(out, SpecDiff(path+"["+strconv.Itoa(i)+"]", w[i], g[i])...)
		}
		return out
	}
	if wn, ok := number(want); ok {
		if gn, ok := number(got); ok && gn == wn {
			return nil
		}
	} else if reflect.DeepEqual(want, got) {
		return nil
	}
	return []string{fmt.Sprintf("%s: cluster has %s, want %s", path, show(got), show(want))}
}

func number(v any) (float64, bool) {
	switch n := v.(type) {
	case int:
		return float64(n), true
	case int32:
		return float64(n), true
	case int64:
		return float64(n), true
	case float64:
		return n, true
	}
	return 0, false
}

func show(v any) string {
	if v == nil {
		return "nothing"
	}
	return fmt.Sprintf("%v", v)
}
