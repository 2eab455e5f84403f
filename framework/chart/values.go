package chart

import (
	"fmt"

	"helm.sh/helm/v3/pkg/cli/values"
	"helm.sh/helm/v3/pkg/getter"

	"github.com/hybridcni/hybridcni/framework/config"
)

// MergeValuesFiles merges Helm values files over base, in order, the way
// `helm install -f base -f file1 -f file2` does: maps merge key by key, any
// other value (lists included) replaces. A file that cannot be read or parsed
// is a *config.Error naming cni.valuesFiles[i]. base is not changed.
func MergeValuesFiles(base map[string]any, files []string) (map[string]any, error) {
	out := mergeMaps(nil, base)
	for i, f := range files {
		opts := values.Options{ValueFiles: []string{f}}
		m, err := opts.MergeValues(getter.Providers{})
		if err != nil {
			return nil, config.Invalid(fmt.Sprintf("cni.valuesFiles[%d]", i), err.Error(),
				"point it at a readable YAML file of Helm values")
		}
		out = mergeMaps(out, m)
	}
	return out, nil
}

// mergeMaps is Helm's -f merge: b over a, recursing into maps, copying a's maps.
func mergeMaps(a, b map[string]any) map[string]any {
	out := make(map[string]any, len(a)+len(b))
	for k, v := range a {
		if m, ok := v.(map[string]any); ok {
			v = mergeMaps(nil, m)
		}
		out[k] = v
	}
	for k, v := range b {
		if bm, ok := v.(map[string]any); ok {
			if am, ok := out[k].(map[string]any); ok {
				out[k] = mergeMaps(am, bm)
				continue
			}
			v = mergeMaps(nil, bm)
		}
		out[k] = v
	}
	return out
}
