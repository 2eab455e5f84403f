package config

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestEmptyDocumentIsAValidRun(t *testing.T) {
	r, err := Parse(nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Validate(); err != nil {
		t.Fatalf("defaults do not validate: %v", err)
	}
	if r.CNI.Name != Cilium || r.CNI.Version != DefaultVersions[Cilium] || r.CNI.ChartSource != DefaultChartSources[Cilium] {
		t.Errorf("CNI defaults = %+v", r.CNI)
	}
	if r.BGP.RouterAddress != "10.80.0.254" {
		t.Errorf("router address defaults to %q, want the node CIDR's last host 10.80.0.254", r.BGP.RouterAddress)
	}
	if r.Name != "cilium-1-16-19" {
		t.Errorf("name = %q", r.Name)
	}
}

func TestParseKeepsDefaultsForAbsentFields(t *testing.T) {
	r, err := Parse([]byte("cni:\n  name: calico\nnetwork:\n  masquerade: false\nbgp:\n  enabled: true\n  routerASN: 64512\n"))
	if err != nil {
		t.Fatal(err)
	}
	if r.CNI.Version != "v3.29.7" || r.CNI.ChartSource != DefaultChartSources[Calico] {
		t.Errorf("calico defaults not derived: %+v", r.CNI)
	}
	if r.Network.BlockSize != 25 || r.Network.PodCIDR != "10.85.0.0/16" || r.Network.Masquerade {
		t.Errorf("network = %+v", r.Network)
	}
	if r.BGP.RouterASN != 64512 || r.BGP.NodeASN != 65001 {
		t.Errorf("bgp = %+v", r.BGP)
	}
	if err := r.Validate(); err != nil {
		t.Fatal(err)
	}
}

func TestOverridesApplyBeforeDerivedDefaults(t *testing.T) {
	r, err := Parse(nil, func(r *Run) { r.CNI.Name = Calico })
	if err != nil {
		t.Fatal(err)
	}
	if r.CNI.Version != DefaultVersions[Calico] {
		t.Errorf("version = %q, want calico's default", r.CNI.Version)
	}
}

func TestDecodeErrorsNameTheField(t *testing.T) {
	cases := map[string]struct{ doc, field string }{
		"unknown field": {"network:\n  podCidrs: 10.0.0.0/8\n", "network.podCidrs"},
		"wrong type":    {"network:\n  blockSize: big\n", "network.blockSize"},
		"not a run":     {"kind: Matrix\n", "kind"},
		"broken yaml":   {"network: [\n", "(document)"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := Parse([]byte(c.doc))
			if !slices.Contains(Fields(err), c.field) {
				t.Fatalf("error %v does not name %q", err, c.field)
			}
		})
	}
}

func TestValidationNamesTheField(t *testing.T) {
	cases := []struct {
		name  string
		edit  func(*Run)
		field string
		says  string
	}{
		{"pod overlaps node", func(r *Run) { r.Network.PodCIDR = "10.80.0.0/16" }, "network.podCIDR", "overlaps network.nodeCIDR"},
		{"pod overlaps service", func(r *Run) { r.Network.ServiceCIDR = "10.85.128.0/20" }, "network.podCIDR", "overlaps network.serviceCIDR"},
		{"node overlaps service", func(r *Run) { r.Network.NodeCIDR = "10.96.1.0/24"; r.BGP.RouterAddress = "10.96.1.254" }, "network.nodeCIDR", "overlaps network.serviceCIDR"},
		{"not a cidr", func(r *Run) { r.Network.PodCIDR = "10.85.0.0" }, "network.podCIDR", "not a CIDR"},
		{"ipv6", func(r *Run) { r.Network.PodCIDR = "fd00::/64" }, "network.podCIDR", "not IPv4"},
		{"host bits", func(r *Run) { r.Network.PodCIDR = "10.85.0.1/16" }, "network.podCIDR", "host bits"},
		{"block wider than pod cidr", func(r *Run) { r.Network.BlockSize = 12 }, "network.blockSize", "does not fit"},
		{"block longer than 32", func(r *Run) { r.Network.BlockSize = 33 }, "network.blockSize", "does not fit"},
		{"one block only", func(r *Run) { r.Network.BlockSize = 16 }, "network.blockSize", "fewer than 2 blocks"},
		{"too few addresses", func(r *Run) { r.Network.BlockSize = 30 }, "network.blockSize", "fewer than 8 addresses"},
		{"fewer blocks than nodes", func(r *Run) { r.Network.PodCIDR = "10.85.0.0/24"; r.Network.BlockSize = 26; r.Nodes.Hybrid = 5 }, "network.blockSize", "fewer than the 5 hybrid nodes"},
		{"asn zero", func(r *Run) { r.BGP.RouterASN = 0 }, "bgp.routerASN", "RFC 7607"},
		{"asn trans", func(r *Run) { r.BGP.NodeASN = 23456 }, "bgp.nodeASN", "AS_TRANS"},
		{"asn 65535", func(r *Run) { r.BGP.NodeASN = 65535 }, "bgp.nodeASN", "reserved"},
		{"asn max", func(r *Run) { r.BGP.RouterASN = 4294967295 }, "bgp.routerASN", "reserved"},
		{"asn negative", func(r *Run) { r.BGP.RouterASN = -1 }, "bgp.routerASN", "out of range"},
		{"asn too large", func(r *Run) { r.BGP.RouterASN = 1 << 33 }, "bgp.routerASN", "out of range"},
		{"router outside node cidr", func(r *Run) { r.BGP.RouterAddress = "192.0.2.1" }, "bgp.routerAddress", "outside the node CIDR"},
		{"router is network address", func(r *Run) { r.BGP.RouterAddress = "10.80.0.0" }, "bgp.routerAddress", "not a host address"},
		{"router not an address", func(r *Run) { r.BGP.RouterAddress = "router" }, "bgp.routerAddress", "not an IPv4 address"},
		{"masquerade off without bgp", func(r *Run) { r.Network.Masquerade = false }, "network.masquerade", "not be routable"},
		{"upgrade not newer", func(r *Run) { r.CNI.UpgradeTo = "1.16.18" }, "cni.upgradeTo", "not newer"},
		{"upgrade same", func(r *Run) { r.CNI.Version = "1.16.19"; r.CNI.UpgradeTo = "1.16.19" }, "cni.upgradeTo", "not newer"},
		{"upgrade garbage", func(r *Run) { r.CNI.UpgradeTo = "latest" }, "cni.upgradeTo", "not a version"},
		{"unknown cni", func(r *Run) { r.CNI.Name = "flannel" }, "cni.name", "unknown CNI"},
		{"bad version", func(r *Run) { r.CNI.Version = "one.sixteen" }, "cni.version", "not a version"},
		{"bad kubernetes version", func(r *Run) { r.Kubernetes.Version = "latest" }, "kubernetes.version", "not a version"},
		{"missing values file", func(r *Run) { r.CNI.ValuesFiles = []string{"/nonexistent/values.yaml"} }, "cni.valuesFiles[0]", "not a readable file"},
		{"no hybrid nodes", func(r *Run) { r.Nodes.Hybrid = 0 }, "nodes.hybrid", "is 0"},
		{"negative cloud nodes", func(r *Run) { r.Nodes.Cloud = -1 }, "nodes.cloud", "is -1"},
		{"too many nodes", func(r *Run) {
			r.Network.NodeCIDR = "10.80.0.0/29"
			r.BGP.RouterAddress = "10.80.0.6"
			r.Nodes.Hybrid = 4
		}, "network.nodeCIDR", "needs 8"},
		{"bad name", func(r *Run) { r.Name = "My Run" }, "name", "not a valid run name"},
		{"wrong apiVersion", func(r *Run) { r.APIVersion = "v1" }, "apiVersion", "want"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r, err := Parse(nil, Override(c.edit))
			if err != nil {
				t.Fatal(err)
			}
			err = r.Validate()
			if err == nil {
				t.Fatalf("validated, want a problem with %s", c.field)
			}
			e := err.(*Error)
			for _, p := range e.Problems {
				if p.Field == c.field && strings.Contains(p.Message, c.says) {
					if p.Fix == "" {
						t.Errorf("problem %q has no fix", p)
					}
					return
				}
			}
			t.Fatalf("no problem on %s saying %q in:\n%v", c.field, c.says, err)
		})
	}
}

func TestValidAlternatives(t *testing.T) {
	cases := map[string]func(*Run){
		"masquerade off with bgp":        func(r *Run) { r.Network.Masquerade = false; r.BGP.Enabled = true },
		"masquerade off allowed":         func(r *Run) { r.Network.Masquerade = false; r.Network.AllowUnroutablePods = true },
		"4-byte private asn":             func(r *Run) { r.BGP.NodeASN = 4200000001 },
		"block /29":                      func(r *Run) { r.Network.BlockSize = 29 },
		"upgrade to the next minor":      func(r *Run) { r.CNI.UpgradeTo = "1.17.18" },
		"calico v-prefixed upgrade":      func(r *Run) { r.CNI.Name = Calico; r.CNI.Version = "v3.29.6"; r.CNI.UpgradeTo = "v3.30.7" },
		"values file that exists":        func(r *Run) { r.CNI.ValuesFiles = []string{os.Args[0]} },
		"explicit router address in /24": func(r *Run) { r.BGP.RouterAddress = "10.80.0.2" },
	}
	for name, edit := range cases {
		t.Run(name, func(t *testing.T) {
			r, _ := Parse(nil, Override(edit))
			if err := r.Validate(); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestLoadNamesTheFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), "run.yaml")
	os.WriteFile(p, []byte("bgp:\n  routerAsn: 1\n"), 0o644)
	_, err := Load(p)
	if err == nil || !strings.Contains(err.Error(), p) || !strings.Contains(err.Error(), "routerAsn") {
		t.Fatalf("error %v should name the file and field", err)
	}
	if _, err := Load(filepath.Join(t.TempDir(), "missing.yaml")); !slices.Contains(Fields(err), "file") {
		t.Fatalf("missing file: %v", err)
	}
}

func TestMatrixExpandsEntriesOverBase(t *testing.T) {
	doc := `
apiVersion: hybridcni.dev/v1alpha1
kind: Matrix
base:
  network: {masquerade: false}
  bgp: {enabled: true}
entries:
- cni: {name: cilium, version: 1.16.18, upgradeTo: 1.17.18}
- cni: {name: calico, version: v3.29.6}
  bgp: {routerASN: 64600}
- cni: {name: calico, version: v3.29.6}
  network: {masquerade: true}
  name: calico-masq
`
	runs, err := ParseMatrix([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	if len(runs) != 3 {
		t.Fatalf("got %d runs", len(runs))
	}
	if runs[0].Name != "cilium-1-16-18-to-1-17-18-bgp-nomasq" || runs[0].Network.Masquerade || !runs[0].BGP.Enabled {
		t.Errorf("run 0 = %+v", runs[0])
	}
	if runs[1].BGP.RouterASN != 64600 || !runs[1].BGP.Enabled || runs[1].BGP.NodeASN != 65001 {
		t.Errorf("entry bgp must merge over base: %+v", runs[1].BGP)
	}
	if runs[2].Name != "calico-masq" || !runs[2].Network.Masquerade {
		t.Errorf("run 2 = %+v", runs[2])
	}
}

func TestMatrixProblemsNameTheEntry(t *testing.T) {
	cases := map[string]struct{ doc, field string }{
		"invalid entry":   {"kind: Matrix\nentries:\n- cni: {name: cilium}\n- bgp: {routerASN: 23456}\n", "entries[1].bgp.routerASN"},
		"duplicate names": {"kind: Matrix\nentries:\n- cni: {name: cilium}\n- cni: {name: cilium}\n", "entries[1].name"},
		"no entries":      {"kind: Matrix\n", "entries"},
		"wrong kind":      {"kind: Run\nentries: [{}]\n", "kind"},
		"unknown field":   {"kind: Matrix\nentry: []\n", "entry"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := ParseMatrix([]byte(c.doc))
			if !slices.Contains(Fields(err), c.field) {
				t.Fatalf("error %v does not name %s", err, c.field)
			}
		})
	}
}
