package cilium

import "github.com/hybridcni/hybridcni/framework/cni"

// ReadSettings implements cni.SettingsReader: enableIPv4Masquerade (the
// chart's default is on) and bgpControlPlane.enabled (default off).
func (*Profile) ReadSettings(values map[string]any) cni.Settings {
	return cni.Settings{
		Masquerade: cni.BoolValue(values, true, "enableIPv4Masquerade"),
		BGP:        cni.BoolValue(values, false, "bgpControlPlane", "enabled"),
	}
}
