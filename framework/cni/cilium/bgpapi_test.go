package cilium

import (
	"os"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"github.com/hybridcni/hybridcni/framework/config"
)

// The table is what the modules' own CRDs serve, kind by kind.
func TestBGPAPIsMatchTheModulesCRDs(t *testing.T) {
	if len(ModuleVersions) != len(BGPAPIs) {
		t.Fatalf("%d module versions for %d table rows", len(ModuleVersions), len(BGPAPIs))
	}
	for i, version := range ModuleVersions {
		t.Run(version, func(t *testing.T) {
			row := BGPAPIs[i]
			if !strings.HasPrefix(version, row.Minor+".") {
				t.Fatalf("row %d is %s, module %s", i, row.Minor, version)
			}
			got := map[string]BGPServed{}
			for _, crd := range ModuleBGPCRDs(t, version) {
				kind, s := ServedOf(t, crd)
				got[kind] = s
			}
			for _, kind := range AllBGPKinds {
				want, inTable := row.Kinds[kind]
				have, inCRDs := got[kind]
				switch {
				case inTable != inCRDs:
					t.Errorf("%s: table serves it %v, the CRDs %v", kind, inTable, inCRDs)
				case !reflect.DeepEqual(want, have):
					t.Errorf("%s: table %+v, CRDs %+v", kind, want, have)
				}
			}
		})
	}
}

func TestBGPAPIVersionFor(t *testing.T) {
	for v, want := range map[string]string{
		"1.16.19": "cilium.io/v2alpha1", "1.17.0": "cilium.io/v2alpha1", "1.18.0": "cilium.io/v2",
		"1.19.6": "cilium.io/v2", "1.20.2": "cilium.io/v2", "1.21.0": "cilium.io/v2", "1.15.7": "cilium.io/v2alpha1",
		"not-a-version": DefaultBGPAPIVersion,
	} {
		if got := BGPAPIVersionFor(v); got != want {
			t.Errorf("BGPAPIVersionFor(%s) = %s, want %s", v, got, want)
		}
	}
}

// Across the offline chain: the stored version moves at 1.18, BGP v1 goes
// at 1.19, and hops that change nothing say nothing.
func TestUpgradeFindingsAcrossTheChain(t *testing.T) {
	cases := []struct {
		from, to string
		want     []string // substrings, one finding each, in order
	}{
		{"1.16.18", "1.16.19", nil},
		{"1.16.19", "1.17.0", nil},
		{"1.17.0", "1.18.0", []string{
			"stored as cilium.io/v2 from Cilium 1.18 (cilium.io/v2alpha1 until 1.17): the harness re-applies its BGP resources as cilium.io/v2 after the hop",
			"deprecated in Cilium 1.18 (still served): CiliumBGPClusterConfig cilium.io/v2alpha1",
		}},
		{"1.18.0", "1.19.6", []string{
			"CiliumBGPPeeringPolicy (BGP v1, cilium.io/v2alpha1) is not served by Cilium 1.19.6",
		}},
		{"1.19.6", "1.20.2", nil},
		{"1.20.2", "1.21.0", []string{"assumed from the table for 1.20 -> 1.20"}},
	}
	bgp := config.Default()
	bgp.BGP.Enabled = true
	for _, c := range cases {
		got := New().UpgradeFindings(bgp, c.from, c.to)
		if len(got) != len(c.want) {
			t.Errorf("%s -> %s: %d findings %q, want %d", c.from, c.to, len(got), got, len(c.want))
			continue
		}
		for i, w := range c.want {
			if !strings.Contains(got[i], w) {
				t.Errorf("%s -> %s finding %d:\n %s\nwant it to contain\n %s", c.from, c.to, i, got[i], w)
			}
		}
	}
	// Without BGP in the run, nothing of the harness's is re-applied.
	if got := New().UpgradeFindings(config.Default(), "1.17.0", "1.18.0"); len(got) != 1 || !strings.Contains(got[0], "deprecated in Cilium 1.18") {
		t.Errorf("1.17.0 -> 1.18.0 without BGP: %q", got)
	}
	// Skipping minors adds up: both the move and BGP v1's end.
	if got := UpgradeFindings("1.17.0", "1.19.6"); len(got) != 3 || !strings.Contains(got[0], "CiliumBGPPeeringPolicy") {
		t.Errorf("1.17.0 -> 1.19.6: %q", got)
	}
}

// The Makefile builds the versions the profile knows.
func TestOfflineVersionsMatchTheMakefile(t *testing.T) {
	data, err := os.ReadFile("../../../Makefile")
	if err != nil {
		t.Skipf("no Makefile beside the module: %v", err)
	}
	m := regexp.MustCompile(`(?m)^OFFLINE_CILIUM_VERSIONS \?= (.*)$`).FindSubmatch(data)
	if m == nil {
		t.Fatal("the Makefile sets no OFFLINE_CILIUM_VERSIONS")
	}
	if got := strings.Fields(string(m[1])); !reflect.DeepEqual(got, OfflineVersions) {
		t.Errorf("Makefile OFFLINE_CILIUM_VERSIONS %v, OfflineVersions %v", got, OfflineVersions)
	}
}

// The declared Kubernetes ranges are what each module's documentation lists.
func TestKubernetesTestedMatchesTheModulesDocs(t *testing.T) {
	for _, version := range OfflineVersions {
		t.Run(version, func(t *testing.T) {
			ModuleBGPCRDs(t, version) // skips without the module
			root := moduleDir(t, version)
			data, err := os.ReadFile(root + "/Documentation/network/kubernetes/requirements.rst")
			if err != nil {
				t.Fatal(err)
			}
			sec := string(data)
			if i := strings.Index(sec, "Kubernetes Version"); i >= 0 {
				sec = sec[i:]
			}
			if i := strings.Index(sec, "System Requirements"); i >= 0 {
				sec = sec[:i]
			}
			listed := regexp.MustCompile(`(?m)^\* (1\.\d+)\s*$`).FindAllStringSubmatch(sec, -1)
			if len(listed) == 0 {
				t.Fatal("no Kubernetes versions listed")
			}
			minor := version[:strings.LastIndex(version, ".")]
			want := KubernetesRange{listed[0][1], listed[len(listed)-1][1]}
			if got := KubernetesTested[minor]; got != want {
				t.Errorf("Cilium %s: declared %v, its docs list %v", minor, got, want)
			}
		})
	}
}

func TestKubernetesSupport(t *testing.T) {
	for _, c := range []struct {
		cilium, k8s string
		want        Support
	}{
		{"1.16.19", "1.30.14", Tested}, {"1.16.19", "1.37.2", Newer}, {"1.20.2", "1.33.13", Tested},
		{"1.20.2", "v1.32.13", Unsupported}, {"1.18.0", "1.33", Tested}, {"1.21.0", "1.37.2", SupportUnknown},
	} {
		if got, why := KubernetesSupport(c.cilium, c.k8s); got != c.want {
			t.Errorf("Cilium %s on Kubernetes %s: %v (%s), want %v", c.cilium, c.k8s, got, why, c.want)
		}
	}
}

// Without WithBGPAPIVersion the profile writes what the run's Cilium stores,
// so render shows what install applies on 1.18 and later too.
func TestBGPResourcesFollowTheRunsVersion(t *testing.T) {
	for v, want := range map[string]string{"1.16.19": "cilium.io/v2alpha1", "1.17.0": "cilium.io/v2alpha1", "1.18.0": "cilium.io/v2", "1.20.2": "cilium.io/v2"} {
		run := testRun()
		run.CNI.Version = v
		for _, o := range New().BGPResources(run) {
			if o.GetAPIVersion() != want {
				t.Errorf("Cilium %s: %s as %s, want %s", v, o.GetKind(), o.GetAPIVersion(), want)
			}
		}
		if got := New(WithBGPAPIVersion("cilium.io/v2alpha1")).BGPResources(run)[0].GetAPIVersion(); got != "cilium.io/v2alpha1" {
			t.Errorf("Cilium %s: WithBGPAPIVersion ignored (%s)", v, got)
		}
	}
}
