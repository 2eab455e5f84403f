package kuberouter

import "github.com/hybridcni/hybridcni/framework/cni"

// ReadSettings implements cni.SettingsReader from this project's chart's
// values (fixtures/charts/kube-router: masquerade and bgp.enabled default on).
func (Profile) ReadSettings(values map[string]any) cni.Settings {
	return cni.Settings{
		Masquerade: cni.BoolValue(values, true, "masquerade"),
		BGP:        cni.BoolValue(values, true, "bgp", "enabled"),
	}
}
