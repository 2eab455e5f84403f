package calico

import "github.com/hybridcni/hybridcni/framework/cni"

// ReadSettings implements cni.SettingsReader from the Installation in the
// tigera-operator values: the first IP pool's natOutgoing and
// calicoNetwork.bgp (the operator's defaults: both Enabled).
func (*Profile) ReadSettings(values map[string]any) cni.Settings {
	s := cni.Settings{Masquerade: true, BGP: true}
	if v, ok := cni.Value(values, "installation", "calicoNetwork", "bgp"); ok {
		s.BGP = v != Enabled(false)
	}
	if pools, ok := cni.Value(values, "installation", "calicoNetwork", "ipPools"); ok {
		if l, ok := pools.([]any); ok && len(l) > 0 {
			if p, ok := l[0].(map[string]any); ok {
				if v, ok := p["natOutgoing"]; ok {
					s.Masquerade = v != Enabled(false)
				}
			}
		}
	}
	return s
}
