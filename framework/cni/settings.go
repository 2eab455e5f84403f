package cni

// Settings are the network modes a CNI's release runs with, as its Helm
// values (and the chart's defaults where a value is absent) say.
type Settings struct {
	Masquerade bool
	BGP        bool
}

// SettingsReader is implemented by profiles that read their release's
// modes from the values it was installed with (the existing provider
// derives the run from them).
type SettingsReader interface {
	ReadSettings(values map[string]any) Settings
}

// Value walks nested maps of Helm values along path; ok is false where a
// key is absent.
func Value(values map[string]any, path ...string) (any, bool) {
	var cur any = values
	for _, k := range path {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil, false
		}
		if cur, ok = m[k]; !ok {
			return nil, false
		}
	}
	return cur, true
}

// BoolValue is Value as a bool, def when absent or not a bool.
func BoolValue(values map[string]any, def bool, path ...string) bool {
	v, ok := Value(values, path...)
	if b, isBool := v.(bool); ok && isBool {
		return b
	}
	return def
}
